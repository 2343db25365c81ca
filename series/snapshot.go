package series

import (
	"context"
	"fmt"
	"time"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/models"
)

// SeriesState is one series as a snapshot keeps it: the canonical key, the
// engine's bookkeeping and a copy of the model.
type SeriesState struct {
	// Key is the canonical series key.
	Key string
	// LastTs is the last learned timestamp, Unix ms; math.MinInt64 before
	// the first learned point. Export sets it from the model; restore
	// takes the model's (it is kept for the snapshot format).
	LastTs int64
	// LastUpdate is the engine clock of the last accepted point, Unix ns
	// (idle eviction counts from it).
	LastUpdate int64
	// AnomalyID is the open anomaly, 0 when none.
	AnomalyID anomaly.ID
	// LastID is the anomaly id on the verdict of the last learned point.
	LastID anomaly.ID
	// NeedPoints is the points the model still needs before it judges
	// (Model.NeedPoints under the series' configuration). Export sets it;
	// restore derives it from the model (it is kept for the snapshot
	// format).
	NeedPoints int32
	// Model is the learned model.
	Model models.Model
}

// DefaultExportChunk is the number of series Export copies per shard lock.
const DefaultExportChunk = 64

// ExportStats reports on one Export.
type ExportStats struct {
	// Series is the number of series passed to fn.
	Series int
	// Chunks is the number of times a shard lock was taken.
	Chunks int
	// MaxPause is the longest time one shard's lock was held: ingest into
	// that shard (and its writes) waited at most this long at a time.
	MaxPause time.Duration
	// Locked is the total time shard locks were held.
	Locked time.Duration
	// Unhealthy is the number of series left out because their model
	// failed models.Model.Check (a state a snapshot could not hold); their
	// first keys, at most MaxUnhealthyKeys, are in UnhealthyKeys.
	Unhealthy     int
	UnhealthyKeys []string
}

// MaxUnhealthyKeys bounds ExportStats.UnhealthyKeys.
const MaxUnhealthyKeys = 10

// dropUnhealthy removes from buf, in place, the series whose model fails
// Check, counting them in st. It runs with no lock held.
func dropUnhealthy(buf []SeriesState, scratch *[]byte, st *ExportStats) []SeriesState {
	out := buf[:0]
	for i := range buf {
		var err error
		if *scratch, err = buf[i].Model.CheckWith(*scratch); err != nil {
			st.Unhealthy++
			if len(st.UnhealthyKeys) < MaxUnhealthyKeys {
				st.UnhealthyKeys = append(st.UnhealthyKeys, buf[i].Key)
			}
			continue
		}
		out = append(out, buf[i])
	}
	clear(buf[len(out):])
	return out
}

// Export calls fn with every live series whose model passes
// models.Model.Check (the others are counted in ExportStats.Unhealthy and
// left out, so that one damaged model never makes a snapshot unreadable),
// shard by shard, in chunks of at
// most chunk series (0 means DefaultExportChunk). It holds a shard's read
// lock only while it copies one chunk, so a shard goroutine waits for at
// most one chunk copy (ExportStats.MaxPause) and fn, which may be slow
// (writing to disk), runs with no lock held. The slice passed to fn is
// reused: it is valid only during the call.
//
// Each chunk is a consistent copy, but the whole is not a point-in-time
// view: points applied while Export runs are in the copy or not depending on
// whether their series' chunk was already copied, and a series evicted and
// created again meanwhile may be passed twice (Import keeps the last) or
// not at all. Export works after Close (on the final state). It stops at
// fn's first error or when ctx is done, and returns that error. Safe for
// concurrent use.
func (e *Engine) Export(ctx context.Context, chunk int, fn func([]SeriesState) error) (ExportStats, error) {
	if chunk <= 0 {
		chunk = DefaultExportChunk
	}
	var st ExportStats
	buf := make([]SeriesState, 0, chunk)
	var scratch []byte // dropUnhealthy's encodings
	for _, sh := range e.shards {
		for start := 0; ; start += chunk {
			if err := ctx.Err(); err != nil {
				return st, fmt.Errorf("series: export: %w", err)
			}
			buf = buf[:0]
			sh.mu.RLock()
			t0 := time.Now()
			n := int(sh.nslots)
			for i := start; i < min(start+chunk, n); i++ {
				if !sh.used(int32(i)) {
					continue
				}
				sl := sh.slot(int32(i))
				c, _ := sh.readCfg(int32(i))
				buf = append(buf, SeriesState{
					Key:        sh.keyCopy(int32(i)),
					LastTs:     sl.lastTs(),
					LastUpdate: sl.lastUpdate,
					AnomalyID:  sl.anomalyID,
					LastID:     sl.lastID,
					NeedPoints: int32(sl.model.NeedPoints(c)),
					Model:      sl.model,
				})
			}
			held := time.Since(t0)
			sh.mu.RUnlock()
			st.Chunks++
			st.Locked += held
			st.MaxPause = max(st.MaxPause, held)
			buf = dropUnhealthy(buf, &scratch, &st)
			if len(buf) > 0 {
				st.Series += len(buf)
				if err := fn(buf); err != nil {
					return st, err
				}
			}
			if start+chunk >= n {
				break
			}
		}
	}
	return st, nil
}

// ImportStats reports on one Import.
type ImportStats struct {
	// Added is the number of series created.
	Added int
	// Replaced is the number of series that were held already (or appeared
	// twice in the input) and were overwritten.
	Replaced int
	// Dropped is the number of states not imported: a key that is not
	// canonical under the engine's limits, or a shard at its series cap
	// (Import never evicts).
	Dropped int
}

// Import loads states into the engine, for restoring a snapshot before
// the engine serves. A state whose key the engine already holds replaces
// that series. Import takes each shard's lock once per call, and copies
// the keys into the engine's arena. It also makes sure anomaly ids handed
// out later are above every id in states (see ReserveAnomalyIDs). Series
// keep their last update time (SeriesState.LastUpdate), which orders their
// eviction. It fails with CodeUnavailable after Close. Safe for concurrent
// use.
func (e *Engine) Import(states []SeriesState) (ImportStats, error) {
	var st ImportStats
	e.closeMu.RLock()
	defer e.closeMu.RUnlock()
	if e.closed {
		return st, anomaly.Errorf(anomaly.CodeUnavailable, "series engine is shut down")
	}
	// Bucket the states by shard so that each lock is taken once.
	type placed struct {
		hash uint64
		i    int32
	}
	byShard := make([][]placed, len(e.shards))
	var maxID anomaly.ID
	for i := range states {
		s := &states[i]
		k, err := Parse(s.Key, e.limits)
		if err != nil || k.canonical != s.Key {
			st.Dropped++
			continue
		}
		n := len(e.shards)
		si := int(k.hash % uint64(n))
		byShard[si] = append(byShard[si], placed{k.hash, int32(i)})
		maxID = max(maxID, s.AnomalyID, s.LastID)
		if sp := e.ids.Load(); sp != nil {
			(*sp).Reserve(s.AnomalyID)
			(*sp).Reserve(s.LastID)
		}
	}
	for si, ps := range byShard {
		if len(ps) == 0 {
			continue
		}
		sh := e.shards[si]
		sh.lockAll() // readpath.go
		for _, p := range ps {
			switch sh.restore(p.hash, &states[p.i]) {
			case restoreAdded:
				st.Added++
			case restoreReplaced:
				st.Replaced++
			default:
				st.Dropped++
			}
		}
		sh.unlockAll()
	}
	e.ReserveAnomalyIDs(maxID)
	return st, nil
}

type restoreOutcome uint8

const (
	restoreDropped restoreOutcome = iota
	restoreAdded
	restoreReplaced
)

// restore puts s in the shard under hash h. Call with mu held for writing.
// It never evicts (an eviction would record timeline events, which only
// the shard goroutine may send).
func (sh *shard) restore(h uint64, s *SeriesState) restoreOutcome {
	idx, ok := sh.lookup(h, s.Key)
	out := restoreReplaced
	if !ok {
		if sh.capacity > 0 && int(sh.live.Load()) >= sh.capacity {
			return restoreDropped
		}
		idx = sh.newSlot()
		out = restoreAdded
	}
	sl := sh.slot(idx)
	kc, ko, kn := sl.keyChunk, sl.keyOff, sl.keyLen
	*sl = slot{
		hash:       h,
		lastUpdate: s.LastUpdate,
		anomalyID:  s.AnomalyID,
		lastID:     s.LastID,
		model:      s.Model,
	}
	if out == restoreAdded {
		sh.place(idx, h, s.Key)
	} else {
		sl.keyChunk, sl.keyOff, sl.keyLen = kc, ko, kn
	}
	return out
}

// LastAnomalyID returns the highest anomaly id handed out so far (0 when
// none). Safe for concurrent use.
func (e *Engine) LastAnomalyID() anomaly.ID { return anomaly.ID(e.nextID.Load()) }

// ReserveAnomalyIDs makes sure ids up to and including id are never handed
// out again (by the engine or NextAnomalyID), so that anomalies opened
// after a restore do not reuse the ids of restored ones. Safe for
// concurrent use.
func (e *Engine) ReserveAnomalyIDs(id anomaly.ID) {
	if s := e.ids.Load(); s != nil {
		(*s).Reserve(id)
	}
	for {
		cur := e.nextID.Load()
		if cur >= uint64(id) || e.nextID.CompareAndSwap(cur, uint64(id)) {
			return
		}
	}
}
