package timeline_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/timeline"
	"github.com/anomalyd/detector/timeline/timelinetest"
)

var (
	at    = timelinetest.At
	event = timelinetest.Event
	ids   = timelinetest.IDs
)

func open(m *timeline.Memory, id anomaly.ID, series string, start, end int) {
	timelinetest.Open(m, id, series, start, end)
}

func query(t *testing.T, m *timeline.Memory, q anomaly.TimelineQuery) anomaly.AnomalyPage {
	t.Helper()
	p, err := m.Query(context.Background(), q)
	if err != nil {
		t.Fatalf("Query(%+v) error %v", q, err)
	}
	return p
}

func TestBoundDropsOldestResolvedFirst(t *testing.T) {
	m := timeline.NewMemory(3)
	open(m, 1, "a", 0, -1) // oldest, still open
	open(m, 2, "a", 1, 2)  // oldest resolved
	open(m, 3, "a", 3, 4)
	open(m, 4, "a", 5, -1) // over the bound: 2 goes
	if got := fmt.Sprint(ids(query(t, m, anomaly.TimelineQuery{}))); got != "[4 3 1]" {
		t.Errorf("after 4th open: ids = %s, want [4 3 1]", got)
	}
	open(m, 5, "a", 6, -1) // 3 goes, the last resolved
	open(m, 6, "a", 7, -1) // all open: the oldest (1) goes
	if got := fmt.Sprint(ids(query(t, m, anomaly.TimelineQuery{}))); got != "[6 5 4]" {
		t.Errorf("after 6th open: ids = %s, want [6 5 4]", got)
	}
	if d := m.Dropped(); d != 3 {
		t.Errorf("Dropped() = %d, want 3", d)
	}
}

func TestBoundManyDrops(t *testing.T) {
	// Exercise compaction: keep one old open anomaly at the front so that
	// resolved ones are dropped from the middle of the order.
	const max = 50
	m := timeline.NewMemory(max)
	open(m, 1, "keep", 0, -1)
	for i := 2; i <= 1000; i++ {
		open(m, anomaly.ID(i), "x", i, i)
	}
	if n := m.Len(); n != max {
		t.Fatalf("Len() = %d, want %d", n, max)
	}
	got := ids(query(t, m, anomaly.TimelineQuery{Limit: timeline.MaxLimit}))
	if len(got) != max || got[0] != 1000 || got[max-2] != 1000-max+2 || got[max-1] != 1 {
		t.Errorf("ids = %v, want 1000 down to %d, then 1", got, 1000-max+2)
	}
	if n := timeline.LiveOrder(m); n != max {
		t.Errorf("order holds %d live entries, want %d", n, max)
	}
}

// TestConcurrentRecordKeepsBound: concurrent writers over the bound
// leave exactly the bound (the suite checks order and folding).
func TestConcurrentRecordKeepsBound(t *testing.T) {
	m := timeline.NewMemory(500)
	var wg sync.WaitGroup
	timelinetest.RecordConcurrently(&wg, m, 4, 500)
	wg.Wait()
	if n := m.Len(); n != 500 {
		t.Errorf("Len() = %d, want 500", n)
	}
}

func BenchmarkRecord(b *testing.B) {
	m := timeline.NewMemory(10_000)
	evs := make([]anomaly.Event, 3)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		id := anomaly.ID(i + 1)
		evs[0] = event(anomaly.EventOpened, id, "cpu", at(i), 0.9, 1)
		evs[1] = event(anomaly.EventUpdated, id, "cpu", at(i), 0.95, 2)
		evs[2] = event(anomaly.EventResolved, id, "cpu", at(i+1), 0.1, 1)
		for j := range evs {
			m.Record(evs[j])
		}
	}
}
