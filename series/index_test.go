package series

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/anomalyd/detector/anomaly"
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
			hashes[i] = hashes[i-1] ^ 1 // a neighbouring hash
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

// TestKeyArenaCompaction evicts three series in four, spread over every
// arena chunk, and checks that the arena then holds about the live keys
// (the sparse chunks were emptied and let go) and that every live series
// still finds its own key.
func TestKeyArenaCompaction(t *testing.T) {
	clk := newClock()
	e := newEngine(t, Options{Shards: 1, MaxSeries: -1, IdleTimeout: 90 * time.Second, SweepInterval: time.Hour, Now: clk.Now})
	sh := e.shards[0]
	key := func(i int) string { return fmt.Sprintf(`churn{id="%08d",pad="%0100d"}`, i, 0) }
	// About 10 MB of keys: eight small chunks, then four of bigArenaChunk.
	const n = 80000
	var batch []anomaly.Sample
	for i := range n {
		batch = append(batch, anomaly.Sample{Series: key(i), TimestampMs: 60000, Value: 1})
		if len(batch) == 10000 {
			mustIngest(t, e, batch)
			batch = batch[:0]
		}
	}
	mustIngest(t, e, batch)
	sh.mu.RLock()
	big := 0
	for _, c := range sh.keys.chunks {
		if cap(c) == bigArenaChunk {
			big++
		}
	}
	sh.mu.RUnlock()
	if big < 3 {
		t.Fatalf("%d chunks of %d bytes after %d keys, want 3 or more", big, bigArenaChunk, n)
	}
	clk.Advance(time.Minute)
	batch = batch[:0]
	for i := 0; i < n; i += 4 {
		batch = append(batch, anomaly.Sample{Series: key(i), TimestampMs: 120000, Value: 1})
	}
	mustIngest(t, e, batch)
	clk.Advance(time.Minute)
	if got, err := e.Sweep(context.Background()); err != nil || got != n-n/4 {
		t.Fatalf("Sweep = %d, %v; want %d evicted", got, err, n-n/4)
	}
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	for i := range sh.nslots {
		if !sh.used(i) {
			continue
		}
		k := sh.key(i)
		if idx, ok := sh.lookup(HashString(k), k); !ok || idx != i {
			t.Fatalf("slot %d key %.40q: lookup = %d, %v", i, k, idx, ok)
		}
	}
	// Every chunk but the one appended to is at least half live.
	live := sh.keys.liveBytes
	if got := sh.keys.bytes(); got > 2*live+cap(sh.keys.chunks[sh.keys.cur]) {
		t.Errorf("arena holds %d bytes for %d live bytes: the keys of sparse chunks were not moved", got, live)
	}
	for i := 0; i < n; i += 4 {
		if _, err := e.Latest(context.Background(), key(i)); err != nil {
			t.Fatalf("Latest(series %d) after compaction: %v", i, err)
		}
	}
}

// TestEvictionSparesRecentlyUpdated: at the cap, new series replace series
// not updated for a while, never the ones just updated, when both kinds
// are spread over the shard (eviction compares a window of 32 series).
func TestEvictionSparesRecentlyUpdated(t *testing.T) {
	clk := newClock()
	e := newEngine(t, Options{Shards: 1, MaxSeries: 100, Now: clk.Now})
	name := func(i int) string { return fmt.Sprintf(`m{i="%03d"}`, i) }
	var batch []anomaly.Sample
	for i := range 100 {
		batch = append(batch, anomaly.Sample{Series: name(i), TimestampMs: 60000, Value: 1})
	}
	mustIngest(t, e, batch)
	clk.Advance(time.Minute)
	batch = batch[:0]
	for i := 0; i < 100; i += 2 {
		batch = append(batch, anomaly.Sample{Series: name(i), TimestampMs: 120000, Value: 1})
	}
	mustIngest(t, e, batch)
	for i := range 25 {
		clk.Advance(time.Minute)
		mustIngest(t, e, []anomaly.Sample{{Series: name(1000 + i), TimestampMs: 60000, Value: 1}})
	}
	ctx := context.Background()
	evicted := 0
	for i := range 100 {
		_, err := e.Latest(ctx, name(i))
		switch {
		case err == nil:
		case i%2 == 0:
			t.Errorf("series %d, updated a minute after the others, was evicted", i)
		default:
			evicted++
		}
	}
	if evicted != 25 {
		t.Errorf("%d series not updated since creation evicted, want 25", evicted)
	}
	if st := e.Stats(); st.Series != 100 || st.EvictedLRU != 25 {
		t.Errorf("Stats = %+v, want 100 series and 25 evictions", st)
	}
}
