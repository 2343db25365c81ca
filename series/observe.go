package series

import (
	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/models"
)

// Observed is one scored point as the engine hands it to a PointObserver:
// the series' canonical key and hash, the point and its verdict, without
// building an anomaly.Verdict.
type Observed struct {
	// Series is the canonical key. It shares the engine's bytes and is
	// valid only during Observe: copy it (strings.Clone) to keep it.
	Series                 string
	Hash                   uint64
	TimestampMs            int64
	Value                  float64
	Expected, Lower, Upper float64
	Score                  float64
	State                  anomaly.State
	Detector               models.Detector
	AnomalyID              anomaly.ID
}

// PointObserver sees every learned point right after it is scored. The
// *Observed is the engine's and is reused for the next point: Observe must
// not keep it (copy what it needs). Observe is called from the shard goroutines with the shard's lock held, so it must
// be safe for concurrent use, return in well under a microsecond for the
// common case and never call back into the engine.
type PointObserver interface {
	Observe(*Observed)
}

// SetObserver installs o (nil removes it). Call it before the first Ingest.
func (e *Engine) SetObserver(o PointObserver) { e.observer = o }

// learned runs after slot idx learned a point: it hands the point to the
// observer. Call with sh.mu held.
func (sh *shard) learned(idx int32, ts int64, v float64, r *models.Result, id anomaly.ID) {
	if sh.e.observer == nil {
		return
	}
	sl := sh.slot(idx)
	// One Observed per shard, reused: handed through an interface, a local
	// one would escape to the heap on every learned point.
	sh.obs = Observed{
		Series: sh.key(idx), Hash: sl.hash, TimestampMs: ts, Value: v,
		Expected: r.Expected, Lower: r.Lower, Upper: r.Upper, Score: r.Score,
		State: r.State, Detector: r.Detector, AnomalyID: id,
	}
	sh.e.observer.Observe(&sh.obs)
}

// rank returns the sort position of slot idx, read from the slot: the
// last verdict's state and score (anomalous while an anomaly is open).
//
// There is no dense copy of it beside the slots for listings to scan:
// keeping one current cost ingest a write to one more random page per
// point, about 12% of the engine's CPU at a million series, for a sorted
// listing's scan that reads two cache lines of each slot instead of 16
// bytes (series/sorted.go).
func (sh *shard) rank(idx int32) sortKey {
	sl := sh.slot(idx)
	_, _, r := sl.model.Last()
	st := r.State
	if sl.anomalyID != 0 {
		st = anomaly.StateAnomalous
	}
	return sortKey{state: st, score: float64(float32(anomaly.Finite(r.Score))), hash: sl.hash}
}
