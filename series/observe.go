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

// rankEntry is what a sorted listing needs of a slot, kept in dense
// chunks beside the slot chunks (shard.ranks) so that a scan of a million series reads 16 MB in
// order instead of a cache line of each 520-byte slot. hash 0: not set
// since the slot was created or restored.
type rankEntry struct {
	hash  uint64
	score float32
	state anomaly.State // anomalous while the series is in an open anomaly
}

// learned runs after slot idx learned a point: it updates the slot's rank
// and hands the point to the observer. Call with sh.mu held.
func (sh *shard) learned(idx int32, ts int64, v float64, r *models.Result, id anomaly.ID) {
	sl := sh.slot(idx)
	st := r.State
	if sl.anomalyID != 0 {
		st = anomaly.StateAnomalous
	}
	*sh.rankOf(idx) = rankEntry{hash: sl.hash, score: float32(anomaly.Finite(r.Score)), state: st}
	if sh.e.observer == nil {
		return
	}
	// One Observed per shard, reused: handed through an interface, a local
	// one would escape to the heap on every learned point.
	sh.obs = Observed{
		Series: sh.key(idx), Hash: sl.hash, TimestampMs: ts, Value: v,
		Expected: r.Expected, Lower: r.Lower, Upper: r.Upper, Score: r.Score,
		State: r.State, Detector: r.Detector, AnomalyID: id,
	}
	sh.e.observer.Observe(&sh.obs)
}

// rank returns the sort position of slot idx, from the dense array when it
// is current and from the slot otherwise. Call with sh.mu held.
func (sh *shard) rank(idx int32) sortKey {
	if re := *sh.rankOf(idx); re.hash != 0 {
		return sortKey{state: re.state, score: float64(re.score), hash: re.hash}
	}
	return sh.slotRank(idx)
}

// slotRank reads the sort position from the slot itself.
func (sh *shard) slotRank(idx int32) sortKey {
	sl := sh.slot(idx)
	_, _, r := sl.model.Last()
	st := r.State
	if sl.anomalyID != 0 {
		st = anomaly.StateAnomalous
	}
	return sortKey{state: st, score: float64(float32(anomaly.Finite(r.Score))), hash: sl.hash}
}
