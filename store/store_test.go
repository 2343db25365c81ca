package store

import (
	"context"
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
	"github.com/anomalyd/detector/timeline/timelinetest"
)

var (
	t0    = timelinetest.At(0)
	at    = timelinetest.At
	event = timelinetest.Event
	open  = timelinetest.Open
	ids   = timelinetest.IDs
)

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
		{State: timeline.State{A: anomaly.Anomaly{ID: 1, Kind: anomaly.KindPoint, Series: `cpu{host="a"}`, Detector: "level",
			StartedAt: at(1), PeakScore: 0.99, PeakAt: at(2), PeakValue: -3.5, PeakExpected: 1e300, Points: 7}}},
		{State: timeline.State{A: anomaly.Anomaly{ID: 2, Kind: anomaly.KindPeerOutlier, Series: "", StartedAt: at(-1e6).Add(123),
			PeakAt: at(3)}, End: end}, resolvedAt: time.Date(2026, 11, 1, 2, 3, 4, 5, time.UTC)},
		{State: timeline.State{A: anomaly.Anomaly{ID: 3}}}, // zero times
	}
	for _, r := range cases {
		b := appendRecord(nil, &r)
		got, err := decodeRecord(r.A.ID, b)
		if err != nil {
			t.Fatalf("decodeRecord(appendRecord(%+v)) error %v", r, err)
		}
		if !reflect.DeepEqual(got, r) {
			t.Errorf("decodeRecord(appendRecord(r)) = %+v, want %+v", got, r)
		}
		// Every truncation is an error, not a panic.
		for n := 0; n < len(b); n++ {
			if _, err := decodeRecord(r.A.ID, b[:n]); err == nil {
				t.Errorf("decodeRecord(%d of %d bytes) = nil error, want one", n, len(b))
			}
		}
	}
}

// TestQuerySemantics runs timeline.Memory's filter table against Memory
// and against the store, with the anomalies pending in memory, written to
// disk, and read back after a reopen.
// TestQueryOverlay: the anomalies held in memory (open, or changed and
// not written) are merged with the file's, and the memory copy wins; what
// was written survives a reopen. (The query semantics themselves are the
// conformance suite's.)
func TestQueryOverlay(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{})
	open(s, 1, "a", 0, 10)  // [0,10]
	open(s, 2, "b", 5, 6)   // [5,6]
	open(s, 3, "a", 20, -1) // [20,...)
	open(s, 4, "b", 30, 40) // [30,40]
	open(s, 5, "a", 50, -1) // [50,...)
	syncStore(t, s)
	s.mu.RLock()
	live := len(s.live)
	s.mu.RUnlock()
	if live != 2 {
		t.Errorf("after Sync: %d anomalies held in memory, want the 2 open ones", live)
	}
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
	// A real store with one page in its middle overwritten.
	scribbled := filepath.Join(dir, "scribbled")
	os.Mkdir(scribbled, 0o700)
	s = openStore(t, scribbled, Options{})
	for i := 1; i <= 3000; i++ {
		open(s, anomaly.ID(i), fmt.Sprintf("series-%d", i), i, i+1)
	}
	s.Close()
	scribbledFile := filepath.Join(scribbled, FileName)
	f, err := os.OpenFile(scribbledFile, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ = f.Stat()
	page := int64(os.Getpagesize())
	if _, err := f.WriteAt([]byte(strings.Repeat("\xff", int(page))), (fi.Size()/2/page)*page); err != nil {
		t.Fatal(err)
	}
	f.Close()
	for _, path := range []string{garbage, short, cutFile, scribbledFile} {
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
	_, err = Open(locked.path, Options{OpenTimeout: 50 * time.Millisecond, Logger: quiet()})
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

// TestConcurrentRecordKeepsBound: concurrent writers while the writer
// goroutine flushes and enforces the count bound; order and folding under
// concurrency are the conformance suite's (also run with continuous
// flushes).
func TestConcurrentRecordKeepsBound(t *testing.T) {
	s := openStore(t, t.TempDir(), Options{FlushInterval: time.Millisecond, FlushAnomalies: 16, MaxAnomalies: 1500})
	var wg sync.WaitGroup
	timelinetest.RecordConcurrently(&wg, s, 4, 500)
	wg.Wait()
	syncStore(t, s)
	got := all(t, s, anomaly.TimelineQuery{Limit: timeline.MaxLimit})
	open := 0
	for _, a := range got {
		if a.Open() {
			open++
		}
	}
	// 2000 anomalies, 1000 open: the bound of 1500 removed 500 resolved ones.
	if len(got) != 1500 || open != 1000 {
		t.Errorf("after the writers: %d anomalies, %d open, want 1500 and 1000", len(got), open)
	}
}
