package history

import (
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/models"
	"github.com/anomalyd/detector/series"
)

// Defaults of Config.
const (
	DefaultBytes  = 64 << 20
	DefaultPoints = 720
	stripes       = 64
	// ringOverhead is the fixed cost of one ring besides its entries and
	// key: the ring struct, its LRU list element and map entry.
	ringOverhead = 200
)

// Config sizes a Store. Zero fields take the defaults.
type Config struct {
	// Bytes is the memory budget of all rings together. Default 64 MiB.
	Bytes int64
	// Points is the most points kept per series (the oldest go first).
	// Default 720: a day at 2-minute steps, 2.5 days at 5-minute steps.
	Points int
}

// entry is one point; 40 bytes.
type entry struct {
	ts                            int64
	value                         float64
	expected, lower, upper, score float32
	anomalyID                     uint32 // low bits of the id; 0 none
	state                         anomaly.State
	detector                      models.Detector
}

// EntrySize is the size of one kept point in bytes.
const EntrySize = int(unsafe.Sizeof(entry{}))

type ring struct {
	key   string
	buf   []entry
	start int // index of the oldest entry once buf is full
	full  bool
	hiID  uint64 // high bits of the anomaly ids, shared by the ring
}

// cost is what a ring is charged: its full capacity from the start (the
// buffer grows lazily, so real memory is at most this), so that a ring
// growing never pushes another out, and a full store stops admitting normal
// series instead of cycling through them.
func (s *Store) cost(r *ring) int64 { return s.costOf(len(r.key)) }

// costOf is the cost of a ring whose key is keyLen bytes long.
func (s *Store) costOf(keyLen int) int64 {
	return int64(s.cfg.Points*EntrySize + keyLen + ringOverhead)
}

func (r *ring) push(e entry, limit int) {
	if r.full {
		r.buf[r.start] = e
		r.start = (r.start + 1) % len(r.buf)
		return
	}
	if len(r.buf) == cap(r.buf) && cap(r.buf) < limit {
		n := min(limit, max(16, 2*cap(r.buf)))
		nb := make([]entry, len(r.buf), n)
		copy(nb, r.buf)
		r.buf = nb
	}
	r.buf = append(r.buf, e)
	if len(r.buf) == limit {
		r.full = true
	}
}

type stripe struct {
	mu  sync.Mutex
	lru *simplelru.LRU[uint64, *ring]
	// bytes is this stripe's share of the accounted memory.
	bytes int64
	// room is the budget less bytes, and seen the hashes of the rings
	// (filter.go): both read without mu.
	room atomic.Int64
	seen seenFilter
}

// account adds delta to st's bytes. Call with st.mu held.
func (s *Store) account(st *stripe, delta int64) {
	st.bytes += delta
	st.room.Store(s.budget - st.bytes)
	s.total.Add(delta)
}

// Store keeps rings of recent points within a memory budget.
type Store struct {
	cfg     Config
	budget  int64 // per stripe
	stripes [stripes]stripe
	total   atomic.Int64
	evicted atomic.Uint64
}

// New returns an empty store.
func New(cfg Config) *Store {
	if cfg.Bytes <= 0 {
		cfg.Bytes = DefaultBytes
	}
	if cfg.Points <= 0 {
		cfg.Points = DefaultPoints
	}
	s := &Store{cfg: cfg, budget: max(cfg.Bytes/stripes, 1)}
	for i := range s.stripes {
		// Size is not the bound (bytes are); the LRU only orders.
		s.stripes[i].lru, _ = simplelru.NewLRU[uint64, *ring](math.MaxInt32, nil)
		s.stripes[i].room.Store(s.budget)
	}
	return s
}

func (s *Store) stripe(h uint64) *stripe { return &s.stripes[h>>58] }

// Observe records one learned point; see the package doc for which series
// are kept. It implements series.PointObserver.
func (s *Store) Observe(o *series.Observed) {
	st := s.stripe(o.Hash)
	useful := o.State == anomaly.StateAnomalous || o.AnomalyID != 0
	if !useful && !st.seen.has(o.Hash) && st.room.Load() < s.costOf(len(o.Series)) {
		return // no ring, and no room for one: what the locked path decides too
	}
	st.mu.Lock()
	var r *ring
	var ok bool
	if useful {
		r, ok = st.lru.Get(o.Hash)
	} else {
		r, ok = st.lru.Peek(o.Hash)
	}
	if ok && r.key != o.Series { // hash collision: the newer series wins
		s.remove(st, o.Hash, r)
		ok = false
	}
	if !ok {
		// A full store refuses a normal series before anything is
		// allocated for it: at scale that is most points.
		c := s.costOf(len(o.Series))
		if !useful && st.bytes+c > s.budget {
			st.mu.Unlock()
			return
		}
		r = &ring{key: strings.Clone(o.Series)} // o.Series is the engine's, valid during the call
		st.lru.Add(o.Hash, r)
		st.seen.add(o.Hash)
		s.account(st, c)
		s.shrink(st, r)
	}
	if o.AnomalyID != 0 {
		r.hiID = uint64(o.AnomalyID) >> 32
	}
	r.push(entry{
		ts: o.TimestampMs, value: o.Value,
		expected: f32(o.Expected), lower: f32(o.Lower), upper: f32(o.Upper), score: f32(o.Score),
		anomalyID: uint32(o.AnomalyID), state: o.State, detector: o.Detector,
	}, s.cfg.Points)
	st.mu.Unlock()
}

// shrink evicts least recently useful rings of st, but never keep, until
// the stripe is within its budget. Call with st.mu held.
func (s *Store) shrink(st *stripe, keep *ring) {
	for st.bytes > s.budget {
		h, r, ok := st.lru.GetOldest()
		if !ok || r == keep {
			return
		}
		s.remove(st, h, r)
		s.evicted.Add(1)
	}
}

// remove drops ring r of hash h from st. Call with st.mu held.
func (s *Store) remove(st *stripe, h uint64, r *ring) {
	st.lru.Remove(h)
	st.rebuildFilter()
	s.account(st, -s.cost(r))
}

func f32(v float64) float32 {
	f := float32(v)
	if math.IsInf(float64(f), 0) || math.IsNaN(float64(f)) {
		if v > 0 {
			return math.MaxFloat32
		}
		if v < 0 {
			return -math.MaxFloat32
		}
		return 0
	}
	return f
}

// Watch makes sure the series has a ring from now on (a reader looked at
// it), moving it to the front of the LRU; it returns the points kept so
// far, oldest first, with timestamps in [sinceMs, untilMs] (0: no bound).
// canonical must be the canonical key and hash its series hash.
func (s *Store) Watch(canonical string, hash uint64, sinceMs, untilMs int64) []anomaly.HistoryPoint {
	st := s.stripe(hash)
	st.mu.Lock()
	defer st.mu.Unlock()
	r, ok := st.lru.Get(hash)
	if ok && r.key != canonical {
		s.remove(st, hash, r)
		ok = false
	}
	if !ok {
		r = &ring{key: canonical}
		st.lru.Add(hash, r)
		st.seen.add(hash)
		s.account(st, s.cost(r))
		s.shrink(st, r)
		return []anomaly.HistoryPoint{}
	}
	out := make([]anomaly.HistoryPoint, 0, len(r.buf))
	n := len(r.buf)
	for i := range n {
		e := &r.buf[(r.start+i)%n]
		if (sinceMs != 0 && e.ts < sinceMs) || (untilMs != 0 && e.ts > untilMs) {
			continue
		}
		p := anomaly.HistoryPoint{
			Timestamp: time.UnixMilli(e.ts).UTC(), Value: e.value,
			Expected: float64(e.expected), Lower: float64(e.lower), Upper: float64(e.upper), Score: float64(e.score),
			State: e.state,
		}
		if e.state == anomaly.StateAnomalous {
			p.Detector = e.detector.String()
		}
		if e.anomalyID != 0 {
			p.AnomalyID = anomaly.ID(r.hiID<<32 | uint64(e.anomalyID))
		}
		out = append(out, p)
	}
	return out
}

// Stats describes the store.
type Stats struct {
	Series  int    `json:"series"`
	Bytes   int64  `json:"bytes"`
	Budget  int64  `json:"budget_bytes"`
	Points  int    `json:"points_per_series"`
	Evicted uint64 `json:"evicted"`
}

// Stats returns the store's current size.
func (s *Store) Stats() Stats {
	n := 0
	for i := range s.stripes {
		st := &s.stripes[i]
		st.mu.Lock()
		n += st.lru.Len()
		st.mu.Unlock()
	}
	return Stats{Series: n, Bytes: s.total.Load(), Budget: s.cfg.Bytes, Points: s.cfg.Points, Evicted: s.evicted.Load()}
}
