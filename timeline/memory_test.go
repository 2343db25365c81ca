package timeline

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/anomalyd/detector/anomaly"
)

var t0 = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)

func at(minute int) time.Time { return t0.Add(time.Duration(minute) * time.Minute) }

func event(kind anomaly.EventKind, id anomaly.ID, series string, ts time.Time, score, value float64) anomaly.Event {
	return anomaly.Event{
		Kind: kind, AnomalyID: id, AnomalyKind: anomaly.KindPoint, Series: series, At: ts,
		Verdict: anomaly.Verdict{Series: series, Timestamp: ts, Value: value, Expected: 10,
			Score: score, State: anomaly.StateAnomalous, Detector: "level", AnomalyID: id},
	}
}

// open records an anomaly that opens at minute start and, when end >= 0,
// resolves at minute end.
func open(m *Memory, id anomaly.ID, series string, start, end int) {
	m.Record(event(anomaly.EventOpened, id, series, at(start), 0.99, 50))
	if end >= 0 {
		m.Record(event(anomaly.EventResolved, id, series, at(end), 0.1, 10))
	}
}

func ids(p anomaly.AnomalyPage) []anomaly.ID {
	out := make([]anomaly.ID, len(p.Anomalies))
	for i, a := range p.Anomalies {
		out[i] = a.ID
	}
	return out
}

func TestRecordFoldsEvents(t *testing.T) {
	m := NewMemory(10)
	m.Record(event(anomaly.EventOpened, 7, "cpu", at(0), 0.95, 40))
	m.Record(event(anomaly.EventUpdated, 7, "cpu", at(1), 0.999, 90))
	m.Record(event(anomaly.EventUpdated, 7, "cpu", at(2), 0.97, 60))

	a, err := m.Get(context.Background(), 7)
	if err != nil {
		t.Fatalf("Get(7) error %v", err)
	}
	if !a.Open() || a.EndedAt != nil {
		t.Errorf("open anomaly: EndedAt = %v, want nil", a.EndedAt)
	}
	want := anomaly.Anomaly{ID: 7, Kind: anomaly.KindPoint, Series: "cpu", Detector: "level",
		StartedAt: at(0), PeakScore: 0.999, PeakAt: at(1), PeakValue: 90, PeakExpected: 10, Points: 3}
	if a != want {
		t.Errorf("Get(7) = %+v, want %+v", a, want)
	}

	m.Record(event(anomaly.EventResolved, 7, "cpu", at(5), 0.1, 11))
	a, _ = m.Get(context.Background(), 7)
	if a.EndedAt == nil || !a.EndedAt.Equal(at(5)) {
		t.Fatalf("resolved anomaly: EndedAt = %v, want %v", a.EndedAt, at(5))
	}
	if a.Points != 3 {
		t.Errorf("resolving point counted: Points = %d, want 3", a.Points)
	}
	// The returned value shares nothing with the store.
	*a.EndedAt = at(100)
	b, _ := m.Get(context.Background(), 7)
	if !b.EndedAt.Equal(at(5)) {
		t.Errorf("caller's change leaked into the store: EndedAt = %v", b.EndedAt)
	}

	// Updates after resolution, repeated opens and unknown ids are ignored.
	m.Record(event(anomaly.EventUpdated, 7, "cpu", at(6), 1, 1000))
	m.Record(event(anomaly.EventOpened, 7, "cpu", at(7), 1, 1000))
	m.Record(event(anomaly.EventUpdated, 99, "cpu", at(6), 1, 1000))
	m.Record(event(anomaly.EventOpened, 0, "cpu", at(6), 1, 1000))
	if c, _ := m.Get(context.Background(), 7); c.Points != 3 || c.PeakScore != 0.999 {
		t.Errorf("after ignored events: Points, PeakScore = %d, %v, want 3, 0.999", c.Points, c.PeakScore)
	}
	if n := m.Len(); n != 1 {
		t.Errorf("Len() = %d, want 1", n)
	}
}

func TestGetUnknown(t *testing.T) {
	_, err := NewMemory(0).Get(context.Background(), 42)
	if code := anomaly.ErrorCode(err); code != anomaly.CodeNotFound {
		t.Errorf("Get(42) on empty store: code %q, want %q (err %v)", code, anomaly.CodeNotFound, err)
	}
}

func TestBoundDropsOldestResolvedFirst(t *testing.T) {
	m := NewMemory(3)
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
	m := NewMemory(max)
	open(m, 1, "keep", 0, -1)
	for i := 2; i <= 1000; i++ {
		open(m, anomaly.ID(i), "x", i, i)
	}
	if n := m.Len(); n != max {
		t.Fatalf("Len() = %d, want %d", n, max)
	}
	got := ids(query(t, m, anomaly.TimelineQuery{Limit: MaxLimit}))
	if len(got) != max || got[0] != 1000 || got[max-2] != 1000-max+2 || got[max-1] != 1 {
		t.Errorf("ids = %v, want 1000 down to %d, then 1", got, 1000-max+2)
	}
	if len(m.order)-m.dead != max {
		t.Errorf("order holds %d live entries, want %d", len(m.order)-m.dead, max)
	}
}

func TestInsertOutOfOrder(t *testing.T) {
	m := NewMemory(10)
	open(m, 1, "a", 10, -1)
	open(m, 2, "a", 5, -1)
	open(m, 3, "a", 7, -1)
	open(m, 4, "a", 7, -1) // same start: higher id first
	if got := fmt.Sprint(ids(query(t, m, anomaly.TimelineQuery{}))); got != "[1 4 3 2]" {
		t.Errorf("ids = %s, want [1 4 3 2]", got)
	}
}

func query(t *testing.T, m *Memory, q anomaly.TimelineQuery) anomaly.AnomalyPage {
	t.Helper()
	p, err := m.Query(context.Background(), q)
	if err != nil {
		t.Fatalf("Query(%+v) error %v", q, err)
	}
	return p
}

func TestQueryFilters(t *testing.T) {
	m := NewMemory(100)
	open(m, 1, "a", 0, 10)  // [0,10]
	open(m, 2, "b", 5, 6)   // [5,6]
	open(m, 3, "a", 20, -1) // [20,...)
	open(m, 4, "b", 30, 40) // [30,40]
	open(m, 5, "a", 50, -1) // [50,...)

	cases := []struct {
		q    anomaly.TimelineQuery
		want string
	}{
		{anomaly.TimelineQuery{}, "[5 4 3 2 1]"},
		{anomaly.TimelineQuery{Series: "a"}, "[5 3 1]"},
		{anomaly.TimelineQuery{Series: "c"}, "[]"},
		{anomaly.TimelineQuery{State: "open"}, "[5 3]"},
		{anomaly.TimelineQuery{State: "resolved"}, "[4 2 1]"},
		{anomaly.TimelineQuery{Series: "b", State: "resolved"}, "[4 2]"},
		{anomaly.TimelineQuery{Since: at(8)}, "[5 4 3 1]"},  // 2 ended before
		{anomaly.TimelineQuery{Since: at(10)}, "[5 4 3 1]"}, // ended exactly at since
		{anomaly.TimelineQuery{Since: at(11)}, "[5 4 3]"},   // open ones always overlap
		{anomaly.TimelineQuery{Until: at(20)}, "[2 1]"},     // until is exclusive
		{anomaly.TimelineQuery{Until: at(21)}, "[3 2 1]"},   //
		{anomaly.TimelineQuery{Since: at(6), Until: at(31)}, "[4 3 2 1]"},
		{anomaly.TimelineQuery{Since: at(41), Until: at(50)}, "[3]"},
	}
	for _, c := range cases {
		if got := fmt.Sprint(ids(query(t, m, c.q))); got != c.want {
			t.Errorf("Query(%+v) ids = %s, want %s", c.q, got, c.want)
		}
	}
}

func TestQueryRejects(t *testing.T) {
	m := NewMemory(10)
	cases := []struct {
		q     anomaly.TimelineQuery
		field string
	}{
		{anomaly.TimelineQuery{State: "closed"}, "state"},
		{anomaly.TimelineQuery{Cursor: "not a cursor"}, "cursor"},
		{anomaly.TimelineQuery{Cursor: encodeCursor(t0, 1)[:5]}, "cursor"},
		{anomaly.TimelineQuery{Since: at(5), Until: at(5)}, "since"},
	}
	for _, c := range cases {
		_, err := m.Query(context.Background(), c.q)
		var e *anomaly.Error
		if !errors.As(err, &e) || e.Code != anomaly.CodeInvalidArgument || e.Field != c.field {
			t.Errorf("Query(%+v) error = %v, want invalid_argument on field %q", c.q, err, c.field)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.Query(ctx, anomaly.TimelineQuery{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Query with cancelled context: error %v, want context.Canceled", err)
	}
}

func TestQueryPagination(t *testing.T) {
	m := NewMemory(10 * MaxLimit)
	for i := 1; i <= 7; i++ {
		open(m, anomaly.ID(i), "a", i, -1)
	}
	var got []anomaly.ID
	q := anomaly.TimelineQuery{Limit: 3}
	pages := 0
	for {
		p := query(t, m, q)
		pages++
		got = append(got, ids(p)...)
		if p.NextCursor == "" {
			break
		}
		if pages == 1 {
			// Anomalies that open between pages, newer and older than the
			// cursor, neither repeat nor skip entries of later pages.
			open(m, 100, "a", 100, -1)
			open(m, 101, "a", 0, -1)
		}
		q.Cursor = p.NextCursor
	}
	if s := fmt.Sprint(got); s != "[7 6 5 4 3 2 1 101]" {
		t.Errorf("paged ids = %s, want [7 6 5 4 3 2 1 101]", s)
	}
	if pages != 3 {
		t.Errorf("pages = %d, want 3", pages)
	}

	// A limit that ends exactly at the last match gives no cursor.
	p := query(t, m, anomaly.TimelineQuery{Limit: 9})
	if len(p.Anomalies) != 9 || p.NextCursor != "" {
		t.Errorf("Limit 9 of 9: got %d anomalies, cursor %q, want 9 and none", len(p.Anomalies), p.NextCursor)
	}
	// Limits are capped.
	for i := 200; i < 200+MaxLimit+5; i++ {
		open(m, anomaly.ID(i), "b", i, -1)
	}
	if p := query(t, m, anomaly.TimelineQuery{Limit: MaxLimit * 10}); len(p.Anomalies) != MaxLimit {
		t.Errorf("Limit %d: got %d anomalies, want %d", MaxLimit*10, len(p.Anomalies), MaxLimit)
	}
	if p := query(t, m, anomaly.TimelineQuery{}); len(p.Anomalies) != DefaultLimit {
		t.Errorf("Limit 0: got %d anomalies, want %d", len(p.Anomalies), DefaultLimit)
	}
}

func TestConcurrentRecordAndQuery(t *testing.T) {
	m := NewMemory(500)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				id := anomaly.ID(w*1000 + i + 1)
				s := fmt.Sprintf("s%d", w)
				m.Record(event(anomaly.EventOpened, id, s, at(i), 0.9, 1))
				m.Record(event(anomaly.EventUpdated, id, s, at(i), 0.95, 2))
				if i%2 == 0 {
					m.Record(event(anomaly.EventResolved, id, s, at(i+1), 0.1, 1))
				}
			}
		}(w)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 200; i++ {
			q := anomaly.TimelineQuery{Limit: 50}
			for {
				p, err := m.Query(context.Background(), q)
				if err != nil {
					t.Errorf("Query: %v", err)
					return
				}
				for j := 1; j < len(p.Anomalies); j++ {
					a, b := p.Anomalies[j-1], p.Anomalies[j]
					if less(a.StartedAt, a.ID, b.StartedAt, b.ID) {
						t.Errorf("page out of order: %d before %d", a.ID, b.ID)
					}
				}
				if p.NextCursor == "" {
					break
				}
				q.Cursor = p.NextCursor
			}
		}
	}()
	wg.Wait()
	if n := m.Len(); n != 500 {
		t.Errorf("Len() = %d, want 500", n)
	}
}

func BenchmarkRecord(b *testing.B) {
	m := NewMemory(10_000)
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
