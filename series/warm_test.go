package series

import (
	"context"
	"testing"

	"github.com/anomalyd/detector/anomaly"
)

// TestWarmHints checks that warm finds the slot of (nearly) every known
// series of a batch, displaced entries of a probe run included, none for
// an unknown one, and that lookupHint answers like lookup whatever the
// hint: right, another series' slot, a freed slot, out of range or none.
func TestWarmHints(t *testing.T) {
	e, err := NewEngine(Options{Shards: 1, MaxSeries: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(context.Background())
	const n = 3000 // a table about 3/4 full holds many displaced entries
	batch := make([]anomaly.Sample, n)
	for i := range batch {
		batch[i] = anomaly.Sample{Series: benchKey(i), TimestampMs: 1000, Value: 1}
	}
	if _, err := e.Ingest(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	sh := e.shards[0]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	found := 0
	for start := 0; start < n; start += warmAhead {
		items := make([]item, 0, warmAhead)
		for i := start; i < min(start+warmAhead, n); i++ {
			k := benchKey(i)
			items = append(items, item{hash: HashString(k), key: k})
		}
		var hints [warmAhead]int32
		sh.warm(items, &hints)
		for j, it := range items {
			want, ok := sh.lookup(it.hash, it.key)
			if !ok {
				t.Fatalf("series %s not found", it.key)
			}
			if hints[j] == want {
				found++
			}
			for _, hint := range []int32{hints[j], -1, want, (want + 1) % sh.nslots, sh.nslots + 5} {
				if got, ok := sh.lookupHint(it.hash, it.key, hint); !ok || got != want {
					t.Fatalf("lookupHint(%s, hint %d) = %d, %v; want %d", it.key, hint, got, ok, want)
				}
			}
		}
	}
	if found < n*9/10 {
		t.Errorf("warm found the slot of %d of %d series", found, n)
	}
	unknown := []item{{hash: HashString("nope"), key: "nope"}}
	var hints [warmAhead]int32
	sh.warm(unknown, &hints)
	if _, ok := sh.lookupHint(unknown[0].hash, "nope", hints[0]); ok {
		t.Error("an unknown series was found")
	}
	// A freed slot as the hint: the series is gone.
	k := benchKey(7)
	h := HashString(k)
	idx, _ := sh.lookup(h, k)
	sh.remove(idx)
	if got, ok := sh.lookupHint(h, k, idx); ok {
		t.Errorf("removed series found in slot %d", got)
	}
}
