package history

import "sync/atomic"

// seenFilter is a stripe's record of the hashes it keeps a ring for, read
// without the stripe's lock: at a million series nearly every point is of
// a normal series the store does not keep, and this lets such a point go
// without the lock and a lookup in the LRU's map (a cache miss: about a
// twentieth of the ingest CPU). A clear bit means no ring; a set bit
// means maybe (1,024 bits for the few dozen rings of a stripe). Bits are
// set under the lock before the ring can be missed, and on removal the
// words are rebuilt from the rings left and stored whole, so a reader sees
// every kept ring's bit whichever word it reads.
type seenFilter [filterWords]atomic.Uint64

const filterWords = 16

func filterPos(h uint64) (int, uint64) {
	b := h & (filterWords*64 - 1)
	return int(b >> 6), 1 << (b & 63)
}

func (f *seenFilter) has(h uint64) bool {
	w, bit := filterPos(h)
	return f[w].Load()&bit != 0
}

func (f *seenFilter) add(h uint64) {
	w, bit := filterPos(h)
	f[w].Or(bit)
}

// rebuild sets the filter to the hashes of st's rings. Call with st.mu
// held.
func (st *stripe) rebuildFilter() {
	var words [filterWords]uint64
	for _, h := range st.lru.Keys() {
		w, bit := filterPos(h)
		words[w] |= bit
	}
	for i := range words {
		st.seen[i].Store(words[i])
	}
}
