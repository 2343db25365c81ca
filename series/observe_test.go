package series

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/anomalyd/detector/anomaly"
)

// sumObserver keeps what it needs of each point and never the pointer.
// The shards call it at once (PointObserver), hence the lock.
type sumObserver struct {
	mu     sync.Mutex
	n, sum float64
}

func (o *sumObserver) Observe(p *Observed) {
	o.mu.Lock()
	o.n++
	o.sum += p.Value
	o.mu.Unlock()
}

// Handing a learned point to the observer allocates nothing per point:
// the shard reuses one Observed (an interface call would otherwise move
// each point's Observed to the heap).
func TestObserverNoAllocPerPoint(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's own allocations are counted too")
	}
	const series, runs = 500, 20
	e := newEngine(t, Options{Shards: 2, MaxSeries: -1})
	obs := &sumObserver{}
	e.SetObserver(obs)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	batches := make([][]anomaly.Sample, runs+2)
	for b := range batches {
		batches[b] = make([]anomaly.Sample, series)
		for s := range series {
			batches[b][s] = anomaly.Sample{Series: fmt.Sprintf(`cpu{host="h%d"}`, s), TimestampMs: base.Add(time.Duration(b) * time.Minute).UnixMilli(), Value: float64(s%7) + float64(b%3)}
		}
	}
	mustIngest(t, e, batches[0]) // creates the series
	next := 1
	allocs := testing.AllocsPerRun(runs, func() {
		if _, err := e.Ingest(context.Background(), batches[next]); err != nil {
			t.Fatal(err)
		}
		next++
	})
	if obs.n != float64(series*(runs+2)) {
		t.Fatalf("observer saw %v points, want %d", obs.n, series*(runs+2))
	}
	if allocs > series/10 {
		t.Errorf("Ingest of %d known series with an observer: %v allocations, want well under one per point", series, allocs)
	}
}
