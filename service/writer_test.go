package service

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/peers"
)

// ingester is what every input is given: the Writer behind an interface.
type ingester interface {
	Ingest(ctx context.Context, samples []anomaly.Sample) (anomaly.IngestResult, error)
}

// lineInput is a fake second input: "series value unix-seconds" lines,
// turned into samples and handed to whatever write path it is given.
func lineInput(ctx context.Context, w ingester, text string) (anomaly.IngestResult, error) {
	var samples []anomaly.Sample
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		f := strings.Fields(line)
		v, _ := strconv.ParseFloat(f[1], 64)
		ts, _ := strconv.ParseInt(f[2], 10, 64)
		samples = append(samples, anomaly.Sample{Series: f[0], TimestampMs: ts * 1000, Value: v})
	}
	return w.Ingest(ctx, samples)
}

func openMemory(t *testing.T, cfg Config) *Service {
	t.Helper()
	s, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

// TestSecondInputFeedsPeerGroups: an input other than the JSON API, calling
// only the Writer, feeds the peer groups under the canonical series (labels
// out of order in the input), and the odd member is found.
func TestSecondInputFeedsPeerGroups(t *testing.T) {
	s := openMemory(t, Config{})
	ctx := context.Background()
	if _, err := s.Peers().AddRule(ctx, peers.Rule{Name: "hosts", Match: "cpu", GroupBy: []string{"cluster"},
		Member: "host", Window: 10, Step: time.Minute}); err != nil {
		t.Fatal(err)
	}
	start := time.Now().UTC().Truncate(time.Minute).Add(-30 * time.Minute)
	var b strings.Builder
	const steps = 20
	for h := range 5 {
		level := 100.0
		if h == 3 {
			level = 150
		}
		for k := range steps {
			v := level * (1 + 0.1*float64(k%4) + 0.005*float64((h*7+k*3)%5))
			fmt.Fprintf(&b, "cpu{host=\"h%d\",cluster=\"c1\"} %g %d\n", h, v, start.Add(time.Duration(k)*time.Minute).Unix())
		}
	}
	res, err := lineInput(ctx, s.Writer(), b.String())
	if err != nil || res.Accepted != 5*steps {
		t.Fatalf("lineInput = %+v, %v; want all %d accepted", res, err, 5*steps)
	}
	if _, err := s.Peers().Evaluate(ctx, start.Add(steps*time.Minute)); err != nil {
		t.Fatal(err)
	}
	groups, err := s.Peers().Results("hosts", "")
	if err != nil || len(groups) != 1 {
		t.Fatalf("Results = %+v, %v; want one group", groups, err)
	}
	g := groups[0]
	if len(g.Members) != 5 || g.Outliers != 1 {
		t.Fatalf("group %s: %d outliers of %d members (skipped %q), want 1 of 5", g.Group, g.Outliers, len(g.Members), g.Skipped)
	}
	for _, m := range g.Members {
		if want := fmt.Sprintf(`cpu{cluster="c1",host="%s"}`, m.Member); m.Series != want {
			t.Errorf("member %s series = %q, want the canonical %q", m.Member, m.Series, want)
		}
	}
	// The peer outlier went through the event log to the timeline.
	page, err := s.Timeline().Query(ctx, anomaly.TimelineQuery{Series: `cpu{cluster="c1",host="h3"}`})
	if err != nil || len(page.Anomalies) != 1 || page.Anomalies[0].Kind != anomaly.KindPeerOutlier {
		t.Fatalf("timeline = %+v, %v; want the peer outlier", page.Anomalies, err)
	}
	if s.Events().Last() == 0 {
		t.Error("event log is empty, want the peer outlier's event")
	}
}

// TestWriterFutureRule: the future-timestamp rule is the Writer's, for
// every input; rejected items keep their index among accepted ones.
func TestWriterFutureRule(t *testing.T) {
	now := time.Date(2026, 1, 5, 12, 0, 0, 0, time.UTC)
	s := openMemory(t, Config{MaxFuture: 10 * time.Minute, Now: func() time.Time { return now }})
	ms := now.UnixMilli()
	res, err := s.Writer().Ingest(context.Background(), []anomaly.Sample{
		{Series: "cpu", TimestampMs: ms, Value: 1},
		{Series: "cpu", TimestampMs: ms + 11*60_000, Value: 1}, // future
		{Series: "bad{", TimestampMs: ms, Value: 1},            // engine: invalid series
		{Series: "cpu", TimestampMs: ms + 1000, Value: 2},
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range res.Errors {
		got = append(got, fmt.Sprintf("%d:%s:%s", e.Index, e.Code, e.Field))
	}
	if want := "[1:future_timestamp:timestamp 2:invalid_series:series]"; fmt.Sprint(got) != want || res.Accepted != 2 || res.Rejected != 2 {
		t.Errorf("Ingest = accepted %d rejected %d errors %v, want 2, 2, %s", res.Accepted, res.Rejected, got, want)
	}
}

// TestWriterRateLimit: with MaxRate, a batch beyond the second's budget is
// refused whole as overloaded; the budget refills with time.
func TestWriterRateLimit(t *testing.T) {
	s := openMemory(t, Config{MaxIngestRate: 100})
	batch := func(from, n int) []anomaly.Sample {
		var b []anomaly.Sample
		for i := range n {
			b = append(b, anomaly.Sample{Series: "cpu", TimestampMs: int64(from+i) * 1000, Value: 1})
		}
		return b
	}
	if res, err := s.Writer().Ingest(context.Background(), batch(0, 80)); err != nil || res.Accepted != 80 {
		t.Fatalf("first 80 points = %+v, %v; want accepted", res, err)
	}
	_, err := s.Writer().Ingest(context.Background(), batch(80, 80))
	if anomaly.ErrorCode(err) != anomaly.CodeOverloaded {
		t.Fatalf("80 more at once = %v, want overloaded", err)
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		res, err := s.Writer().Ingest(context.Background(), batch(80, 80))
		if err == nil && res.Accepted == 80 {
			break
		}
		if anomaly.ErrorCode(err) != anomaly.CodeOverloaded || time.Now().After(deadline) {
			t.Fatalf("after a pause: %+v, %v; want accepted once the budget refilled", res, err)
		}
	}
}
