// Package timelinetest is the conformance suite every timeline backend
// passes: the fold from events to anomalies, the query filters, the
// errors, the order, the cursors and the page limits, and concurrent
// Record with Query. timeline.Memory and the bbolt store both run it.
package timelinetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/timeline"
)

// Backend opens what the suite runs against.
type Backend struct {
	// New returns an empty timeline holding at least 10,000 anomalies;
	// the suite closes it.
	New func(t *testing.T) timeline.Timeline
	// Flush, when set, is called between recording and querying in some
	// tests (a store writes what it holds in memory), so that both the
	// written and the unwritten paths are checked.
	Flush func(t *testing.T, tl timeline.Timeline)
}

var t0 = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)

// At is minute m of the suite's day.
func At(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }

// Event is an event of a point anomaly at ts.
func Event(kind anomaly.EventKind, id anomaly.ID, series string, ts time.Time, score, value float64) anomaly.Event {
	return anomaly.Event{
		Kind: kind, AnomalyID: id, AnomalyKind: anomaly.KindPoint, Series: series, At: ts,
		Verdict: anomaly.Verdict{Series: series, Timestamp: ts, Value: value, Expected: 10,
			Score: score, State: anomaly.StateAnomalous, Detector: "level", AnomalyID: id},
	}
}

// Open records an anomaly that opens at minute start and, when end >= 0,
// resolves at minute end.
func Open(r timeline.Recorder, id anomaly.ID, series string, start, end int) {
	r.Record(Event(anomaly.EventOpened, id, series, At(start), 0.99, 50))
	if end >= 0 {
		r.Record(Event(anomaly.EventResolved, id, series, At(end), 0.1, 10))
	}
}

// IDs are the ids of a page, in order.
func IDs(p anomaly.AnomalyPage) []anomaly.ID {
	out := make([]anomaly.ID, len(p.Anomalies))
	for i, a := range p.Anomalies {
		out[i] = a.ID
	}
	return out
}

func query(t *testing.T, r timeline.Reader, q anomaly.TimelineQuery) anomaly.AnomalyPage {
	t.Helper()
	p, err := r.Query(context.Background(), q)
	if err != nil {
		t.Fatalf("Query(%+v) error %v", q, err)
	}
	return p
}

// Run runs the suite against b.
func Run(t *testing.T, b Backend) {
	open := func(t *testing.T) timeline.Timeline {
		tl := b.New(t)
		t.Cleanup(func() { tl.Close() })
		return tl
	}
	flush := func(t *testing.T, tl timeline.Timeline) {
		if b.Flush != nil {
			b.Flush(t, tl)
		}
	}
	t.Run("Fold", func(t *testing.T) { testFold(t, open(t), flush) })
	t.Run("GetUnknown", func(t *testing.T) {
		if _, err := open(t).Get(context.Background(), 42); anomaly.ErrorCode(err) != anomaly.CodeNotFound {
			t.Errorf("Get(42) on an empty timeline: error %v, want not_found", err)
		}
	})
	t.Run("Filters", func(t *testing.T) { testFilters(t, open(t), flush) })
	t.Run("InsertOutOfOrder", func(t *testing.T) {
		tl := open(t)
		Open(tl, 1, "a", 10, -1)
		Open(tl, 2, "a", 5, -1)
		Open(tl, 3, "a", 7, -1)
		Open(tl, 4, "a", 7, -1) // same start: higher id first
		if got := fmt.Sprint(IDs(query(t, tl, anomaly.TimelineQuery{}))); got != "[1 4 3 2]" {
			t.Errorf("ids = %s, want [1 4 3 2]", got)
		}
	})
	t.Run("Rejects", func(t *testing.T) { testRejects(t, open(t)) })
	t.Run("Pagination", func(t *testing.T) { testPagination(t, open(t), flush) })
	t.Run("Limits", func(t *testing.T) {
		tl := open(t)
		for i := 200; i < 200+timeline.MaxLimit+5; i++ {
			Open(tl, anomaly.ID(i), "b", i, i+1)
		}
		flush(t, tl)
		if p := query(t, tl, anomaly.TimelineQuery{Limit: timeline.MaxLimit * 10}); len(p.Anomalies) != timeline.MaxLimit {
			t.Errorf("Limit %d: got %d anomalies, want %d", timeline.MaxLimit*10, len(p.Anomalies), timeline.MaxLimit)
		}
		if p := query(t, tl, anomaly.TimelineQuery{}); len(p.Anomalies) != timeline.DefaultLimit {
			t.Errorf("Limit 0: got %d anomalies, want %d", len(p.Anomalies), timeline.DefaultLimit)
		}
	})
	t.Run("MaxID", func(t *testing.T) {
		tl := open(t)
		Open(tl, 7, "a", 1, 2)
		Open(tl, 3, "a", 3, -1)
		if got := tl.MaxID(); got != 7 {
			t.Errorf("MaxID = %d, want 7", got)
		}
	})
	t.Run("ConcurrentRecordAndQuery", func(t *testing.T) { testConcurrent(t, open(t)) })
}

func testFold(t *testing.T, m timeline.Timeline, flush func(*testing.T, timeline.Timeline)) {
	ctx := context.Background()
	m.Record(Event(anomaly.EventOpened, 7, "cpu", At(0), 0.95, 40))
	m.Record(Event(anomaly.EventUpdated, 7, "cpu", At(1), 0.999, 90))
	m.Record(Event(anomaly.EventUpdated, 7, "cpu", At(2), 0.97, 60))
	a, err := m.Get(ctx, 7)
	if err != nil {
		t.Fatalf("Get(7) error %v", err)
	}
	if !a.Open() || a.EndedAt != nil {
		t.Errorf("open anomaly: EndedAt = %v, want nil", a.EndedAt)
	}
	want := anomaly.Anomaly{ID: 7, Kind: anomaly.KindPoint, Series: "cpu", Detector: "level",
		StartedAt: At(0), PeakScore: 0.999, PeakAt: At(1), PeakValue: 90, PeakExpected: 10, Points: 3}
	if a != want {
		t.Errorf("Get(7) = %+v, want %+v", a, want)
	}
	m.Record(Event(anomaly.EventResolved, 7, "cpu", At(5), 0.1, 11))
	flush(t, m)
	a, _ = m.Get(ctx, 7)
	if a.EndedAt == nil || !a.EndedAt.Equal(At(5)) {
		t.Fatalf("resolved anomaly: EndedAt = %v, want %v", a.EndedAt, At(5))
	}
	if a.Points != 3 {
		t.Errorf("resolving point counted: Points = %d, want 3", a.Points)
	}
	// The returned value shares nothing with the timeline.
	*a.EndedAt = At(100)
	if b, _ := m.Get(ctx, 7); !b.EndedAt.Equal(At(5)) {
		t.Errorf("caller's change leaked into the timeline: EndedAt = %v", b.EndedAt)
	}
	// Updates after resolution, repeated opens and unknown ids are ignored.
	m.Record(Event(anomaly.EventUpdated, 7, "cpu", At(6), 1, 1000))
	m.Record(Event(anomaly.EventOpened, 7, "cpu", At(7), 1, 1000))
	m.Record(Event(anomaly.EventUpdated, 99, "cpu", At(6), 1, 1000))
	m.Record(Event(anomaly.EventOpened, 0, "cpu", At(6), 1, 1000))
	flush(t, m)
	if c, _ := m.Get(ctx, 7); c.Points != 3 || c.PeakScore != 0.999 || !c.StartedAt.Equal(At(0)) {
		t.Errorf("after ignored events: Points, PeakScore, StartedAt = %d, %v, %v, want 3, 0.999, %v", c.Points, c.PeakScore, c.StartedAt, At(0))
	}
	if p := query(t, m, anomaly.TimelineQuery{}); len(p.Anomalies) != 1 {
		t.Errorf("timeline holds %v, want only anomaly 7", IDs(p))
	}
	// A resolve dated before the start ends at the start; a peer outlier
	// keeps its kind.
	m.Record(anomaly.Event{Kind: anomaly.EventOpened, AnomalyID: 8, AnomalyKind: anomaly.KindPeerOutlier, Series: "p",
		At: At(10), Verdict: anomaly.Verdict{Score: 0.5}})
	m.Record(anomaly.Event{Kind: anomaly.EventResolved, AnomalyID: 8, Series: "p", At: At(9)})
	flush(t, m)
	if p, _ := m.Get(ctx, 8); p.Kind != anomaly.KindPeerOutlier || p.EndedAt == nil || !p.EndedAt.Equal(At(10)) || !p.StartedAt.Equal(At(10)) {
		t.Errorf("peer outlier resolved before its start = %+v, want kind peer_outlier from and to minute 10", p)
	}
}

func testFilters(t *testing.T, m timeline.Timeline, flush func(*testing.T, timeline.Timeline)) {
	Open(m, 1, "a", 0, 10)  // [0,10]
	Open(m, 2, "b", 5, 6)   // [5,6]
	Open(m, 3, "a", 20, -1) // [20,...)
	Open(m, 4, "b", 30, 40) // [30,40]
	Open(m, 5, "a", 50, -1) // [50,...)
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
		{anomaly.TimelineQuery{Since: At(8)}, "[5 4 3 1]"},  // 2 ended before
		{anomaly.TimelineQuery{Since: At(10)}, "[5 4 3 1]"}, // ended exactly at since
		{anomaly.TimelineQuery{Since: At(11)}, "[5 4 3]"},   // open ones always overlap
		{anomaly.TimelineQuery{Until: At(20)}, "[2 1]"},     // until is exclusive
		{anomaly.TimelineQuery{Until: At(21)}, "[3 2 1]"},
		{anomaly.TimelineQuery{Since: At(6), Until: At(31)}, "[4 3 2 1]"},
		{anomaly.TimelineQuery{Since: At(41), Until: At(50)}, "[3]"},
		{anomaly.TimelineQuery{Series: "a", Since: At(11), Until: At(50)}, "[3]"},
		{anomaly.TimelineQuery{Limit: 2}, "[5 4]"},
	}
	check := func(stage string) {
		for _, c := range cases {
			if got := fmt.Sprint(IDs(query(t, m, c.q))); got != c.want {
				t.Errorf("%s: Query(%+v) ids = %s, want %s", stage, c.q, got, c.want)
			}
		}
	}
	check("recorded")
	flush(t, m)
	check("flushed")
}

func testRejects(t *testing.T, m timeline.Timeline) {
	cases := []struct {
		q     anomaly.TimelineQuery
		field string
	}{
		{anomaly.TimelineQuery{State: "closed"}, "state"},
		{anomaly.TimelineQuery{Cursor: "not a cursor"}, "cursor"},
		{anomaly.TimelineQuery{Cursor: timeline.EncodeCursor(t0, 1)[:5]}, "cursor"},
		{anomaly.TimelineQuery{Since: At(5), Until: At(5)}, "since"},
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

// testPagination pages with limit 3, half the anomalies flushed, with
// anomalies opening between pages (newer and older than the cursor): they
// neither repeat nor skip entries of later pages, and the cursors are the
// shared codec's.
func testPagination(t *testing.T, m timeline.Timeline, flush func(*testing.T, timeline.Timeline)) {
	for i := 1; i <= 7; i++ {
		Open(m, anomaly.ID(i), "a", i, i+1)
		if i == 4 {
			flush(t, m)
		}
	}
	var got []anomaly.ID
	var cursors []string
	q := anomaly.TimelineQuery{Limit: 3}
	for pages := 1; ; pages++ {
		p := query(t, m, q)
		got = append(got, IDs(p)...)
		cursors = append(cursors, p.NextCursor)
		if p.NextCursor == "" {
			break
		}
		if pages == 1 {
			Open(m, 100, "a", 100, -1)
			Open(m, 101, "a", 0, -1)
		}
		q.Cursor = p.NextCursor
	}
	if s := fmt.Sprint(got); s != "[7 6 5 4 3 2 1 101]" {
		t.Errorf("paged ids = %s, want [7 6 5 4 3 2 1 101]", s)
	}
	if len(cursors) != 3 || cursors[2] != "" {
		t.Errorf("cursors = %q, want 3 pages", cursors)
	}
	if want := timeline.EncodeCursor(At(5), 5); cursors[0] != want {
		t.Errorf("first cursor = %q, want %q", cursors[0], want)
	}
	// A limit that ends exactly at the last match gives no cursor.
	if p := query(t, m, anomaly.TimelineQuery{Limit: 9}); len(p.Anomalies) != 9 || p.NextCursor != "" {
		t.Errorf("Limit 9 of 9: got %d anomalies, cursor %q, want 9 and none", len(p.Anomalies), p.NextCursor)
	}
}

// RecordConcurrently records, from writers goroutines at once, per
// anomalies each (ids w*1000+i+1, series "s<w>"): opened, updated to score
// 0.95, and every second one resolved. It returns at once; wait on wg.
func RecordConcurrently(wg *sync.WaitGroup, r timeline.Recorder, writers, per int) {
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				id := anomaly.ID(w*1000 + i + 1)
				s := fmt.Sprintf("s%d", w)
				r.Record(Event(anomaly.EventOpened, id, s, At(i), 0.9, 1))
				r.Record(Event(anomaly.EventUpdated, id, s, At(i), 0.95, 2))
				if i%2 == 0 {
					r.Record(Event(anomaly.EventResolved, id, s, At(i+1), 0.1, 1))
				}
			}
		}()
	}
}

func testConcurrent(t *testing.T, m timeline.Timeline) {
	var wg sync.WaitGroup
	const writers, per = 4, 500
	RecordConcurrently(&wg, m, writers, per)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 30 {
			q := anomaly.TimelineQuery{Limit: 50}
			if i%3 == 1 {
				q.Series = "s1"
			}
			seen := map[anomaly.ID]bool{}
			for {
				p, err := m.Query(context.Background(), q)
				if err != nil {
					t.Errorf("Query: %v", err)
					return
				}
				for j, a := range p.Anomalies {
					if seen[a.ID] {
						t.Errorf("anomaly %s repeated while paging", a.ID)
					}
					seen[a.ID] = true
					if j > 0 {
						b := p.Anomalies[j-1]
						if a.StartedAt.After(b.StartedAt) || (a.StartedAt.Equal(b.StartedAt) && a.ID > b.ID) {
							t.Errorf("page out of order: %s before %s", b.ID, a.ID)
						}
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
	var n, open int
	q := anomaly.TimelineQuery{Limit: timeline.MaxLimit}
	for {
		p := query(t, m, q)
		for _, a := range p.Anomalies {
			n++
			if a.Open() {
				open++
				if a.Points != 2 || a.PeakScore != 0.95 {
					t.Errorf("anomaly %s: Points, PeakScore = %d, %v, want 2, 0.95", a.ID, a.Points, a.PeakScore)
				}
			}
		}
		if p.NextCursor == "" {
			break
		}
		q.Cursor = p.NextCursor
	}
	if n != writers*per || open != writers*per/2 {
		t.Errorf("after the writers: %d anomalies, %d open, want %d and %d", n, open, writers*per, writers*per/2)
	}
}
