package peers

import (
	"math"
	"sync"
)

// negCacheMax bounds the per-shard cache of series that match no rule;
// when full it is cleared (and refilled by the next samples).
const negCacheMax = 1 << 16

// empty marks a ring that holds no value yet.
const empty = math.MinInt64

// shard holds the windows of the series whose raw text hashes to it. One
// mutex guards everything in it; Observe takes it once per batch and
// shard, Evaluate once per member read. All state is in pointer-free
// slices and maps of integers, so the garbage collector does not scan it
// (the slabs map holds a handful of pointers, one per rule).
type shard struct {
	mu       sync.Mutex
	index    map[uint64]int32  // series hash -> entry
	neg      map[uint64]uint32 // series hash -> generation at which it matched no rule
	entries  []entry
	freeEnt  []int32
	links    []link
	freeLink []int32
	slabs    map[uint32]*slab // rule id -> its windows in this shard
}

// entry is a tracked series: the rule generation it was last matched
// against and its list of links (one per matching rule).
type entry struct {
	hash uint64
	gen  uint32
	link int32 // first link, -1 for none
}

// link ties a series to one rule's window (a ring in that rule's slab).
type link struct {
	rule uint32
	ring int32
	next int32
}

// slab holds the rings of one rule in one shard: width = window + 1
// float32 slots per ring (one more than the window, so the window that
// ends at the last complete step survives the first sample of the next
// step) and the newest step bucket each ring has seen.
type slab struct {
	width  int
	stepMs int64
	vals   []float32
	last   []int64
	free   []int32
}

func newShard() *shard {
	return &shard{index: map[uint64]int32{}, neg: map[uint64]uint32{}, slabs: map[uint32]*slab{}}
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func (s *slab) slot(bucket int64) int {
	m := bucket % int64(s.width)
	if m < 0 {
		m += int64(s.width)
	}
	return int(m)
}

// alloc returns a fresh ring with every slot empty.
func (s *slab) alloc() int32 {
	var r int32
	if n := len(s.free); n > 0 {
		r = s.free[n-1]
		s.free = s.free[:n-1]
	} else {
		r = int32(len(s.last))
		s.last = append(s.last, empty)
		for range s.width {
			s.vals = append(s.vals, float32(math.NaN()))
		}
	}
	s.last[r] = empty
	return r
}

func (s *slab) release(r int32) {
	s.last[r] = empty
	s.free = append(s.free, r)
}

// put stores v as the value of the step bucket holding tsMs, the last
// value of a bucket winning. It reports false when the bucket is older
// than the ring's span (dropped). Values outside float32's range are
// clamped to it.
func (s *slab) put(r int32, tsMs int64, v float64) bool {
	b := floorDiv(tsMs, s.stepMs)
	base := int(r) * s.width
	ring := s.vals[base : base+s.width]
	last := s.last[r]
	switch {
	case last == empty || b-last >= int64(s.width):
		for i := range ring {
			ring[i] = float32(math.NaN())
		}
		s.last[r] = b
	case b > last:
		for x := last + 1; x < b; x++ {
			ring[s.slot(x)] = float32(math.NaN())
		}
		s.last[r] = b
	case b <= last-int64(s.width):
		return false
	}
	f := float32(v)
	if math.IsInf(float64(f), 0) {
		f = float32(math.Copysign(math.MaxFloat32, v))
	}
	ring[s.slot(b)] = f
	return true
}

// read writes to dst (len w) the values of the buckets from..from+w-1, NaN
// where the ring has none, and returns the ring's newest bucket (empty when
// it has none).
func (s *slab) read(r int32, from int64, dst []float64) int64 {
	last := s.last[r]
	base := int(r) * s.width
	ring := s.vals[base : base+s.width]
	for i := range dst {
		b := from + int64(i)
		if last == empty || b > last || b <= last-int64(s.width) {
			dst[i] = math.NaN()
			continue
		}
		dst[i] = float64(ring[s.slot(b)])
	}
	return last
}

func (sh *shard) newLink(rule uint32, ring, next int32) int32 {
	l := link{rule: rule, ring: ring, next: next}
	if n := len(sh.freeLink); n > 0 {
		i := sh.freeLink[n-1]
		sh.freeLink = sh.freeLink[:n-1]
		sh.links[i] = l
		return i
	}
	sh.links = append(sh.links, l)
	return int32(len(sh.links) - 1)
}

func (sh *shard) newEntry(h uint64, gen uint32) int32 {
	e := entry{hash: h, gen: gen, link: -1}
	var i int32
	if n := len(sh.freeEnt); n > 0 {
		i = sh.freeEnt[n-1]
		sh.freeEnt = sh.freeEnt[:n-1]
		sh.entries[i] = e
	} else {
		sh.entries = append(sh.entries, e)
		i = int32(len(sh.entries) - 1)
	}
	sh.index[h] = i
	return i
}

// hasLink reports whether entry e already links rule.
func (sh *shard) hasLink(e int32, rule uint32) bool {
	for l := sh.entries[e].link; l >= 0; l = sh.links[l].next {
		if sh.links[l].rule == rule {
			return true
		}
	}
	return false
}

// unlink removes the links of entry e for which drop returns true,
// releasing their rings when release is set, and frees the entry when it
// has no link left. It returns the number of links removed.
func (sh *shard) unlink(e int32, drop func(link) bool, release bool) int {
	removed := 0
	prev := int32(-1)
	for l := sh.entries[e].link; l >= 0; {
		ln := sh.links[l]
		next := ln.next
		if drop(ln) {
			if release {
				if sl := sh.slabs[ln.rule]; sl != nil {
					sl.release(ln.ring)
				}
			}
			if prev < 0 {
				sh.entries[e].link = next
			} else {
				sh.links[prev].next = next
			}
			sh.freeLink = append(sh.freeLink, l)
			removed++
		} else {
			prev = l
		}
		l = next
	}
	if sh.entries[e].link < 0 {
		delete(sh.index, sh.entries[e].hash)
		sh.entries[e] = entry{link: -1}
		sh.freeEnt = append(sh.freeEnt, e)
	}
	return removed
}
