package service

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/eventlog"
)

// spiky returns batches, each of its own series name{k="…"} at one point
// a minute from start: 60 steady points to learn from, one spike and four
// normal points, which open, update and resolve one anomaly.
func spiky(name string, start time.Time, batches int) [][]anomaly.Sample {
	var out [][]anomaly.Sample
	for k := range batches {
		series := fmt.Sprintf(`%s{k="%d"}`, name, k)
		ts := start
		var b []anomaly.Sample
		for i := range 65 {
			ts = ts.Add(time.Minute)
			v := 100 + float64(i%5)
			if i == 60 {
				v = 1000
			}
			b = append(b, anomaly.Sample{Series: series, TimestampMs: ts.UnixMilli(), Value: v})
		}
		out = append(out, b)
	}
	return out
}

func ingestAll(t *testing.T, w *Writer, batches [][]anomaly.Sample) []time.Duration {
	t.Helper()
	var took []time.Duration
	for _, b := range batches {
		start := time.Now()
		res, err := w.Ingest(context.Background(), b)
		took = append(took, time.Since(start))
		if err != nil || res.Rejected != 0 {
			t.Fatalf("Ingest = %+v, %v", res, err)
		}
	}
	return took
}

func median(d []time.Duration) time.Duration {
	d = slices.Clone(d)
	slices.Sort(d)
	return d[len(d)/2]
}

// TestStuckSubscriberDoesNotSlowIngest: a subscriber whose handler blocks
// (for 10 s, or until the test is done) does not hold up ingest. Every
// batch of the second phase, each appending events, is answered while
// the subscriber is still blocked; the timeline, another subscriber, keeps
// up; the stuck one lags by every event of the phase. Latencies of both
// phases are logged, not judged against the clock.
func TestStuckSubscriberDoesNotSlowIngest(t *testing.T) {
	s := openMemory(t, Config{})
	start := time.Now().Add(-24 * time.Hour)
	ref := ingestAll(t, s.Writer(), spiky("a", start, 50))

	release := make(chan struct{})
	var blocked, released sync.WaitGroup
	blocked.Add(1)
	released.Add(1)
	var once sync.Once
	s.Subscribe("stuck", func(ctx context.Context, _ []eventlog.Entry) error {
		once.Do(func() {
			blocked.Done()
			select {
			case <-release:
			case <-time.After(10 * time.Second):
			case <-ctx.Done():
			}
			released.Done()
		})
		return nil
	}, eventlog.RunOptions{})
	blocked.Wait() // the subscriber is inside its handler
	before := s.Events().Last()
	stuckDone := make(chan struct{})
	go func() { released.Wait(); close(stuckDone) }()

	during := ingestAll(t, s.Writer(), spiky("b", start, 50))
	select {
	case <-stuckDone:
		t.Log("the subscriber's 10 s ran out before the phase ended (a very slow machine): the phase is still judged by its events")
	default:
	}
	after := s.Events().Last()
	if after-before < 50 {
		t.Fatalf("the phase appended %d events, want at least 50", after-before)
	}
	// The timeline folded the phase's events although another subscriber
	// is stuck.
	page, err := s.Timeline().Query(context.Background(), anomaly.TimelineQuery{Since: start, Limit: 1000})
	if err != nil || len(page.Anomalies) < 100 {
		t.Fatalf("timeline of the phase = %d anomalies, %v; want its anomalies", len(page.Anomalies), err)
	}
	if cur, _ := s.Cursors().Load("stuck"); after-cur < after-before {
		t.Errorf("stuck subscriber's cursor = %d, want at most %d (it has not handled the phase)", cur, before)
	}
	t.Logf("median ingest latency: %v with every subscriber keeping up, %v with one stuck (%d events appended meanwhile)",
		median(ref), median(during), after-before)
	close(release)
}

// TestSubscriberResumesAfterRestart: with a data directory, a subscriber
// that runs, stops with the service and starts again with it receives
// every event exactly once, in sequence order, the ones appended after
// the restart included.
func TestSubscriberResumesAfterRestart(t *testing.T) {
	dir := t.TempDir()
	var mu sync.Mutex
	var seen []uint64
	points := map[anomaly.ID]int{} // opened and updated events by anomaly
	hook := func(_ context.Context, b []eventlog.Entry) error {
		mu.Lock()
		defer mu.Unlock()
		for _, e := range b {
			seen = append(seen, e.Seq)
			if e.Event.Kind != anomaly.EventResolved {
				points[e.Event.AnomalyID]++
			}
		}
		return nil
	}
	caughtUp := func(s *Service) {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(5 * time.Millisecond) {
			mu.Lock()
			done := len(seen) > 0 && seen[len(seen)-1] == s.Events().Last()
			mu.Unlock()
			if done {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("subscriber did not reach event %d", s.Events().Last())
			}
		}
	}
	start := time.Now().Add(-24 * time.Hour)
	batches := spiky("a", start, 40)

	s, err := Open(Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	s.Subscribe("hook", hook, eventlog.RunOptions{Batch: 7})
	ingestAll(t, s.Writer(), batches[:21])
	caughtUp(s)
	first := s.Events().Last()
	// More events, not all of them handled before the shutdown perhaps.
	ingestAll(t, s.Writer(), batches[21:31])
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	s2, err := Open(Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close(context.Background())
	if s2.Events().Last() < first {
		t.Fatalf("event log after restart ends at %d, before %d", s2.Events().Last(), first)
	}
	s2.Subscribe("hook", hook, eventlog.RunOptions{Batch: 7})
	ingestAll(t, s2.Writer(), batches[31:])
	caughtUp(s2)
	mu.Lock()
	defer mu.Unlock()
	for i, seq := range seen {
		if seq != uint64(i)+1 {
			t.Fatalf("subscriber saw %v, want 1..%d, each once, in order", seen, s2.Events().Last())
		}
	}
	if len(seen) < 80 {
		t.Errorf("subscriber saw %d events, want the opens and resolves of 40 spikes", len(seen))
	}
	// The timeline folded each event once too.
	page, err := s2.Timeline().Query(context.Background(), anomaly.TimelineQuery{Limit: 1000})
	if err != nil || len(page.Anomalies) != len(points) {
		t.Fatalf("timeline = %d anomalies, %v; want %d", len(page.Anomalies), err, len(points))
	}
	for _, a := range page.Anomalies {
		if a.Points != points[a.ID] || a.Open() {
			t.Errorf("anomaly %s: %d points, open %v; want %d points, resolved", a.ID, a.Points, a.Open(), points[a.ID])
		}
	}
}
