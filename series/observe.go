package series

import (
	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/models"
)

// Observed is one scored point as the engine hands it to a PointObserver:
// the series' canonical key and hash, the point and its verdict, without
// building an anomaly.Verdict.
type Observed struct {
	Series                 string // canonical key; the engine's own string, do not modify
	Hash                   uint64
	TimestampMs            int64
	Value                  float64
	Expected, Lower, Upper float64
	Score                  float64
	State                  anomaly.State
	Detector               models.Detector
	AnomalyID              anomaly.ID
}

// PointObserver sees every learned point right after it is scored. Observe
// is called from the shard goroutines with the shard's lock held, so it must
// be safe for concurrent use, return in well under a microsecond for the
// common case and never call back into the engine.
type PointObserver interface {
	Observe(*Observed)
}

// SetObserver installs o (nil removes it). Call it before the first Ingest.
func (e *Engine) SetObserver(o PointObserver) { e.observer = o }

// observe hands one learned point to the observer.
func (sh *shard) observe(idx int32, ts int64, v float64, r *models.Result, id anomaly.ID) {
	o := Observed{
		Series: sh.keys[idx], Hash: sh.slot(idx).hash, TimestampMs: ts, Value: v,
		Expected: r.Expected, Lower: r.Lower, Upper: r.Upper, Score: r.Score,
		State: r.State, Detector: r.Detector, AnomalyID: id,
	}
	sh.e.observer.Observe(&o)
}
