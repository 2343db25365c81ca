package series

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestIndexAgainstMap inserts and removes at random, with many entries
// sharing hashes (and so tags and home positions), and checks the index
// against a map after every step: no entry lost, none found twice, no
// probe run broken by a removal.
func TestIndexAgainstMap(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	x := newIndex(0)
	hashes := make([]uint64, 64) // few hashes: many collisions
	for i := range hashes {
		hashes[i] = r.Uint64()
		if i%4 == 0 && i > 0 {
			hashes[i] = hashes[i-1] ^ 1 // same tag and home, other hash
		}
	}
	held := map[int32]uint64{}
	var next int32
	check := func(step int) {
		if x.n != len(held) {
			t.Fatalf("step %d: %d entries, want %d", step, x.n, len(held))
		}
		for idx, h := range held {
			n := 0
			x.probe(h, func(i int32) bool {
				if i == idx {
					n++
				}
				return false // visit the whole run
			})
			if n != 1 {
				t.Fatalf("step %d: slot %d under %x found %d times, want once", step, idx, h, n)
			}
		}
	}
	for step := range 5000 {
		if len(held) > 0 && r.IntN(5) < 2 {
			for idx, h := range held {
				if !x.remove(h, idx) {
					t.Fatalf("step %d: remove(%x, %d) = false", step, h, idx)
				}
				delete(held, idx)
				break
			}
		} else {
			h := hashes[r.IntN(len(hashes))]
			x.insert(h, next)
			held[next] = h
			next++
		}
		if step%50 == 0 {
			check(step)
		}
	}
	check(-1)
	if x.remove(hashes[0], next+1) {
		t.Error("remove of a slot never inserted = true")
	}
}

// TestKeyArenaCompaction churns series through a capped shard until the
// arena has compacted, and checks that every live series still reads its
// own key and that the arena holds about the live keys, not all ever
// written.
func TestKeyArenaCompaction(t *testing.T) {
	const capacity = 2000
	e := newEngine(t, Options{Shards: 1, MaxSeries: capacity, Now: newClock().Now})
	sh := e.shards[0]
	key := func(i int) string { return fmt.Sprintf(`churn{id="%08d",pad="%0100d"}`, i, 0) }
	const total = 50 * capacity // about 6 MB of keys through a 250 KB working set
	for start := 0; start < total; start += 1000 {
		batch := make([]item, 1000)
		for j := range batch {
			k := key(start + j)
			batch[j] = item{hash: HashString(k), key: k, ts: 1, v: 1}
		}
		req := &request{done: make(chan struct{}, 1)}
		req.pending.Store(1)
		sh.apply(&subBatch{req: req, items: batch, outs: make([]outcome, len(batch))})
		<-req.done
	}
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	if n := sh.live.Load(); n != capacity {
		t.Fatalf("%d live series, want %d", n, capacity)
	}
	for i := range sh.nslots {
		if !sh.used(i) {
			continue
		}
		k := sh.key(i)
		if idx, ok := sh.lookup(HashString(k), k); !ok || idx != i {
			t.Fatalf("slot %d key %.40q: lookup = %d, %v", i, k, idx, ok)
		}
	}
	live := sh.keys.liveBytes
	if got := sh.keys.bytes(); got > 4*live+8*arenaChunk {
		t.Errorf("arena holds %d bytes for %d live bytes: freed keys are not reclaimed", got, live)
	}
}
