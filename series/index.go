package series

import "math/bits"

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
// The home position of a hash is its top bits, independent of the low bits
// that pick the shard (hash % shards).
//
// Not safe for concurrent use; the shard writes it under its lock.
type index struct {
	tab   []uint64
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
	return index{tab: make([]uint64, 1<<b), shift: uint8(64 - b)}
}

func (x *index) home(h uint64) int { return int(h >> x.shift) }

func (x *index) mask() int { return len(x.tab) - 1 }

func entry(h uint64, idx int32) uint64 { return h>>32<<32 | uint64(uint32(idx)+1) }

// probe calls match with each slot whose entry carries h's top 32 bits, in
// probe order from h's home, until match returns true (then probe returns
// that slot, true) or an empty entry ends the run (-1, false).
func (x *index) probe(h uint64, match func(int32) bool) (int32, bool) {
	tag := h >> 32
	m := x.mask()
	for i := x.home(h); ; i = (i + 1) & m {
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
	x.put(entry(h, idx))
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

// grow doubles the table, placing the entries again from their own bits.
func (x *index) grow() {
	old := x.tab
	x.tab = make([]uint64, 2*len(old))
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
	want := entry(h, idx)
	m := x.mask()
	i := x.home(h)
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
