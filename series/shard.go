package series

import (
	"fmt"
	"math"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/models"
)

// noTs marks a slot that has learned no point yet.
const noTs = math.MinInt64

// slot is the state of one live series. It holds no pointer, so that the
// garbage collector does not scan the slots slice (see the package doc);
// TestSlotIsPointerFree keeps it that way.
type slot struct {
	hash       uint64
	lastTs     int64      // last learned timestamp, Unix ms; noTs before the first
	lastUpdate int64      // engine clock (Unix ns) of the last accepted point
	anomalyID  anomaly.ID // the open anomaly, 0 when none
	lastID     anomaly.ID // anomaly id on the verdict of the last learned point
	needPoints int32      // NeedPoints of the verdict of the last learned point
	noData     bool       // anomalyID is a no-data anomaly (nodata.go)
	rules      slotRules  // the rules matched (rules.go)
	model      models.Model
}

// Slots are allocated chunkSize at a time.
const (
	chunkBits = 12
	chunkSize = 1 << chunkBits
)

// slot returns the slot number idx.
func (sh *shard) slot(idx int32) *slot {
	return &sh.chunks[idx>>chunkBits][idx&(chunkSize-1)]
}

// task is what a shard goroutine receives: a batch of points, or an idle
// sweep request whose count goes to sweep.
type task struct {
	sub        *subBatch
	sweep      chan<- int
	background bool    // a sweep from the background sweeper
	noData     float64 // > 0: a no-data sweep with this multiple of the step (nodata.go)
}

// shard owns a disjoint part of the series. Its goroutine (run) is the only
// writer; it holds mu for writing while it applies one task, and readers
// hold mu for reading.
type shard struct {
	e        *Engine
	id       int
	in       chan task
	capacity int // live series cap, 0 for none

	// The index maps a series hash to its slot. Without a series cap it is
	// index; with a cap it is lru, whose map doubles as the index so that a
	// point costs one lookup, not two (measured: the second lookup cost
	// about 15% of the shard path at 1e5 series). Readers use only
	// read-only operations (map reads, LRU Peek) under the read lock.
	mu    sync.RWMutex
	index map[uint64]int32
	lru   *simplelru.LRU[uint64, int32] // nil without a cap
	// Slots live in fixed-size chunks: growing never copies the live
	// state (a copy of a 300 MB slice would stall the shard and its
	// readers) and leaves at most one partly used chunk.
	chunks [][]slot
	keys   []string // canonical key per slot, "" for a free slot
	free   []int32

	ranks       []rankEntry     // state and score per slot for sorted listings (observe.go)
	events      []anomaly.Event // pending events, written under mu, sent after
	live        atomic.Int64
	evictedLRU  atomic.Uint64
	evictedIdle atomic.Uint64
	sweepQueued atomic.Bool // a background sweep is waiting in the queue
}

func newShard(e *Engine, id, depth, capacity int) (*shard, error) {
	sh := &shard{
		e:        e,
		id:       id,
		in:       make(chan task, depth),
		capacity: capacity,
	}
	if capacity > 0 {
		lru, err := simplelru.NewLRU[uint64, int32](capacity, nil)
		if err != nil {
			return nil, fmt.Errorf("series: shard %d: %w", id, err)
		}
		sh.lru = lru
	} else {
		sh.index = make(map[uint64]int32)
	}
	return sh, nil
}

// run serves the queue until it is closed and drained.
func (sh *shard) run() {
	for t := range sh.in {
		if t.sub != nil {
			sh.apply(t.sub)
			continue
		}
		if t.noData > 0 {
			n := sh.sweepNoData(t.noData)
			select {
			case t.sweep <- n:
			default:
			}
			continue
		}
		if t.background {
			sh.sweepQueued.Store(false)
		}
		n := sh.sweepIdle()
		select {
		case t.sweep <- n:
		default:
		}
	}
}

// applyYield is the number of points apply learns between releases of the
// write lock and of the core: about 0.3-0.8 ms of model updates on a slow
// core, while a 5,000-point request gives each of 2 shards 2,500 points.
// With the API's ingest admission (api/admission.go) it keeps verdict
// reads during full ingest near their idle latency.
const applyYield = 256

// apply learns and scores one sub-batch, then sends the events it caused and
// signals the request.
func (sh *shard) apply(b *subBatch) {
	e := sh.e
	cfg := &e.cfg
	rs := e.rules.Load()
	now := e.now().UnixNano()
	sh.mu.Lock()
	for i := range b.items {
		if i > 0 && i%applyYield == 0 {
			// Let the waiting readers in, and give up the core to
			// whatever waits for one: a verdict read waits for at most
			// applyYield points, not for the whole sub-batch.
			sh.mu.Unlock()
			runtime.Gosched()
			sh.mu.Lock()
		}
		it := &b.items[i]
		o := &b.outs[i]
		var idx int32
		var ok bool
		if sh.lru != nil {
			idx, ok = sh.lru.Get(it.hash) // and mark most recently updated
		} else {
			idx, ok = sh.index[it.hash]
		}
		if !ok {
			idx = sh.create(it.hash, it.key)
		} else if sh.keys[idx] != it.key {
			o.code = outCollision // never merge two series' models
			continue
		}
		sl := sh.slot(idx)
		var r models.Result
		c, b := cfg, (*models.Bounds)(nil)
		var bb models.Bounds
		if rs != nil {
			if sl.rules.gen != rs.gen {
				sl.rules = rs.match(sh.keys[idx], sl.hash)
			}
			c = rs.config(&sl.rules, cfg)
			if rs.bounds(&sl.rules, &bb) {
				b = &bb
			}
		}
		switch {
		case it.ts < sl.lastTs:
			o.code, o.lastTs = outOutOfOrder, sl.lastTs
			continue
		case it.ts == sl.lastTs:
			r = sl.model.PeekBounded(c, it.ts, it.v, b)
			r.Transition = models.TransitionNone
			o.code = outDuplicate
		default:
			r = sl.model.UpdateBounded(c, it.ts, it.v, b)
			o.code = outLearned
			if rs != nil {
				rs.setLimit(&sl.rules, it.v)
			}
		}
		sl.lastUpdate = now
		if sl.noData {
			sh.endNoData(idx, sl, it.ts, it.v, &r)
		}

		var kind anomaly.EventKind
		switch r.Transition {
		case models.TransitionOpened:
			if sl.anomalyID != 0 {
				// The model opened a new anomaly without resolving the
				// previous one: close the old entry first.
				sh.event(anomaly.EventResolved, sl.anomalyID, idx, it.ts, it.v, &r)
			}
			sl.anomalyID = anomaly.ID(e.nextID.Add(1))
			kind = anomaly.EventOpened
		case models.TransitionUpdated:
			if sl.anomalyID == 0 {
				sl.anomalyID = anomaly.ID(e.nextID.Add(1))
				kind = anomaly.EventOpened
			} else {
				kind = anomaly.EventUpdated
			}
		case models.TransitionResolved:
			if sl.anomalyID != 0 {
				kind = anomaly.EventResolved
			}
		}
		id := sl.anomalyID
		if kind != "" {
			sh.event(kind, id, idx, it.ts, it.v, &r)
		}
		if kind == anomaly.EventResolved {
			sl.anomalyID = 0
		}
		if r.Learned {
			sl.lastTs, sl.lastID, sl.needPoints = it.ts, id, int32(r.NeedPoints)
			sh.learned(idx, it.ts, it.v, &r, id) // observe.go
		}
		o.set(&r, id)
	}
	sh.mu.Unlock()
	sh.flushEvents()
	if b.req.pending.Add(-1) == 0 {
		b.req.done <- struct{}{}
	}
}

// event queues a timeline event for the series in slot idx.
func (sh *shard) event(kind anomaly.EventKind, id anomaly.ID, idx int32, ts int64, v float64, r *models.Result) {
	if sh.e.events == nil {
		return
	}
	key := sh.keys[idx]
	sh.events = append(sh.events, anomaly.Event{
		Kind:        kind,
		AnomalyID:   id,
		AnomalyKind: anomaly.KindPoint,
		Series:      key,
		At:          time.UnixMilli(ts).UTC(),
		Verdict:     verdict(key, ts, v, r, id),
	})
}

// flushEvents hands the queued events to the sink, outside the lock.
func (sh *shard) flushEvents() {
	if len(sh.events) == 0 {
		return
	}
	for i := range sh.events {
		sh.e.events.Record(sh.events[i])
	}
	clear(sh.events)
	sh.events = sh.events[:0]
}

// create adds a series, evicting the least recently updated one when the
// shard is at its cap. The key is copied so that the store never keeps a
// caller's buffer alive.
func (sh *shard) create(h uint64, key string) int32 {
	if sh.lru != nil && sh.lru.Len() >= sh.capacity {
		if _, old, ok := sh.lru.RemoveOldest(); ok {
			sh.evict(old, evictLRU)
		}
	}
	var idx int32
	if n := len(sh.free); n > 0 {
		idx = sh.free[n-1]
		sh.free = sh.free[:n-1]
	} else {
		idx = int32(len(sh.keys))
		if int(idx)>>chunkBits == len(sh.chunks) {
			sh.chunks = append(sh.chunks, make([]slot, chunkSize))
		}
		sh.keys = append(sh.keys, "")
	}
	*sh.slot(idx) = slot{hash: h, lastTs: noTs}
	sh.keys[idx] = strings.Clone(key)
	if sh.lru != nil {
		sh.lru.Add(h, idx)
	} else {
		sh.index[h] = idx
	}
	sh.live.Add(1)
	sh.e.m.created.Inc()
	return idx
}

type evictCause uint8

const (
	evictLRU evictCause = iota
	evictIdle
)

// evict removes the series in slot idx. An open anomaly is resolved with
// the series' last verdict. The caller has already removed the series from
// the LRU when the cause is evictLRU.
func (sh *shard) evict(idx int32, cause evictCause) {
	sl := sh.slot(idx)
	if sl.anomalyID != 0 {
		ts, v, r := sl.model.Last()
		sh.event(anomaly.EventResolved, sl.anomalyID, idx, ts, v, &r)
	}
	if sh.lru == nil {
		delete(sh.index, sl.hash)
	} else if cause != evictLRU {
		sh.lru.Remove(sl.hash)
	}
	*sl = slot{}
	sh.keys[idx] = ""
	sh.free = append(sh.free, idx)
	sh.live.Add(-1)
	switch cause {
	case evictLRU:
		sh.evictedLRU.Add(1)
		sh.e.m.evictLRU.Inc()
	case evictIdle:
		sh.evictedIdle.Add(1)
		sh.e.m.evictIdle.Inc()
	}
}

// sweepIdle evicts the series idle for longer than the idle timeout.
func (sh *shard) sweepIdle() int {
	e := sh.e
	if e.opts.IdleTimeout <= 0 {
		return 0
	}
	cutoff := e.now().Add(-e.opts.IdleTimeout).UnixNano()
	n := 0
	sh.mu.Lock()
	for i := range sh.keys {
		if sh.keys[i] != "" && sh.slot(int32(i)).lastUpdate < cutoff {
			sh.evict(int32(i), evictIdle)
			n++
		}
	}
	sh.mu.Unlock()
	sh.flushEvents()
	if n > 0 {
		e.log.Debug("evicted idle series", "shard", sh.id, "series", n)
	}
	return n
}

// find returns the slot of k, checking the stored key so that a hash
// collision reads as "not found" rather than another series. Call with mu
// held.
func (sh *shard) find(k Key) (int32, bool) {
	var idx int32
	var ok bool
	if sh.lru != nil {
		idx, ok = sh.lru.Peek(k.hash)
	} else {
		idx, ok = sh.index[k.hash]
	}
	if !ok || sh.keys[idx] != k.canonical {
		return 0, false
	}
	return idx, true
}

// verdict builds the verdict of one point, the one constructor of a
// verdict in the engine (ingest answers, events, latest, what-if). The
// detector is "" unless the point is anomalous; every float is finite.
func verdict(series string, ts int64, v float64, r *models.Result, id anomaly.ID) anomaly.Verdict {
	vd := anomaly.Verdict{
		Series:     series,
		Timestamp:  time.UnixMilli(ts).UTC(),
		Value:      anomaly.Finite(v),
		Expected:   anomaly.Finite(r.Expected),
		Lower:      anomaly.Finite(r.Lower),
		Upper:      anomaly.Finite(r.Upper),
		Score:      anomaly.Finite(r.Score),
		Z:          anomaly.Finite(r.Z),
		State:      r.State,
		AnomalyID:  id,
		NeedPoints: r.NeedPoints,
	}
	if r.State == anomaly.StateAnomalous {
		vd.Detector = r.Detector.String()
	}
	return vd
}
