package series

import (
	"math/bits"
	"math/rand/v2"
	"unsafe"
)

// index is a shard's series index: an open-addressing hash table (linear
// probing, backward-shift deletion, no tombstones) from series hash to slot
// number. Each entry is one uint64: the top 32 bits of the series hash and
// the slot number plus one (0 is an empty entry). The table holds no
// pointer, and a probe compares the stored hash bits before it touches a
// slot, so a lookup reads one table cache line and then the slot it needs;
// growing and deleting never read a slot. The caller checks the full hash
// and the key in the slot (see shard.find), which resolves hash collisions:
// two series with the same hash are two entries, found in probe order.
//
// Positions and stored bits come from the series hash mixed with a random
// seed per index (mixed): a bijection, so equal mixed values mean equal
// hashes, and its top bits do not depend on the low bits that pick the
// shard (hash % shards). Because the seed is secret, a client cannot mine
// keys whose hashes share a home position (the series hash, xxhash64, is
// not keyed) to build long probe runs.
//
// Not safe for concurrent use; the shard writes it under its lock.
type index struct {
	tab   []uint64
	seed  uint64
	shift uint8 // 64 - log2(len(tab))
	n     int   // entries
}

const minIndexBits = 10

// newIndex returns an index sized for want entries at most 3/4 full, with
// at least 2^minIndexBits entries.
func newIndex(want int) index {
	b := minIndexBits
	if want > 0 {
		b = max(b, bits.Len(uint(want*4/3)))
	}
	b = min(b, 32)
	return index{tab: newTable(1 << b), seed: rand.Uint64(), shift: uint8(64 - b)}
}

// mixed returns the seeded mix of hash h (xor, then Fibonacci hashing:
// multiplication by an odd constant, which is invertible).
func (x *index) mixed(h uint64) uint64 { return (h ^ x.seed) * 0x9e3779b97f4a7c15 }

// home returns the home position of a mixed hash or of an entry (whose
// top 32 bits are the mixed hash's).
func (x *index) home(m uint64) int { return int(m >> x.shift) }

func (x *index) mask() int { return len(x.tab) - 1 }

// entry is the table entry of slot idx under mixed hash m.
func entry(m uint64, idx int32) uint64 { return m>>32<<32 | uint64(uint32(idx)+1) }

// probe calls match with each slot whose entry carries h's top 32 bits, in
// probe order from h's home, until match returns true (then probe returns
// that slot, true) or an empty entry ends the run (-1, false).
func (x *index) probe(h uint64, match func(int32) bool) (int32, bool) {
	mh := x.mixed(h)
	tag := mh >> 32
	m := x.mask()
	for i := x.home(mh); ; i = (i + 1) & m {
		e := x.tab[i]
		if e == 0 {
			return -1, false
		}
		if e>>32 == tag {
			if idx := int32(uint32(e) - 1); match(idx) {
				return idx, true
			}
		}
	}
}

// insert adds slot idx under hash h. The caller has checked that the
// series is not in the index.
func (x *index) insert(h uint64, idx int32) {
	if (x.n+1)*4 > len(x.tab)*3 {
		x.grow()
	}
	x.put(entry(x.mixed(h), idx))
	x.n++
}

func (x *index) put(e uint64) {
	m := x.mask()
	i := x.home(e)
	for x.tab[i] != 0 {
		i = (i + 1) & m
	}
	x.tab[i] = e
}

// newTable allocates a table of n entries, in huge pages when it spans
// several (hugepage_linux.go): its lookups land at random.
func newTable(n int) []uint64 {
	t := make([]uint64, n)
	if n*8 >= 4*hugePageSize {
		adviseHugePages(unsafe.Pointer(&t[0]), uintptr(n)*8)
	}
	return t
}

// grow doubles the table, placing the entries again from their own bits.
func (x *index) grow() {
	old := x.tab
	x.tab = newTable(2 * len(old))
	x.shift--
	for _, e := range old {
		if e != 0 {
			x.put(e)
		}
	}
}

// remove deletes slot idx, held under hash h, and shifts the entries of its
// run back so that no probe run is broken. It reports whether the entry was
// there.
func (x *index) remove(h uint64, idx int32) bool {
	mh := x.mixed(h)
	want := entry(mh, idx)
	m := x.mask()
	i := x.home(mh)
	for x.tab[i] != want {
		if x.tab[i] == 0 {
			return false
		}
		i = (i + 1) & m
	}
	// Backward shift: move each later entry of the run whose home is not
	// cyclically in (i, j] into the hole.
	for j := (i + 1) & m; x.tab[j] != 0; j = (j + 1) & m {
		home := x.home(x.tab[j])
		if (j-home)&m >= (j-i)&m {
			x.tab[i] = x.tab[j]
			i = j
		}
	}
	x.tab[i] = 0
	x.n--
	return true
}

// bytes returns the table's size in bytes.
func (x *index) bytes() int { return 8 * len(x.tab) }
