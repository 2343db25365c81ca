package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/peers"
	"github.com/anomalyd/detector/timeline"
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

// backend is what the tests run against both timeline.Memory and Store.
type backend interface {
	timeline.Recorder
	timeline.Reader
}

// open records an anomaly that opens at minute start and, when end >= 0,
// resolves at minute end.
func open(m timeline.Recorder, id anomaly.ID, series string, start, end int) {
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

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// openStore opens a store in dir that writes only when asked (Sync,
// Close), so that tests decide what is on disk.
func openStore(t testing.TB, dir string, o Options) *Store {
	t.Helper()
	if o.FlushInterval == 0 {
		o.FlushInterval = time.Hour
	}
	if o.RetentionInterval == 0 {
		o.RetentionInterval = time.Hour
	}
	if o.Logger == nil {
		o.Logger = quiet()
	}
	s, err := Open(filepath.Join(dir, FileName), o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func syncStore(t testing.TB, s *Store) {
	t.Helper()
	if err := s.Sync(context.Background()); err != nil {
		t.Fatalf("Sync: %v", err)
	}
}

func query(t testing.TB, m timeline.Reader, q anomaly.TimelineQuery) anomaly.AnomalyPage {
	t.Helper()
	p, err := m.Query(context.Background(), q)
	if err != nil {
		t.Fatalf("Query(%+v) error %v", q, err)
	}
	return p
}

// all pages through the whole timeline.
func all(t testing.TB, m timeline.Reader, q anomaly.TimelineQuery) []anomaly.Anomaly {
	t.Helper()
	var out []anomaly.Anomaly
	for {
		p := query(t, m, q)
		out = append(out, p.Anomalies...)
		if p.NextCursor == "" {
			return out
		}
		q.Cursor = p.NextCursor
	}
}

func TestCodecRoundTrip(t *testing.T) {
	end := at(9)
	cases := []record{
		{a: anomaly.Anomaly{ID: 1, Kind: anomaly.KindPoint, Series: `cpu{host="a"}`, Detector: "level",
			StartedAt: at(1), PeakScore: 0.99, PeakAt: at(2), PeakValue: -3.5, PeakExpected: 1e300, Points: 7}},
		{a: anomaly.Anomaly{ID: 2, Kind: anomaly.KindPeerOutlier, Series: "", StartedAt: at(-1e6).Add(123),
			PeakAt: at(3)}, end: end, resolvedAt: time.Date(2026, 11, 1, 2, 3, 4, 5, time.UTC)},
		{a: anomaly.Anomaly{ID: 3}}, // zero times
	}
	for _, r := range cases {
		b := appendRecord(nil, &r)
		got, err := decodeRecord(r.a.ID, b)
		if err != nil {
			t.Fatalf("decodeRecord(appendRecord(%+v)) error %v", r, err)
		}
		if !reflect.DeepEqual(got, r) {
			t.Errorf("decodeRecord(appendRecord(r)) = %+v, want %+v", got, r)
		}
		// Every truncation is an error, not a panic.
		for n := 0; n < len(b); n++ {
			if _, err := decodeRecord(r.a.ID, b[:n]); err == nil {
				t.Errorf("decodeRecord(%d of %d bytes) = nil error, want one", n, len(b))
			}
		}
	}
}

// TestQuerySemantics runs timeline.Memory's filter table against Memory
// and against the store, with the anomalies pending in memory, written to
// disk, and read back after a reopen.
func TestQuerySemantics(t *testing.T) {
	fill := func(m timeline.Recorder) {
		open(m, 1, "a", 0, 10)  // [0,10]
		open(m, 2, "b", 5, 6)   // [5,6]
		open(m, 3, "a", 20, -1) // [20,...)
		open(m, 4, "b", 30, 40) // [30,40]
		open(m, 5, "a", 50, -1) // [50,...)
	}
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
		{anomaly.TimelineQuery{Since: at(8)}, "[5 4 3 1]"},
		{anomaly.TimelineQuery{Since: at(10)}, "[5 4 3 1]"},
		{anomaly.TimelineQuery{Since: at(11)}, "[5 4 3]"},
		{anomaly.TimelineQuery{Until: at(20)}, "[2 1]"},
		{anomaly.TimelineQuery{Until: at(21)}, "[3 2 1]"},
		{anomaly.TimelineQuery{Since: at(6), Until: at(31)}, "[4 3 2 1]"},
		{anomaly.TimelineQuery{Since: at(41), Until: at(50)}, "[3]"},
		{anomaly.TimelineQuery{Series: "a", Since: at(11), Until: at(50)}, "[3]"},
		{anomaly.TimelineQuery{Limit: 2}, "[5 4]"},
	}
	check := func(t *testing.T, name string, m backend) {
		for _, c := range cases {
			if got := fmt.Sprint(ids(query(t, m, c.q))); got != c.want {
				t.Errorf("%s: Query(%+v) ids = %s, want %s", name, c.q, got, c.want)
			}
		}
	}
	mem := timeline.NewMemory(100)
	fill(mem)
	check(t, "memory", mem)

	dir := t.TempDir()
	s := openStore(t, dir, Options{})
	fill(s)
	check(t, "pending", s)
	syncStore(t, s)
	s.mu.RLock()
	live := len(s.live)
	s.mu.RUnlock()
	if live != 2 {
		t.Errorf("after Sync: %d anomalies held in memory, want the 2 open ones", live)
	}
	check(t, "written", s)
	// Resolve one open anomaly without writing: the memory copy must win
	// over the database's open one.
	s.Record(event(anomaly.EventResolved, 3, "a", at(45), 0.1, 10))
	if got := fmt.Sprint(ids(query(t, s, anomaly.TimelineQuery{State: "open"}))); got != "[5]" {
		t.Errorf("resolved in memory: open ids = %s, want [5]", got)
	}
	if got := fmt.Sprint(ids(query(t, s, anomaly.TimelineQuery{Since: at(46)}))); got != "[5]" {
		t.Errorf("resolved in memory: since 46 ids = %s, want [5]", got)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s = openStore(t, dir, Options{})
	if got := fmt.Sprint(ids(query(t, s, anomaly.TimelineQuery{State: "resolved"}))); got != "[4 3 2 1]" {
		t.Errorf("reopened: resolved ids = %s, want [4 3 2 1]", got)
	}
}

func TestQueryRejects(t *testing.T) {
	s := openStore(t, t.TempDir(), Options{})
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
		_, err := s.Query(context.Background(), c.q)
		var e *anomaly.Error
		if !errors.As(err, &e) || e.Code != anomaly.CodeInvalidArgument || e.Field != c.field {
			t.Errorf("Query(%+v) error = %v, want invalid_argument on field %q", c.q, err, c.field)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Query(ctx, anomaly.TimelineQuery{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Query with cancelled context: error %v, want context.Canceled", err)
	}
	if _, err := s.Get(context.Background(), 42); anomaly.ErrorCode(err) != anomaly.CodeNotFound {
		t.Errorf("Get(42) on empty store: error %v, want not_found", err)
	}
}

// TestPagination pages with limit 3 over anomalies half on disk, half in
// memory, with anomalies opening between pages, and checks that the
// result and the cursors equal Memory's.
func TestPagination(t *testing.T) {
	mem := timeline.NewMemory(1000)
	s := openStore(t, t.TempDir(), Options{})
	for i := 1; i <= 7; i++ {
		open(mem, anomaly.ID(i), "a", i, i+1)
		open(s, anomaly.ID(i), "a", i, i+1)
		if i == 4 {
			syncStore(t, s)
		}
	}
	for _, m := range []backend{mem, s} {
		var got []anomaly.ID
		var cursors []string
		q := anomaly.TimelineQuery{Limit: 3}
		for pages := 1; ; pages++ {
			p := query(t, m, q)
			got = append(got, ids(p)...)
			cursors = append(cursors, p.NextCursor)
			if p.NextCursor == "" {
				break
			}
			if pages == 1 {
				open(m, 100, "a", 100, -1)
				open(m, 101, "a", 0, -1)
			}
			q.Cursor = p.NextCursor
		}
		if s := fmt.Sprint(got); s != "[7 6 5 4 3 2 1 101]" {
			t.Errorf("%T: paged ids = %s, want [7 6 5 4 3 2 1 101]", m, s)
		}
		if len(cursors) != 3 || cursors[2] != "" {
			t.Errorf("%T: cursors = %q, want 3 pages", m, cursors)
		}
		// The cursor is the same opaque value as Memory's.
		if want := encodeCursor(at(5), 5); cursors[0] != want {
			t.Errorf("%T: first cursor = %q, want %q", m, cursors[0], want)
		}
		if p := query(t, m, anomaly.TimelineQuery{Limit: 9}); len(p.Anomalies) != 9 || p.NextCursor != "" {
			t.Errorf("%T: Limit 9 of 9: got %d anomalies, cursor %q, want 9 and none", m, len(p.Anomalies), p.NextCursor)
		}
	}
	for i := 200; i < 200+timeline.MaxLimit+5; i++ {
		open(s, anomaly.ID(i), "b", i, i+1)
	}
	syncStore(t, s)
	if p := query(t, s, anomaly.TimelineQuery{Limit: timeline.MaxLimit * 10}); len(p.Anomalies) != timeline.MaxLimit {
		t.Errorf("Limit %d: got %d anomalies, want %d", timeline.MaxLimit*10, len(p.Anomalies), timeline.MaxLimit)
	}
	if p := query(t, s, anomaly.TimelineQuery{}); len(p.Anomalies) != timeline.DefaultLimit {
		t.Errorf("Limit 0: got %d anomalies, want %d", len(p.Anomalies), timeline.DefaultLimit)
	}
}

// record writes a mix of events: resolved anomalies, open ones with
// updated peaks, peer outliers, some written before later updates.
func recordMix(t *testing.T, s *Store) {
	for i := 1; i <= 40; i++ {
		id := anomaly.ID(i)
		series := fmt.Sprintf(`cpu{host="h%d"}`, i%4)
		ev := event(anomaly.EventOpened, id, series, at(i), 0.9, 50)
		if i%5 == 0 {
			ev.AnomalyKind = anomaly.KindPeerOutlier
		}
		s.Record(ev)
		s.Record(event(anomaly.EventUpdated, id, series, at(i).Add(time.Second), 0.95, 60))
		if i == 20 {
			syncStore(t, s)
		}
		if i%3 != 0 {
			s.Record(event(anomaly.EventResolved, id, series, at(i+2), 0.1, 10))
		}
	}
	// Updates to anomalies already written: a new peak, a lower score.
	s.Record(event(anomaly.EventUpdated, 3, `cpu{host="h3"}`, at(50), 0.999, 99))
	s.Record(event(anomaly.EventUpdated, 6, `cpu{host="h2"}`, at(50), 0.5, 1))
}

func TestReopenKeepsTimeline(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{})
	recordMix(t, s)
	before := all(t, s, anomaly.TimelineQuery{Limit: 7})
	if len(before) != 40 {
		t.Fatalf("before reopen: %d anomalies, want 40", len(before))
	}
	a3, _ := s.Get(context.Background(), 3)
	if a3.PeakScore != 0.999 || a3.Points != 3 || !a3.PeakAt.Equal(at(50)) || a3.EndedAt != nil {
		t.Fatalf("Get(3) before reopen = %+v, want open, peak 0.999 at %v, 3 points", a3, at(50))
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s = openStore(t, dir, Options{})
	after := all(t, s, anomaly.TimelineQuery{Limit: 7})
	if !reflect.DeepEqual(after, before) {
		t.Errorf("after reopen the timeline differs:\n got %+v\nwant %+v", after, before)
	}
	for _, a := range before {
		got, err := s.Get(context.Background(), a.ID)
		if err != nil || !reflect.DeepEqual(got, a) {
			t.Errorf("Get(%s) after reopen = %+v, %v, want %+v", a.ID, got, err, a)
		}
	}
	for _, q := range []anomaly.TimelineQuery{{State: "open"}, {Series: `cpu{host="h1"}`}, {Since: at(30)}} {
		if got := len(query(t, s, q).Anomalies); got == 0 {
			t.Errorf("Query(%+v) after reopen: no anomalies", q)
		}
	}
	if id := s.MaxID(); id != 40 {
		t.Errorf("MaxID() after reopen = %d, want 40", id)
	}
	// Open anomalies keep folding events after the restart.
	s.Record(event(anomaly.EventResolved, 3, `cpu{host="h3"}`, at(60), 0.1, 10))
	s.Record(event(anomaly.EventUpdated, 1, `cpu{host="h1"}`, at(60), 1, 10)) // resolved before: ignored
	syncStore(t, s)
	if a, _ := s.Get(context.Background(), 3); a.EndedAt == nil || !a.EndedAt.Equal(at(60)) {
		t.Errorf("Get(3) after resolving = %+v, want ended at %v", a, at(60))
	}
	if a, _ := s.Get(context.Background(), 1); a.Points != 2 {
		t.Errorf("Get(1) after an update past its end: Points = %d, want 2", a.Points)
	}
}

func TestRepeatedOpenIgnored(t *testing.T) {
	s := openStore(t, t.TempDir(), Options{})
	open(s, 7, "cpu", 0, 5)
	syncStore(t, s)
	s.Record(event(anomaly.EventOpened, 7, "cpu", at(9), 1, 1000)) // already stored and resolved
	syncStore(t, s)
	a, err := s.Get(context.Background(), 7)
	if err != nil || a.EndedAt == nil || !a.StartedAt.Equal(at(0)) || a.PeakValue != 50 {
		t.Errorf("Get(7) after a repeated open = %+v, %v, want the first anomaly", a, err)
	}
	if got := fmt.Sprint(ids(query(t, s, anomaly.TimelineQuery{}))); got != "[7]" {
		t.Errorf("ids = %s, want [7]", got)
	}
}

func TestRetentionByAge(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	s := openStore(t, dir, Options{Retention: 24 * time.Hour, Now: clock})
	open(s, 1, "a", 0, 1)  // resolved now
	open(s, 2, "a", 2, -1) // open
	open(s, 3, "b", 3, 4)  // resolved now
	open(s, 4, "b", 5, -1) // open, resolved later
	syncStore(t, s)
	s.Close()

	now = now.Add(12 * time.Hour)
	s = openStore(t, dir, Options{Retention: 24 * time.Hour, Now: clock})
	s.Record(event(anomaly.EventResolved, 4, "b", at(6), 0.1, 1))
	syncStore(t, s)
	s.Close()

	now = now.Add(13 * time.Hour) // 25 h after the first resolutions, 13 h after the last
	s = openStore(t, dir, Options{Retention: 24 * time.Hour, Now: clock})
	if got := fmt.Sprint(ids(query(t, s, anomaly.TimelineQuery{}))); got != "[4 2]" {
		t.Errorf("after retention: ids = %s, want [4 2] (resolved 25 h ago deleted, open kept)", got)
	}
	if got := fmt.Sprint(ids(query(t, s, anomaly.TimelineQuery{Series: "b"}))); got != "[4]" {
		t.Errorf("after retention: series b ids = %s, want [4]", got)
	}
	if _, err := s.Get(context.Background(), 1); anomaly.ErrorCode(err) != anomaly.CodeNotFound {
		t.Errorf("Get(1) after retention: error %v, want not_found", err)
	}
	if n := s.stats.deletedAge.Load(); n != 2 {
		t.Errorf("deleted by age = %d, want 2", n)
	}
	if id := s.MaxID(); id != 4 {
		t.Errorf("MaxID() = %d, want 4", id)
	}
}

func TestRetentionByCount(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{MaxAnomalies: 3})
	open(s, 1, "a", 0, -1) // oldest, open: kept
	open(s, 2, "a", 1, 2)  // oldest resolved
	open(s, 3, "a", 3, 4)
	open(s, 4, "a", 5, -1)
	open(s, 5, "a", 6, 7)
	syncStore(t, s) // 5 stored, bound 3: 2 and 3 go
	if got := fmt.Sprint(ids(query(t, s, anomaly.TimelineQuery{}))); got != "[5 4 1]" {
		t.Errorf("after count retention: ids = %s, want [5 4 1]", got)
	}
	open(s, 6, "a", 8, -1)
	open(s, 7, "a", 9, -1)
	syncStore(t, s) // 5 stored, only 5 is resolved: it goes; open ones stay over the bound
	if got := fmt.Sprint(ids(query(t, s, anomaly.TimelineQuery{}))); got != "[7 6 4 1]" {
		t.Errorf("only open left: ids = %s, want [7 6 4 1]", got)
	}
	if n := s.stats.deletedCount.Load(); n != 3 {
		t.Errorf("deleted by count = %d, want 3", n)
	}
	s.Close()
	// Enforced on open with a lower bound.
	s = openStore(t, dir, Options{MaxAnomalies: 1})
	if got := fmt.Sprint(ids(query(t, s, anomaly.TimelineQuery{}))); got != "[7 6 4 1]" {
		t.Errorf("reopened with bound 1: ids = %s, want [7 6 4 1] (all open)", got)
	}
	if id := s.MaxID(); id != 7 {
		t.Errorf("MaxID() = %d, want 7", id)
	}
}

func TestMaxIDSurvivesDeletion(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	s := openStore(t, dir, Options{Retention: time.Hour, Now: clock})
	open(s, 41, "a", 0, 1)
	open(s, 42, "a", 1, 2)
	s.Close()
	now = now.Add(2 * time.Hour)
	s = openStore(t, dir, Options{Retention: time.Hour, Now: clock})
	if n := len(query(t, s, anomaly.TimelineQuery{}).Anomalies); n != 0 {
		t.Fatalf("after retention: %d anomalies, want 0", n)
	}
	if id := s.MaxID(); id != 42 {
		t.Errorf("MaxID() with every anomaly deleted = %d, want 42", id)
	}
	// An id recorded but dropped (queue full) still counts.
	s.Close()
	s = openStore(t, dir, Options{MaxPending: 1})
	open(s, 50, "a", 0, -1)
	open(s, 51, "a", 0, -1) // dropped
	if d := s.stats.dropped.Load(); d != 1 {
		t.Errorf("dropped = %d, want 1", d)
	}
	s.Close()
	s = openStore(t, dir, Options{})
	if id := s.MaxID(); id != 51 {
		t.Errorf("MaxID() after a dropped open = %d, want 51", id)
	}
}

func TestQueueBound(t *testing.T) {
	s := openStore(t, t.TempDir(), Options{MaxPending: 2})
	open(s, 1, "a", 0, -1)
	open(s, 2, "a", 1, -1)
	open(s, 3, "a", 2, -1) // dropped: 2 pending
	s.Record(event(anomaly.EventUpdated, 1, "a", at(3), 1, 99))
	s.Record(event(anomaly.EventResolved, 2, "a", at(4), 0, 1))
	if got := fmt.Sprint(ids(query(t, s, anomaly.TimelineQuery{}))); got != "[2 1]" {
		t.Errorf("ids = %s, want [2 1]", got)
	}
	if a, _ := s.Get(context.Background(), 1); a.PeakValue != 99 {
		t.Errorf("update to a held anomaly while full: PeakValue = %v, want 99", a.PeakValue)
	}
	if d := s.stats.dropped.Load(); d != 1 {
		t.Errorf("dropped = %d, want 1", d)
	}
	syncStore(t, s)
	open(s, 4, "a", 5, -1) // room again
	if _, err := s.Get(context.Background(), 4); err != nil {
		t.Errorf("Get(4) after the queue drained: %v", err)
	}
}

func TestRulesRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{})
	ctx := context.Background()
	if got, err := s.LoadRules(ctx); err != nil || len(got) != 0 {
		t.Fatalf("LoadRules on a new store = %v, %v, want none", got, err)
	}
	eps := 0.25
	rules := []peers.Rule{
		{Name: "web", Match: `cpu{app="web"}`, GroupBy: []string{"dc"}, Member: "host", Window: 30,
			Step: time.Minute, Eps: &eps, MinPts: 3, Tolerance: 3, MinMembers: 3},
		{Name: "api", Match: "latency", GroupBy: []string{}, Window: 10, Step: 30 * time.Second, Tolerance: 2, MinMembers: 4},
	}
	if err := s.SaveRules(ctx, rules); err != nil {
		t.Fatalf("SaveRules: %v", err)
	}
	s.Close()
	s = openStore(t, dir, Options{})
	got, err := s.LoadRules(ctx)
	if err != nil || !reflect.DeepEqual(got, rules) {
		t.Errorf("LoadRules after reopen = %+v, %v, want %+v", got, err, rules)
	}
	if err := s.SaveRules(ctx, rules[1:]); err != nil {
		t.Fatalf("SaveRules: %v", err)
	}
	if got, _ := s.LoadRules(ctx); !reflect.DeepEqual(got, rules[1:]) {
		t.Errorf("LoadRules after removing one = %+v, want %+v", got, rules[1:])
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, []byte(strings.Repeat("not a database ", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	short := filepath.Join(dir, "short.db")
	if err := os.WriteFile(short, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A real store cut in half.
	cut := filepath.Join(dir, "cut")
	os.Mkdir(cut, 0o700)
	s := openStore(t, cut, Options{})
	for i := 1; i <= 3000; i++ {
		open(s, anomaly.ID(i), fmt.Sprintf("series-%d", i), i, i+1)
	}
	s.Close()
	cutFile := filepath.Join(cut, FileName)
	fi, _ := os.Stat(cutFile)
	if err := os.Truncate(cutFile, fi.Size()/2); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{garbage, short, cutFile} {
		s, err := Open(path, Options{Logger: quiet()})
		if err == nil {
			s.Close()
			t.Errorf("Open(%s) = nil error, want one", filepath.Base(path))
			continue
		}
		t.Logf("Open(%s): %v", filepath.Base(path), err)
		if !strings.Contains(err.Error(), path) {
			t.Errorf("Open(%s) error %q does not name the file", filepath.Base(path), err)
		}
	}

	// A second opener of a locked file gives up quickly with a clear error.
	locked := openStore(t, t.TempDir(), Options{})
	_, err := Open(locked.path, Options{OpenTimeout: 50 * time.Millisecond, Logger: quiet()})
	t.Logf("Open of a locked file: %v", err)
	if err == nil || !strings.Contains(err.Error(), "locked") {
		t.Errorf("Open of a locked file: error %v, want one saying it is locked", err)
	}
}

func TestClosed(t *testing.T) {
	s := openStore(t, t.TempDir(), Options{})
	open(s, 1, "a", 0, -1)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	open(s, 2, "a", 0, -1)
	if _, err := s.Query(context.Background(), anomaly.TimelineQuery{}); anomaly.ErrorCode(err) != anomaly.CodeUnavailable {
		t.Errorf("Query after Close: error %v, want unavailable", err)
	}
	if err := s.Sync(context.Background()); err == nil {
		t.Errorf("Sync after Close = nil, want an error")
	}
}

func TestConcurrentRecordAndQuery(t *testing.T) {
	s := openStore(t, t.TempDir(), Options{FlushInterval: time.Millisecond, FlushAnomalies: 16, MaxAnomalies: 1500})
	var wg sync.WaitGroup
	const writers, per = 4, 500
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < per; i++ {
				id := anomaly.ID(w*1000 + i + 1)
				sr := fmt.Sprintf("s%d", w)
				s.Record(event(anomaly.EventOpened, id, sr, at(i), 0.9, 1))
				s.Record(event(anomaly.EventUpdated, id, sr, at(i), 0.95, 2))
				if i%2 == 0 {
					s.Record(event(anomaly.EventResolved, id, sr, at(i+1), 0.1, 1))
				}
			}
		}(w)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 30; i++ {
			q := anomaly.TimelineQuery{Limit: 50}
			if i%3 == 1 {
				q.Series = "s1"
			}
			seen := map[anomaly.ID]bool{}
			for {
				p, err := s.Query(context.Background(), q)
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
	syncStore(t, s)
	got := all(t, s, anomaly.TimelineQuery{Limit: timeline.MaxLimit})
	open := 0
	for _, a := range got {
		if a.Open() {
			open++
			if a.Points != 2 || a.PeakScore != 0.95 {
				t.Errorf("anomaly %s: Points, PeakScore = %d, %v, want 2, 0.95", a.ID, a.Points, a.PeakScore)
			}
		}
	}
	// 2000 anomalies, 1000 open: the bound of 1500 removed 500 resolved ones.
	if len(got) != 1500 || open != 1000 {
		t.Errorf("after the writers: %d anomalies, %d open, want 1500 and 1000", len(got), open)
	}
}
