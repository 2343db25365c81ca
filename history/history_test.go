package history

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/cespare/xxhash/v2"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/models"
	"github.com/anomalyd/detector/series"
)

func obs(key string, ts int64, v float64, st anomaly.State, id anomaly.ID) *series.Observed {
	return &series.Observed{Series: key, Hash: xxhash.Sum64String(key), TimestampMs: ts, Value: v,
		Expected: 100, Lower: 90, Upper: 110, Score: 0.1, State: st, Detector: models.Detector(1), AnomalyID: id}
}

func TestEntrySize(t *testing.T) {
	if EntrySize != 40 {
		t.Errorf("entry is %d bytes, want 40 (the budget figures assume it)", EntrySize)
	}
}

func TestRingKeepsLastPointsInOrder(t *testing.T) {
	s := New(Config{Points: 50})
	key := `a{x="1"}`
	for i := range 120 {
		st := anomaly.StateNormal
		var id anomaly.ID
		if i == 110 {
			st, id = anomaly.StateAnomalous, 1<<33+5
		}
		s.Observe(obs(key, int64(i)*1000, float64(i), st, id))
	}
	pts := s.Watch(key, xxhash.Sum64String(key), 0, 0)
	if len(pts) != 50 {
		t.Fatalf("kept %d points, want 50", len(pts))
	}
	for i, p := range pts {
		if want := float64(70 + i); p.Value != want {
			t.Fatalf("point %d = %v, want %v", i, p.Value, want)
		}
	}
	if p := pts[40]; p.State != anomaly.StateAnomalous || p.AnomalyID != 1<<33+5 || p.Detector == "" || p.Expected != 100 || p.Upper != 110 {
		t.Errorf("anomalous point read back as %+v", p)
	}
	if got := s.Watch(key, xxhash.Sum64String(key), 100_000, 105_000); len(got) != 6 {
		t.Errorf("since/until kept %d points, want 6", len(got))
	}
}

func TestBudgetHoldsAndAnomaliesWin(t *testing.T) {
	const budget = 1 << 20
	s := New(Config{Bytes: budget, Points: 100})
	// Far more normal series than fit.
	for i := range 20_000 {
		key := fmt.Sprintf(`req{host="h%05d"}`, i)
		for ts := range int64(3) {
			s.Observe(obs(key, ts, 1, anomaly.StateNormal, 0))
		}
	}
	st := s.Stats()
	if st.Bytes > budget {
		t.Fatalf("store holds %d bytes, budget %d", st.Bytes, budget)
	}
	full := st.Series
	// A series first seen when the store is full is recorded once it is
	// anomalous: it pushes out an old ring.
	late := `req{host="late"}`
	for ts := range int64(40) {
		st := anomaly.StateNormal
		var id anomaly.ID
		if ts == 0 {
			st, id = anomaly.StateAnomalous, 9
		} else {
			id = 9
		}
		s.Observe(obs(late, 20+ts, 1, st, id))
	}
	if got := s.Watch(late, xxhash.Sum64String(late), 0, 0); len(got) != 40 {
		t.Errorf("anomalous series kept %d points, want 40", len(got))
	}
	if s.Stats().Evicted == 0 {
		t.Error("no ring was evicted to make room")
	}
	if n := s.Stats().Series; n > full+1 {
		t.Errorf("series grew from %d to %d past the budget", full, n)
	}
	// A watched series is recorded from then on, even when full.
	w := `req{host="watched"}`
	if pts := s.Watch(w, xxhash.Sum64String(w), 0, 0); len(pts) != 0 {
		t.Fatal("new watched series has points")
	}
	s.Observe(obs(w, 1, 1, anomaly.StateNormal, 0))
	if pts := s.Watch(w, xxhash.Sum64String(w), 0, 0); len(pts) != 1 {
		t.Errorf("watched series kept %d points, want 1", len(pts))
	}
}

// BenchmarkObserve is the cost the history adds to one learned point: a
// ring append, and for a series not kept (the store is full) the lookup.
func BenchmarkObserve(b *testing.B) {
	s := New(Config{Bytes: 8 << 20})
	keys := make([]*series.Observed, 100_000)
	for i := range keys {
		keys[i] = obs(fmt.Sprintf(`req{host="h%06d"}`, i), 0, 1, anomaly.StateNormal, 0)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		o := keys[i%len(keys)]
		o.TimestampMs++
		s.Observe(o)
		i++
	}
}

// TestMemoryMillionSeries measures the heap of a store fed one point of each
// of a million series and anomalies on 50,000 of them (-args -history.mem;
// figures in the README).
func TestMemoryMillionSeries(t *testing.T) {
	if !*memFlag {
		t.Skip("pass -args -history.mem")
	}
	const n, anomalous = 1_000_000, 50_000
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf(`play_starts{title="t%04d",device="d%02d",bitrate="%d"}`, i/400, i/4%100, i%4)
	}
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	s := New(Config{})
	for round := range int64(30) {
		for i, k := range keys {
			st, id := anomaly.StateNormal, anomaly.ID(0)
			if i%(n/anomalous) == 0 && round >= 20 {
				st, id = anomaly.StateAnomalous, anomaly.ID(i+1)
			}
			s.Observe(obs(k, round*60000, float64(i), st, id))
		}
	}
	// Then 2,000 of the anomalous series (as many as the budget holds in
	// full rings) go on until their rings are full.
	for round := int64(30); round < 30+DefaultPoints; round++ {
		for i := 0; i < 2000*(n/anomalous); i += n / anomalous {
			s.Observe(obs(keys[i], round*60000, float64(i), anomaly.StateAnomalous, anomaly.ID(i+1)))
		}
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	st := s.Stats()
	runtime.KeepAlive(s)
	runtime.KeepAlive(keys)
	heap := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("1e6 series x 30 points, %d of them anomalous, then 2000 of those to full rings: store accounts %d MiB for %d series (budget %d MiB); heap growth %d MiB",
		anomalous, st.Bytes>>20, st.Series, st.Budget>>20, heap>>20)
	if heap > 2*st.Budget {
		t.Errorf("heap grew %d bytes, twice the %d budget", heap, st.Budget)
	}
}
