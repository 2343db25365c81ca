package series

import (
	"math"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/models"
)

// noTs marks a slot that has learned no point yet.
const noTs = math.MinInt64

// slot is the state of one live series. It holds no pointer, so that the
// garbage collector does not scan the slots slice (see the package doc);
// TestSlotIsPointerFree keeps it that way.
//
// The last learned timestamp and the points a learning series still needs
// are the model's (lastTs, needPoints), not kept twice.
type slot struct {
	hash       uint64
	lastUpdate int64      // engine clock (Unix ns) of the last accepted point
	anomalyID  anomaly.ID // the open anomaly, 0 when none
	lastID     anomaly.ID // anomaly id on the verdict of the last learned point
	// The canonical key in the shard's arena (arena.go); keyLen 0 marks a
	// free slot (a canonical key is never empty, and never longer than
	// MaxKeyLenBound).
	keyChunk, keyOff uint32
	keyLen           uint16
	noData           bool      // anomalyID is a no-data anomaly (nodata.go)
	rules            slotRules // the rules matched (rules.go)
	model            models.Model
}

// lastTs returns the slot's last learned timestamp (Unix ms), noTs before
// the first.
func (sl *slot) lastTs() int64 {
	if sl.model.Points() == 0 {
		return noTs
	}
	return sl.model.LastTs()
}

// klen returns the length of the slot's key.
func (sl *slot) klen() uint32 { return uint32(sl.keyLen) }

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
// hold mu for reading (single-series reads may hold pub and a stripe
// instead: readpath.go).
//
// Everything a shard keeps per series is pointer-free: the slot, its key
// bytes in the arena and its index entry. There is no heap
// object per series (see the package doc for the layout and the figures).
type shard struct {
	e        *Engine
	obs      Observed // the point handed to the observer (observe.go), written under mu
	id       int
	in       chan task
	capacity int // live series cap, 0 for none

	// index maps a series hash to its slot (index.go); the slot's hash and
	// key settle which of the entries with the same hash bits is the
	// series. Readers only probe it, under the read lock.
	mu      sync.RWMutex
	pub     sync.RWMutex // what readers read while apply holds mu (readpath.go)
	stripes stripes      // apply's per-point slot updates (readpath.go)
	index   index
	keys    keyArena // the canonical keys (arena.go)
	// Slots live in fixed-size chunks: growing never copies the live
	// state (a copy of a 300 MB slice would stall the shard and its
	// readers) and leaves at most one partly used chunk. The next chunk
	// is allocated and its pages touched ahead, off the shard goroutine
	// (spare), so that creating series does not stop at a page fault
	// every few slots.
	chunks    [][]slot
	nslots    int32 // slots handed out so far: chunks hold nslots used or free slots
	free      []int32
	spare     chan []slot // a chunk made ready ahead; at most one in the making
	spareBusy bool        // a chunk is in the making (guarded by mu)
	warmSink  uint64      // keeps warm's loads
	// hand is where the next eviction looks for the least recently
	// updated series (evictVictim).
	hand int32

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
		keys:     newKeyArena(),
		spare:    make(chan []slot, 1),
	}
	// The index starts small and doubles as series arrive: a growth
	// reads only the table, in order (each entry carries its hash bits,
	// no slot is read), so a small engine with a large cap does not hold
	// a table sized for the cap.
	sh.index = newIndex(0)
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
	var hints [warmAhead]int32 // the slot warm found for each item, -1 for none
	e.appliers.take()
	sh.mu.Lock()
	for i := range b.items {
		if i > 0 && i%applyYield == 0 {
			// Let the waiting readers in, and give up the core and the
			// apply turn (appliers.go) to whatever waits for them: a
			// verdict read waits for at most applyYield points, not for
			// the whole sub-batch.
			sh.mu.Unlock()
			e.appliers.give()
			if e.opts.ShardThread == nil {
				// A shard on a thread of its own (Options.ShardThread)
				// leaves the core to the kernel's priorities: Gosched
				// on a locked thread hands the P over twice, tens of µs.
				runtime.Gosched()
			}
			e.appliers.take()
			sh.mu.Lock()
		}
		if i%warmAhead == 0 {
			sh.warm(b.items[i:min(i+warmAhead, len(b.items))], &hints)
		}
		it := &b.items[i]
		o := &b.outs[i]
		idx, ok := sh.lookupHint(it.hash, it.key, hints[i%warmAhead])
		if !ok {
			idx = sh.create(it.hash, it.key)
		}
		sl := sh.slot(idx)
		st := sh.stripe(idx) // readpath.go
		st.Lock()
		var r models.Result
		c, b := cfg, (*models.Bounds)(nil)
		var bb models.Bounds
		if rs != nil {
			if sl.rules.gen != rs.gen {
				sl.rules = rs.match(sh.key(idx), sl.hash)
			}
			c = rs.config(&sl.rules, cfg)
			if rs.bounds(&sl.rules, &bb) {
				b = &bb
			}
		}
		switch last := sl.lastTs(); {
		case it.ts < last:
			o.code, o.lastTs = outOutOfOrder, last
			st.Unlock()
			continue
		case it.ts == last:
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
			sl.anomalyID = e.newAnomalyID(sh.key(idx))
			kind = anomaly.EventOpened
		case models.TransitionUpdated:
			if sl.anomalyID == 0 {
				sl.anomalyID = e.newAnomalyID(sh.key(idx))
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
			sl.lastID = id
			sh.learned(idx, it.ts, it.v, &r, id) // observe.go
		}
		o.set(&r, id)
		st.Unlock()
	}
	sh.mu.Unlock()
	e.appliers.give()
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
	key := sh.keyCopy(idx) // events outlive the slot
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

// warmAhead is the number of items apply reads ahead (warm): 128 slots,
// 80 KB, stay in the core's cache until the loop reaches them.
const warmAhead = 128

// warmProbe is the number of entries of a probe run warm looks at.
const warmProbe = 8

// warm brings into the cache what the apply loop will read for each item:
// its index entries, the slot they name (every cache line
// of it) and the key bytes. It goes over the items
// in passes, one per step of the chain index entry -> slot -> key, so that
// within a pass the loads of different items are independent and the
// processor overlaps many cache misses, where the lookups of the apply
// loop would wait for them one after the other (at a million series the
// table, the slot and the key of a series are each a miss). hints[j] is
// set to the slot of the first entry of item j's run with its hash bits,
// or -1: apply checks it as the first candidate (lookupHint) rather than
// probe again. Call with mu held.
func (sh *shard) warm(items []item, hints *[warmAhead]int32) {
	x := &sh.index
	mask := x.mask()
	var sink uint64
	// Pass 1: the index entries at the items' homes, and the items' own
	// key bytes (from the request).
	for j := range items {
		it := &items[j]
		sink += x.tab[x.home(x.mixed(it.hash))&mask]
		if n := len(it.key); n > 0 {
			sink += uint64(it.key[0]) + uint64(it.key[n-1])
		}
	}
	// Pass 2: the first entry of each item's probe run that carries its
	// hash bits (the run's first entries share the home's cache line),
	// and the slot it names.
	for j := range items {
		mh := x.mixed(items[j].hash)
		tag := mh >> 32
		hints[j] = -1
		var e uint64
		for i, n := x.home(mh), 0; n < warmProbe; i, n = (i+1)&mask, n+1 {
			if e = x.tab[i]; e == 0 || e>>32 == tag {
				break
			}
		}
		if e == 0 || e>>32 != tag {
			continue
		}
		idx := int32(uint32(e) - 1)
		hints[j] = idx
		sl := sh.slot(idx)
		p := unsafe.Pointer(sl)
		for off := uintptr(0); off < unsafe.Sizeof(slot{}); off += 64 {
			sink += uint64(*(*byte)(unsafe.Add(p, off)))
		}
		sink += uint64(*(*byte)(unsafe.Add(p, unsafe.Sizeof(slot{})-1)))
	}
	// Pass 3: the key bytes of those slots, first and last.
	for j := range items {
		idx := hints[j]
		if idx < 0 {
			continue
		}
		sl := sh.slot(idx)
		if n := sl.klen(); n > 0 {
			if c := sh.keys.chunks[sl.keyChunk]; int(sl.keyOff+n) <= len(c) {
				sink += uint64(c[sl.keyOff]) + uint64(c[sl.keyOff+n-1])
			}
		}
	}
	sh.warmSink = sink
}

// key returns the canonical key of slot idx, sharing the arena's bytes:
// for use under mu (compare, match, hand to an observer during the call).
// Anything that keeps the key takes keyCopy.
func (sh *shard) key(idx int32) string {
	sl := sh.slot(idx)
	return sh.keys.str(sl.keyChunk, sl.keyOff, sl.klen())
}

// keyCopy returns the canonical key of slot idx as a string of its own.
func (sh *shard) keyCopy(idx int32) string { return strings.Clone(sh.key(idx)) }

// used reports whether slot idx holds a series.
func (sh *shard) used(idx int32) bool { return sh.slot(idx).keyLen != 0 }

// lookup returns the slot of the series with hash h and canonical key key.
// Call with mu held.
func (sh *shard) lookup(h uint64, key string) (int32, bool) {
	return sh.index.probe(h, func(idx int32) bool {
		sl := sh.slot(idx)
		return sl.hash == h && sh.keys.str(sl.keyChunk, sl.keyOff, sl.klen()) == key
	})
}

// lookupHint is lookup that first tries slot hint (from warm; -1 for
// none): a series lives in one slot, so a slot that holds h and key is
// the series' slot whatever happened to the index since the hint was
// taken. Call with mu held.
func (sh *shard) lookupHint(h uint64, key string, hint int32) (int32, bool) {
	if hint >= 0 && hint < sh.nslots {
		if sl := sh.slot(hint); sl.hash == h && sl.klen() == uint32(len(key)) &&
			sh.keys.str(sl.keyChunk, sl.keyOff, sl.klen()) == key {
			return hint, true
		}
	}
	return sh.lookup(h, key)
}

// newSlot returns a free slot number, from the free list or a new one.
// Call with mu held for writing.
func (sh *shard) newSlot() int32 {
	if n := len(sh.free); n > 0 {
		idx := sh.free[n-1]
		sh.free = sh.free[:n-1]
		return idx
	}
	idx := sh.nslots
	if int(idx)>>chunkBits == len(sh.chunks) {
		sh.chunks = append(sh.chunks, sh.takeChunk())
	}
	sh.nslots++
	return idx
}

// takeChunk returns a chunk of zeroed slots, the one made ready ahead when
// it is there, and starts making the next one.
func (sh *shard) takeChunk() []slot {
	var c []slot
	select {
	case c = <-sh.spare:
		sh.spareBusy = false
	default:
	}
	if c == nil {
		c = newChunk()
	}
	if !sh.spareBusy {
		sh.spareBusy = true
		go func() { sh.spare <- prefault(newChunk()) }()
	}
	return c
}

// newChunk allocates a chunk of zeroed slots in memory marked for huge
// pages (hugepage_linux.go), before anything touches it, so that its
// first touches can take whole huge pages.
func newChunk() []slot {
	c := make([]slot, chunkSize)
	adviseHugePages(unsafe.Pointer(&c[0]), uintptr(len(c))*unsafe.Sizeof(slot{}))
	return c
}

// prefault writes one word of every page of c, so that the page faults of
// fresh memory are taken here rather than by the first series of each
// page.
func prefault(c []slot) []slot {
	const page = 4096
	step := max(1, page/int(unsafe.Sizeof(slot{})))
	for i := 0; i < len(c); i += step {
		c[i].lastUpdate = 0
	}
	return c
}

// create adds a series, evicting the least recently updated one when the
// shard is at its cap. The key is copied into the arena: the store never
// keeps a caller's buffer.
func (sh *shard) create(h uint64, key string) int32 {
	sh.pub.Lock() // readpath.go
	defer sh.pub.Unlock()
	if sh.capacity > 0 && int(sh.live.Load()) >= sh.capacity {
		if old, ok := sh.evictVictim(); ok {
			sh.evict(old, evictLRU)
		}
	}
	idx := sh.newSlot()
	// A slot from newSlot is zero (a new chunk, or cleared by evict):
	// set only what is not, rather than write 520 bytes of cold memory
	// twice.
	sl := sh.slot(idx)
	sl.hash = h
	sh.place(idx, h, key)
	sh.e.m.created.Inc()
	return idx
}

// place records a new series with hash h and key in slot idx, whose other
// fields are set: key bytes, index entry, live count.
func (sh *shard) place(idx int32, h uint64, key string) {
	sl := sh.slot(idx)
	sl.keyChunk, sl.keyOff = sh.keys.add(key)
	sl.keyLen = uint16(len(key)) // at most MaxKeyLenBound
	sh.index.insert(h, idx)
	sh.live.Add(1)
}

// evictWindow is the number of series an eviction compares: it evicts the
// least recently updated of the next evictWindow series after the hand
// (all of them when the shard holds fewer). This is CLOCK-style sampling
// of the update order kept in the slots (lastUpdate): it costs one cache
// line per candidate at creation time and nothing per point, where a
// linked list would cost two random writes on every point.
const evictWindow = 32

// evictVictim picks the series to evict for a new one. Call with mu held
// for writing.
func (sh *shard) evictVictim() (int32, bool) {
	n := sh.nslots
	if n == 0 {
		return 0, false
	}
	best, found := int32(0), false
	var bestTs int64
	seen := 0
	i := sh.hand
	for range n {
		if i >= n {
			i = 0
		}
		if sl := sh.slot(i); sl.keyLen != 0 {
			if !found || sl.lastUpdate < bestTs {
				best, bestTs, found = i, sl.lastUpdate, true
			}
			if seen++; seen == evictWindow {
				i++
				break
			}
		}
		i++
	}
	sh.hand = i
	return best, found
}

type evictCause uint8

const (
	evictLRU evictCause = iota
	evictIdle
)

// evict removes the series in slot idx. An open anomaly is resolved with
// the series' last verdict.
func (sh *shard) evict(idx int32, cause evictCause) {
	sl := sh.slot(idx)
	if sl.anomalyID != 0 {
		ts, v, r := sl.model.Last()
		sh.event(anomaly.EventResolved, sl.anomalyID, idx, ts, v, &r)
	}
	sh.remove(idx)
	switch cause {
	case evictLRU:
		sh.evictedLRU.Add(1)
		sh.e.m.evictLRU.Inc()
	case evictIdle:
		sh.evictedIdle.Add(1)
		sh.e.m.evictIdle.Inc()
	}
}

// remove forgets the series in slot idx (index entry, key, slot)
// and frees the slot, without an event or an eviction count: evict, and
// callers that move a series elsewhere, call it. Call with mu held for
// writing.
func (sh *shard) remove(idx int32) {
	sl := sh.slot(idx)
	sh.index.remove(sl.hash, idx)
	sh.keys.free(sl.keyChunk, sl.klen())
	*sl = slot{}
	sh.free = append(sh.free, idx)
	sh.live.Add(-1)
	if sh.keys.needsCompaction() {
		sh.compactKeys()
	}
}

// compactKeys moves the keys of sparse arena chunks (less than half live)
// to the tail, so that those chunks are released. It runs when the freed
// bytes exceed the live ones, so its cost (one pass over the slots and a
// copy of at most the live bytes) is spread over at least as many bytes of
// evicted keys. Call with mu held for writing.
func (sh *shard) compactKeys() {
	a := &sh.keys
	sparse := make([]bool, len(a.chunks))
	for c := range a.chunks {
		sparse[c] = a.sparse(uint32(c))
	}
	for i := range sh.nslots {
		sl := sh.slot(i)
		if sl.keyLen == 0 || int(sl.keyChunk) >= len(sparse) || !sparse[sl.keyChunk] {
			continue
		}
		old := a.str(sl.keyChunk, sl.keyOff, sl.klen())
		c, n := sl.keyChunk, sl.klen()
		sl.keyChunk, sl.keyOff = a.add(old)
		a.free(c, n) // releases c with its last key
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
	sh.lockAll() // readpath.go
	for i := range sh.nslots {
		if sl := sh.slot(i); sl.keyLen != 0 && sl.lastUpdate < cutoff {
			sh.evict(i, evictIdle)
			n++
		}
	}
	sh.unlockAll()
	sh.flushEvents()
	if n > 0 {
		e.log.Debug("evicted idle series", "shard", sh.id, "series", n)
	}
	return n
}

// find returns the slot of k. Call with mu held.
func (sh *shard) find(k Key) (int32, bool) {
	return sh.lookup(k.hash, k.canonical)
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
