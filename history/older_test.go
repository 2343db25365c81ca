package history

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/series"
)

func hp(sec int64, v float64) anomaly.HistoryPoint {
	return anomaly.HistoryPoint{Timestamp: time.Unix(sec, 0).UTC(), Value: v}
}

func TestMergeOrdersAndDropsOverlap(t *testing.T) {
	ring := []anomaly.HistoryPoint{hp(100, 1), hp(110, 2)}
	older := []anomaly.HistoryPoint{hp(80, 8), hp(90, 9), hp(90, 9.5), hp(85, 0), hp(100, 7), hp(105, 7)}
	got := Merge(older, ring, time.Unix(100, 0))
	want := []float64{8, 9, 1, 2}
	if len(got) != len(want) {
		t.Fatalf("merged %v", got)
	}
	for i, p := range got {
		if p.Value != want[i] {
			t.Fatalf("merged[%d] = %v, want %v (all %v)", i, p.Value, want[i], got)
		}
	}
	if got := Merge(nil, nil, time.Unix(1, 0)); len(got) != 0 {
		t.Errorf("empty merge: %v", got)
	}
}

// fakeOlder records the asked range and answers pts or err, or waits for
// the context when slow.
type fakeOlder struct {
	pts          []anomaly.HistoryPoint
	err          error
	slow         bool
	calls        int
	since, until time.Time
	max          int
}

func (f *fakeOlder) OlderHistory(ctx context.Context, s string, since, until time.Time, max int) ([]anomaly.HistoryPoint, error) {
	f.calls++
	f.since, f.until, f.max = since, until, max
	if f.slow {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return f.pts, f.err
}

func newReader(t *testing.T, o OlderHistory) (Reader, *series.Engine) {
	t.Helper()
	eng, err := series.NewEngine(series.Options{Shards: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close(context.Background()) })
	st := New(Config{Points: 10})
	eng.SetObserver(st)
	return Reader{Store: st, Engine: eng, Older: o, OlderMax: 3, OlderTimeout: 200 * time.Millisecond}, eng
}

func ingestPoints(t *testing.T, r Reader, eng *series.Engine, secs ...int64) {
	t.Helper()
	var ss []anomaly.Sample
	for _, s := range secs {
		ss = append(ss, anomaly.Sample{Series: "m", TimestampMs: s * 1000, Value: float64(s)})
	}
	if _, err := eng.Ingest(context.Background(), ss); err != nil {
		t.Fatal(err)
	}
	// Points are learned asynchronously: wait until the ring has them all.
	deadline := time.Now().Add(60 * time.Second)
	for {
		h := r.Store.Watch("m", mustKey(t, "m").Hash(), 0, 0)
		if len(h) == len(secs) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("ring has %d points, want %d", len(h), len(secs))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func mustKey(t *testing.T, s string) series.Key {
	t.Helper()
	k, err := series.Parse(s, series.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestReaderMergesOlderInFront(t *testing.T) {
	f := &fakeOlder{pts: []anomaly.HistoryPoint{hp(1000, 1), hp(1010, 2)}}
	r, eng := newReader(t, f)
	ingestPoints(t, r, eng, 1100, 1110)
	h, err := r.History(context.Background(), "m", time.Unix(900, 0), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var vs []float64
	for _, p := range h.Points {
		vs = append(vs, p.Value)
	}
	if len(vs) != 4 || vs[0] != 1 || vs[1] != 2 || vs[2] != 1100 || vs[3] != 1110 || h.Older != "" {
		t.Fatalf("history %v, older %q", vs, h.Older)
	}
	if !f.since.Equal(time.Unix(900, 0)) || !f.until.Equal(time.Unix(1100, 0)) || f.max != 3 {
		t.Errorf("asked [%v, %v) max %d; want [900s, 1100s) max 3", f.since, f.until, f.max)
	}
	// A range the ring covers, or one without since while the ring has
	// points, does not ask.
	f.calls = 0
	if _, err := r.History(context.Background(), "m", time.Unix(1105, 0), time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.History(context.Background(), "m", time.Time{}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if f.calls != 0 {
		t.Errorf("%d older reads for ranges the ring covers", f.calls)
	}
	// At the limit the answer says it is truncated.
	f.pts = []anomaly.HistoryPoint{hp(1000, 1), hp(1010, 2), hp(1020, 3)}
	h, _ = r.History(context.Background(), "m", time.Unix(900, 0), time.Time{})
	if len(h.Points) != 5 || !strings.HasPrefix(h.Older, "truncated") {
		t.Errorf("at the limit: %d points, older %q", len(h.Points), h.Older)
	}
}

func TestReaderOlderFailureAnswersRing(t *testing.T) {
	for name, f := range map[string]*fakeOlder{
		"down": {err: errors.New("influxdb: connection refused")},
		"slow": {slow: true},
	} {
		t.Run(name, func(t *testing.T) {
			r, eng := newReader(t, f)
			ingestPoints(t, r, eng, 1100, 1110)
			h, err := r.History(context.Background(), "m", time.Unix(900, 0), time.Unix(2000, 0))
			if err != nil {
				t.Fatal(err)
			}
			if len(h.Points) != 2 || h.Points[0].Value != 1100 || !strings.HasPrefix(h.Older, "unavailable: ") {
				t.Fatalf("history %+v", h)
			}
		})
	}
}
