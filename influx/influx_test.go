package influx

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/influxdata/influxdb-client-go/v2/api/write"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/eventlog"
)

type recorder struct {
	mu      sync.Mutex
	batches [][]anomaly.Sample
	err     error
}

func (r *recorder) Ingest(_ context.Context, s []anomaly.Sample) (anomaly.IngestResult, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		err := r.err
		r.err = nil // fails once
		return anomaly.IngestResult{}, err
	}
	r.batches = append(r.batches, append([]anomaly.Sample(nil), s...))
	return anomaly.IngestResult{Accepted: len(s)}, nil
}

func TestGateHoldsThenReplaysInOrder(t *testing.T) {
	rec := &recorder{}
	g := NewGate(rec, 3, nil)
	ctx := context.Background()
	g.Hold()
	buf := []anomaly.Sample{{Series: "a", TimestampMs: 1, Value: 1}, {Series: "a", TimestampMs: 2, Value: 2}}
	if r, err := g.Ingest(ctx, buf); err != nil || r.Accepted != 2 {
		t.Fatalf("held ingest: %+v %v", r, err)
	}
	buf[0].Value = 99 // the caller may reuse its slice
	if _, err := g.Ingest(ctx, []anomaly.Sample{{Series: "b"}, {Series: "c"}}); anomaly.ErrorCode(err) != anomaly.CodeOverloaded {
		t.Errorf("over the bound: %v, want overloaded", err)
	}
	if _, err := g.Ingest(ctx, []anomaly.Sample{{Series: "a", TimestampMs: 3, Value: 3}}); err != nil {
		t.Fatal(err)
	}
	if len(rec.batches) != 0 || g.Held() != 3 {
		t.Fatalf("writer got %d batches while held (%d held)", len(rec.batches), g.Held())
	}
	rec.err = anomaly.Errorf(anomaly.CodeOverloaded, "full once")
	if err := g.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if len(rec.batches) != 2 || rec.batches[0][0].Value != 1 || rec.batches[1][0].TimestampMs != 3 || g.Held() != 0 {
		t.Errorf("replayed %+v", rec.batches)
	}
	if _, err := g.Ingest(ctx, []anomaly.Sample{{Series: "z"}}); err != nil || len(rec.batches) != 3 {
		t.Errorf("open gate did not pass through: %v %d", err, len(rec.batches))
	}
}

type slowWriter struct {
	mu      sync.Mutex
	points  []*write.Point
	release chan struct{}
	fail    bool
}

func (w *slowWriter) WritePoint(ctx context.Context, p ...*write.Point) error {
	if w.release != nil {
		select {
		case <-w.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if w.fail {
		return errors.New("influxdb down")
	}
	w.mu.Lock()
	w.points = append(w.points, p...)
	w.mu.Unlock()
	return nil
}

func verdicts(n int) []anomaly.Verdict {
	vs := make([]anomaly.Verdict, n)
	for i := range vs {
		vs[i] = anomaly.Verdict{Series: `cpu{host="a"}`, Timestamp: time.UnixMilli(int64(i)), Value: float64(i), State: anomaly.StateNormal}
	}
	return vs
}

// TestSinkNeverBlocks: with InfluxDB stuck, Offer returns at once and what
// does not fit in the buffer is dropped and counted; once InfluxDB answers,
// the buffered verdicts are written.
func TestSinkNeverBlocks(t *testing.T) {
	w := &slowWriter{release: make(chan struct{})}
	reg := prometheus.NewRegistry()
	s, err := NewSink(w, SinkOptions{Buffer: 10, Batch: 4, FlushInterval: time.Hour, Timeout: time.Minute, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	s.Offer(verdicts(4)) // kicks a flush that blocks in WritePoint
	deadline := time.Now().Add(30 * time.Second)
	for testutil.ToFloat64(s.pending) != 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	for range 5 {
		s.Offer(verdicts(3)) // 15 offered, 10 fit
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("Offer took %v with InfluxDB stuck", el)
	}
	if got := testutil.ToFloat64(s.dropped.WithLabelValues("buffer_full")); got != 5 {
		t.Errorf("dropped = %v, want 5", got)
	}
	close(w.release)
	cancel()
	<-done
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.points) != 14 {
		t.Errorf("written %d points, want 14 (4 + the 10 buffered)", len(w.points))
	}
	if got := testutil.ToFloat64(s.written.WithLabelValues("verdict")); got != 14 {
		t.Errorf("written metric = %v", got)
	}
}

func TestSinkWriteFailuresAndEvents(t *testing.T) {
	w := &slowWriter{fail: true}
	s, err := NewSink(w, SinkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.Offer(verdicts(3))
	s.flush(context.Background())
	if got := testutil.ToFloat64(s.dropped.WithLabelValues("write_failed")); got != 3 {
		t.Errorf("write_failed = %v, want 3", got)
	}
	batch := []eventlog.Entry{{Seq: 7, Event: anomaly.Event{Kind: anomaly.EventOpened, AnomalyID: 2, AnomalyKind: anomaly.KindPoint, Series: "x", At: time.Unix(10, 0)}},
		// a remediation decision is not written as an anomaly event
		{Seq: 8, Event: anomaly.Event{Kind: anomaly.EventRemediation, AnomalyID: 2, AnomalyKind: anomaly.KindPoint, Series: "x", At: time.Unix(11, 0)}}}
	if err := s.HandleEvents(context.Background(), batch); err == nil {
		t.Error("a failed event write returned nil: the cursor would move past unwritten events")
	}
	w.fail = false
	if err := s.HandleEvents(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	if len(w.points) != 1 || w.points[0].Name() != "detector_verdict_event" {
		t.Errorf("event points %v", w.points)
	}
	s.Offer(verdicts(1))
	s.flush(context.Background())
	p := w.points[1]
	tags := map[string]string{}
	for _, tg := range p.TagList() {
		tags[tg.Key] = tg.Value
	}
	if tags["host"] != "a" || tags["metric"] != "cpu" || tags["series"] != `cpu{host="a"}` || tags["state"] != "normal" || len(p.FieldList()) != 7 {
		t.Errorf("verdict point tags %v fields %d", tags, len(p.FieldList()))
	}
}

func TestFluxPrelude(t *testing.T) {
	got := FluxPrelude(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 1, 15, 0, 0, 0, 5, time.UTC))
	if got != "v = {timeRangeStart: 2026-01-01T00:00:00Z, timeRangeStop: 2026-01-15T00:00:00.000000005Z}\n" {
		t.Errorf("FluxPrelude = %q", got)
	}
}
