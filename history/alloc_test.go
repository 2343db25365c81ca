package history

import (
	"fmt"
	"testing"

	"github.com/cespare/xxhash/v2"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/series"
)

// A full store turns a normal point of a series it does not keep away
// without allocating: at a million series that is nearly every point.
func TestFullStoreRefusesNormalSeriesWithoutAllocating(t *testing.T) {
	s := New(Config{Bytes: 4 << 20, Points: 100})
	for i := range 5000 {
		s.Observe(obs(fmt.Sprintf(`fill{i="%d"}`, i), 1000, 1, anomaly.StateNormal, 0))
	}
	kept := s.total.Load()
	if kept == 0 || kept > 4<<20 {
		t.Fatalf("store accounts %d bytes for a 4 MiB budget", kept)
	}
	probes := make([]*series.Observed, 64)
	for i := range probes {
		probes[i] = obs(fmt.Sprintf(`other{i="%d"}`, i), 2000, 1, anomaly.StateNormal, 0)
	}
	n := 0
	allocs := testing.AllocsPerRun(200, func() {
		s.Observe(probes[n%len(probes)])
		n++
	})
	if allocs != 0 {
		t.Errorf("a refused normal point allocates %v times, want 0", allocs)
	}
	if got := s.total.Load(); got != kept {
		t.Errorf("refused points changed the accounted bytes: %d, was %d", got, kept)
	}
}

// The lock-free refusal never drops a point of a series the store keeps,
// through evictions that rebuild the filter.
func TestFullStoreKeepsRecordingItsSeries(t *testing.T) {
	s := New(Config{Bytes: 4 << 20, Points: 100})
	for i := range 5000 {
		s.Observe(obs(fmt.Sprintf(`fill{i="%d"}`, i), 1000, 1, anomaly.StateNormal, 0))
	}
	var kept []string
	for i := range 5000 {
		k := fmt.Sprintf(`fill{i="%d"}`, i)
		if len(s.Watch(k, xxhash.Sum64String(k), 0, 0)) == 1 {
			kept = append(kept, k)
		}
	}
	if len(kept) == 0 {
		t.Fatal("the store kept no series")
	}
	// Anomalous series push some of the kept ones out.
	for i := range 300 {
		s.Observe(obs(fmt.Sprintf(`hot{i="%d"}`, i), 1000, 9, anomaly.StateAnomalous, 0))
	}
	for _, k := range kept {
		h := xxhash.Sum64String(k)
		before := len(s.Watch(k, h, 0, 0))
		s.Observe(obs(k, 2000, 2, anomaly.StateNormal, 0))
		if after := len(s.Watch(k, h, 0, 0)); after != before+1 {
			t.Fatalf("%s: %d points after a normal point, had %d", k, after, before)
		}
	}
}
