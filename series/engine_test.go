package series

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/internal/synth"
	"github.com/anomalyd/detector/models"
)

// sink records events; it is safe for concurrent use.
type sink struct {
	mu     sync.Mutex
	events []anomaly.Event
}

func (s *sink) Record(ev anomaly.Event) {
	s.mu.Lock()
	s.events = append(s.events, ev)
	s.mu.Unlock()
}

func (s *sink) all() []anomaly.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.events)
}

// clock is a settable engine clock. While gate is non-nil, Now waits until
// it is closed: the shard goroutines call Now once per batch, so a closed
// gate parks them and lets queues fill deterministically.
type clock struct {
	mu      sync.Mutex
	t       time.Time
	gate    chan struct{}
	waiting int // callers parked at the gate
}

func newClock() *clock { return &clock{t: time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	g := c.gate
	c.mu.Unlock()
	if g != nil {
		c.mu.Lock()
		c.waiting++
		c.mu.Unlock()
		<-g
		c.mu.Lock()
		c.waiting--
		c.mu.Unlock()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func (c *clock) Hold() {
	c.mu.Lock()
	c.gate = make(chan struct{})
	c.mu.Unlock()
}

func (c *clock) Waiting() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.waiting
}

func (c *clock) Release() {
	c.mu.Lock()
	close(c.gate)
	c.gate = nil
	c.mu.Unlock()
}

func newEngine(t testing.TB, o Options) *Engine {
	t.Helper()
	e, err := NewEngine(o)
	if err != nil {
		t.Fatalf("NewEngine: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return e
}

func mustIngest(t testing.TB, e *Engine, samples []anomaly.Sample) anomaly.IngestResult {
	t.Helper()
	res, err := e.Ingest(context.Background(), samples)
	if err != nil {
		t.Fatalf("Ingest(%d samples) error %v", len(samples), err)
	}
	return res
}

// flat returns n points of a noisy flat series starting at ts0, one a
// minute; the noise is a fixed pattern so that the test is deterministic.
func flat(series string, ts0 int64, n int) []anomaly.Sample {
	out := make([]anomaly.Sample, n)
	for i := range out {
		out[i] = anomaly.Sample{Series: series, TimestampMs: ts0 + int64(i)*60000, Value: 100 + float64(i%7) - 3}
	}
	return out
}

func TestEngineScenario(t *testing.T) {
	const series = `play_starts{device="tv_sony",title="81234"}`
	sc := synth.NewScenario(1)
	ev := &sink{}
	e := newEngine(t, Options{Shards: 2, Events: ev, FirstAnomalyID: 100})

	var anomalies []anomaly.Verdict
	for lo := 0; lo < len(sc.Ts); lo += 288 {
		hi := min(lo+288, len(sc.Ts))
		batch := make([]anomaly.Sample, 0, hi-lo)
		for i := lo; i < hi; i++ {
			batch = append(batch, anomaly.Sample{Series: `play_starts{title="81234",device="tv_sony"}`, TimestampMs: sc.Ts[i], Value: sc.Values[i]})
		}
		res := mustIngest(t, e, batch)
		if res.Accepted != len(batch) || res.Rejected != 0 {
			t.Fatalf("Ingest(day %d) = %d accepted, %d rejected %v, want %d, 0", lo/288, res.Accepted, res.Rejected, res.Errors, len(batch))
		}
		anomalies = append(anomalies, res.Anomalies...)
	}

	at := map[int64]anomaly.Verdict{}
	for _, v := range anomalies {
		if v.Series != series || v.State != anomaly.StateAnomalous || v.AnomalyID < 100 || v.Detector == "" {
			t.Errorf("anomalous verdict %+v: want series %s, state anomalous, anomaly id >= 100, a detector", v, series)
		}
		at[v.Timestamp.UnixMilli()] = v
	}
	for name, i := range map[string]int{"spike": sc.Spike, "dip": sc.Dip, "level shift": sc.ShiftAt} {
		if _, ok := at[sc.Ts[i]]; !ok {
			t.Errorf("no anomalous verdict at the %s (%s)", name, time.UnixMilli(sc.Ts[i]).UTC())
		}
	}

	// Events: per id, opened first, then updates, then at most one resolved
	// (last); every anomalous verdict's id was opened.
	byID := map[anomaly.ID][]anomaly.Event{}
	var order []anomaly.ID
	for _, ev := range ev.all() {
		if ev.AnomalyKind != anomaly.KindPoint || ev.Series != series || ev.Verdict.Series != series || ev.Verdict.AnomalyID != ev.AnomalyID {
			t.Errorf("event %+v: want kind point, series %s and the verdict's anomaly id", ev, series)
		}
		if _, ok := byID[ev.AnomalyID]; !ok {
			order = append(order, ev.AnomalyID)
		}
		byID[ev.AnomalyID] = append(byID[ev.AnomalyID], ev)
	}
	if len(order) < 3 {
		t.Fatalf("got %d anomalies (%v), want at least 3 (spike, dip, shift)", len(order), order)
	}
	for i, id := range order {
		if want := anomaly.ID(100 + i); id != want {
			t.Errorf("anomaly %d has id %d, want %d (ids given in order from FirstAnomalyID)", i, id, want)
		}
		evs := byID[id]
		if evs[0].Kind != anomaly.EventOpened {
			t.Errorf("anomaly %d: first event %s, want opened", id, evs[0].Kind)
		}
		for j, ev := range evs[1:] {
			last := j+1 == len(evs)-1
			if ev.Kind == anomaly.EventOpened || ev.Kind == anomaly.EventResolved && !last {
				t.Errorf("anomaly %d: event %d is %s, want updated (or resolved last)", id, j+1, ev.Kind)
			}
		}
		if i < len(order)-1 && evs[len(evs)-1].Kind != anomaly.EventResolved {
			t.Errorf("anomaly %d: last event %s, want resolved before the next anomaly", id, evs[len(evs)-1].Kind)
		}
	}
	for _, v := range anomalies {
		if _, ok := byID[v.AnomalyID]; !ok {
			t.Errorf("verdict at %s has anomaly id %d that no event opened", v.Timestamp, v.AnomalyID)
		}
	}

	// The latest verdict is the last point's.
	v, err := e.Latest(context.Background(), series)
	if err != nil {
		t.Fatalf("Latest: %v", err)
	}
	if last := len(sc.Ts) - 1; v.Timestamp.UnixMilli() != sc.Ts[last] || v.Value != sc.Values[last] {
		t.Errorf("Latest = %s %v, want %s %v", v.Timestamp, v.Value, time.UnixMilli(sc.Ts[last]).UTC(), sc.Values[last])
	}
}

func TestTimestampPolicy(t *testing.T) {
	e := newEngine(t, Options{Shards: 1})
	ctx := context.Background()
	mustIngest(t, e, []anomaly.Sample{{Series: "m", TimestampMs: 1000, Value: 1}, {Series: "m", TimestampMs: 2000, Value: 2}})
	res := mustIngest(t, e, []anomaly.Sample{
		{Series: "m", TimestampMs: 2000, Value: 2},  // duplicate: accepted, not learned
		{Series: "m", TimestampMs: 1500, Value: 3},  // out of order
		{Series: "m", TimestampMs: 3000, Value: 4},  // learned
		{Series: "m", TimestampMs: 3000, Value: 4},  // duplicate within the batch
		{Series: "m{", TimestampMs: 4000, Value: 1}, // invalid series
		{Series: "m", TimestampMs: 4000, Value: math.NaN()},
		{Series: "m", TimestampMs: 4000, Value: math.Inf(-1)},
		{Series: "other", TimestampMs: 10, Value: 1}, // a new series is independent
	})
	if res.Accepted != 4 || res.Rejected != 4 {
		t.Errorf("Ingest = %d accepted, %d rejected, want 4, 4 (errors %v)", res.Accepted, res.Rejected, res.Errors)
	}
	want := []struct {
		index int
		code  anomaly.Code
		msg   string
	}{
		{1, anomaly.CodeOutOfOrder, "before the last timestamp 1970-01-01T00:00:02.000Z"},
		{4, anomaly.CodeInvalidSeries, "unexpected end"},
		{5, anomaly.CodeInvalidValue, "NaN"},
		{6, anomaly.CodeInvalidValue, "-Inf"},
	}
	if len(res.Errors) != len(want) {
		t.Fatalf("Ingest errors = %v, want %d errors", res.Errors, len(want))
	}
	for i, w := range want {
		got := res.Errors[i]
		if got.Index != w.index || got.Code != w.code || !strings.Contains(got.Message, w.msg) {
			t.Errorf("Ingest error %d = %+v, want index %d code %s message containing %q", i, got, w.index, w.code, w.msg)
		}
	}
	d, err := e.Get(ctx, "m")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if d.Points != 3 || d.LastTimestamp.UnixMilli() != 3000 || d.LastValue != 4 {
		t.Errorf("Get(m) = %d points, last %s %v, want 3 points, last 3000 ms 4", d.Points, d.LastTimestamp, d.LastValue)
	}
	if len(d.RecentVerdicts) == 0 || d.RecentVerdicts[len(d.RecentVerdicts)-1].Timestamp.UnixMilli() != 3000 {
		t.Errorf("Get(m).RecentVerdicts = %+v, want the verdict at 3000 ms last", d.RecentVerdicts)
	}
	v, err := e.Latest(ctx, "m")
	if err != nil || v.State != anomaly.StateLearning || v.NeedPoints <= 0 || v.Detector != "" {
		t.Errorf("Latest(m) = %+v, %v, want a learning verdict with NeedPoints > 0 and no detector", v, err)
	}
}

func TestIngestIdentityErrors(t *testing.T) {
	e := newEngine(t, Options{Shards: 2, Limits: Limits{MaxLabels: 1}})
	res := mustIngest(t, e, []anomaly.Sample{
		{Series: `ok{a="1"}`, TimestampMs: 1, Value: 1},
		{Series: `bad-name`, TimestampMs: 1, Value: 1},
		{Series: `m{a="1",b="2"}`, TimestampMs: 1, Value: 1},
		{Series: `m{__x="1"}`, TimestampMs: 1, Value: 1},
		{Series: `ok{ a = "1" }`, TimestampMs: 2, Value: 1},
	})
	if res.Accepted != 2 || res.Rejected != 3 {
		t.Fatalf("Ingest = %d accepted %d rejected (%v), want 2, 3", res.Accepted, res.Rejected, res.Errors)
	}
	codes := []anomaly.Code{anomaly.CodeInvalidSeries, anomaly.CodeLimit, anomaly.CodeInvalidSeries}
	for i, c := range codes {
		if ie := res.Errors[i]; ie.Index != i+1 || ie.Code != c || ie.Field != "series" {
			t.Errorf("Ingest error %d = %+v, want index %d code %s field series", i, ie, i+1, c)
		}
	}
	// Both spellings of ok{a="1"} are one series.
	if d, err := e.Get(context.Background(), `ok{a="1"}`); err != nil || d.Points != 2 {
		t.Errorf("Get(ok) = %d points, %v, want 2", d.Points, err)
	}
}

func TestNotFound(t *testing.T) {
	e := newEngine(t, Options{})
	ctx := context.Background()
	for name, f := range map[string]func(string) error{
		"Latest": func(s string) error { _, err := e.Latest(ctx, s); return err },
		"Get":    func(s string) error { _, err := e.Get(ctx, s); return err },
		"WhatIf": func(s string) error { _, err := e.WhatIf(ctx, s, nil); return err },
	} {
		err := f(`nope{a="b"}`)
		var ae *anomaly.Error
		if !errors.As(err, &ae) || ae.Code != anomaly.CodeNotFound || !strings.Contains(ae.Message, `nope{a=\"b\"}`) {
			t.Errorf("%s(unknown) error = %v, want %s naming the series", name, err, anomaly.CodeNotFound)
		}
		if err := f(`bad series`); anomaly.ErrorCode(err) != anomaly.CodeInvalidSeries {
			t.Errorf("%s(invalid) error = %v, want %s", name, err, anomaly.CodeInvalidSeries)
		}
	}
}

func TestWhatIfLeavesModel(t *testing.T) {
	e := newEngine(t, Options{Shards: 1})
	ctx := context.Background()
	pts := flat("m", 0, 200)
	mustIngest(t, e, pts)
	before, err := e.Get(ctx, "m")
	if err != nil {
		t.Fatal(err)
	}
	last := pts[len(pts)-1].TimestampMs
	probe := []anomaly.Sample{
		{TimestampMs: last + 60000, Value: 100},
		{TimestampMs: last + 120000, Value: 1e6},
		{TimestampMs: last + 180000, Value: 100},
	}
	vs, err := e.WhatIf(ctx, "m", probe)
	if err != nil {
		t.Fatalf("WhatIf: %v", err)
	}
	if len(vs) != len(probe) {
		t.Fatalf("WhatIf returned %d verdicts, want %d", len(vs), len(probe))
	}
	for i, v := range vs {
		if v.Series != "m" || v.Timestamp.UnixMilli() != probe[i].TimestampMs || v.Value != probe[i].Value || v.AnomalyID != 0 {
			t.Errorf("WhatIf verdict %d = %+v, want series m at %d value %v without anomaly id", i, v, probe[i].TimestampMs, probe[i].Value)
		}
	}
	if vs[1].State != anomaly.StateAnomalous || vs[0].State == anomaly.StateAnomalous {
		t.Errorf("WhatIf states = %s, %s, want normal-ish then anomalous", vs[0].State, vs[1].State)
	}
	after, err := e.Get(ctx, "m")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(before, after) {
		t.Errorf("Get after WhatIf = %+v, want unchanged %+v", after, before)
	}
	if _, err := e.WhatIf(ctx, "m", []anomaly.Sample{{Value: 1}, {Value: math.NaN()}}); anomaly.ErrorCode(err) != anomaly.CodeInvalidValue {
		t.Errorf("WhatIf(NaN) error = %v, want %s", err, anomaly.CodeInvalidValue)
	} else if ae := err.(*anomaly.Error); ae.Index != 1 {
		t.Errorf("WhatIf(NaN) error index = %d, want 1", ae.Index)
	}
}

// openAnomaly pushes a flat history and a huge spike into series and
// returns the spike's anomaly id.
func openAnomaly(t *testing.T, e *Engine, series string, ts0 int64) anomaly.ID {
	t.Helper()
	pts := flat(series, ts0, 200)
	pts = append(pts, anomaly.Sample{Series: series, TimestampMs: pts[len(pts)-1].TimestampMs + 60000, Value: 1e6})
	res := mustIngest(t, e, pts)
	if len(res.Anomalies) == 0 || res.Anomalies[len(res.Anomalies)-1].AnomalyID == 0 {
		t.Fatalf("spike in %s did not open an anomaly: %+v", series, res.Anomalies)
	}
	return res.Anomalies[len(res.Anomalies)-1].AnomalyID
}

func TestLRUEviction(t *testing.T) {
	ev := &sink{}
	reg := prometheus.NewRegistry()
	e := newEngine(t, Options{Shards: 1, MaxSeries: 3, Events: ev, Registerer: reg})
	ctx := context.Background()
	id := openAnomaly(t, e, "a", 0)
	mustIngest(t, e, flat("b", 0, 1))
	mustIngest(t, e, flat("c", 0, 1))
	mustIngest(t, e, flat("b", 60000, 1)) // b is now more recent than a and c
	mustIngest(t, e, flat("d", 0, 1))     // evicts a (least recently updated)
	if _, err := e.Latest(ctx, "a"); anomaly.ErrorCode(err) != anomaly.CodeNotFound {
		t.Errorf("Latest(a) after eviction error = %v, want %s", err, anomaly.CodeNotFound)
	}
	mustIngest(t, e, flat("e", 0, 1)) // evicts c
	for s, want := range map[string]bool{"a": false, "b": true, "c": false, "d": true, "e": true} {
		_, err := e.Latest(ctx, s)
		if got := err == nil; got != want {
			t.Errorf("Latest(%s) found = %v (%v), want %v", s, got, err, want)
		}
	}
	if st := e.Stats(); st.Series != 3 || st.EvictedLRU != 2 || st.EvictedIdle != 0 {
		t.Errorf("Stats = %+v, want 3 series, 2 LRU evictions", st)
	}
	if got := counterValue(t, reg, "detector_series_evictions_total", "cause", "lru"); got != 2 {
		t.Errorf("detector_series_evictions_total{cause=lru} = %v, want 2", got)
	}
	// Evicting a with its open anomaly resolved it.
	evs := ev.all()
	if last := evs[len(evs)-1]; last.Kind != anomaly.EventResolved || last.AnomalyID != id || last.Series != "a" {
		t.Errorf("last event = %+v, want resolved anomaly %d of a", last, id)
	}
	// A re-created series starts from scratch.
	mustIngest(t, e, flat("a", 0, 1))
	if d, err := e.Get(ctx, "a"); err != nil || d.Points != 1 || d.AnomalyID != 0 {
		t.Errorf("Get(a) after re-creation = %d points anomaly %d, %v, want 1 point, no anomaly", d.Points, d.AnomalyID, err)
	}
}

func TestIdleSweep(t *testing.T) {
	clk := newClock()
	ev := &sink{}
	e := newEngine(t, Options{Shards: 2, IdleTimeout: 10 * time.Minute, Now: clk.Now, Events: ev})
	ctx := context.Background()
	id := openAnomaly(t, e, "a", 0)
	mustIngest(t, e, flat("b", 0, 1))
	mustIngest(t, e, flat("c", 0, 1))
	clk.Advance(6 * time.Minute)
	mustIngest(t, e, flat("b", 60000, 1))
	if n, err := e.Sweep(ctx); n != 0 || err != nil {
		t.Errorf("Sweep after 6m = %d, %v, want 0", n, err)
	}
	clk.Advance(5 * time.Minute) // a and c idle 11m, b 5m
	if n, err := e.Sweep(ctx); n != 2 || err != nil {
		t.Errorf("Sweep after 11m = %d, %v, want 2", n, err)
	}
	for s, want := range map[string]bool{"a": false, "b": true, "c": false} {
		_, err := e.Latest(ctx, s)
		if got := err == nil; got != want {
			t.Errorf("Latest(%s) found = %v (%v), want %v", s, got, err, want)
		}
	}
	if st := e.Stats(); st.Series != 1 || st.EvictedIdle != 2 || st.EvictedLRU != 0 {
		t.Errorf("Stats = %+v, want 1 series, 2 idle evictions", st)
	}
	resolved := false
	for _, x := range ev.all() {
		if x.Kind == anomaly.EventResolved && x.AnomalyID == id {
			resolved = true
		}
	}
	if !resolved {
		t.Errorf("idle eviction of a did not resolve its anomaly %d", id)
	}
}

func TestSweepDisabled(t *testing.T) {
	clk := newClock()
	e := newEngine(t, Options{Shards: 1, Now: clk.Now})
	mustIngest(t, e, flat("a", 0, 1))
	clk.Advance(1000 * time.Hour)
	if n, err := e.Sweep(context.Background()); n != 0 || err != nil || e.Stats().Series != 1 {
		t.Errorf("Sweep without idle timeout = %d, %v (%d series), want 0, nil (1 series)", n, err, e.Stats().Series)
	}
}

// waitFor polls cond, at most 2000 times a millisecond apart.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 2000 {
		if cond() {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestOverload(t *testing.T) {
	clk := newClock()
	reg := prometheus.NewRegistry()
	e := newEngine(t, Options{Shards: 1, QueueDepth: 1, EnqueueTimeout: 5 * time.Millisecond, Now: clk.Now, Registerer: reg})
	ctx := context.Background()
	sh := e.shards[0]
	mustIngest(t, e, flat("z", 0, 1))
	clk.Hold()
	type result struct {
		res anomaly.IngestResult
		err error
	}
	results := make(chan result, 2)
	ingest := func(s string) {
		res, err := e.Ingest(ctx, flat(s, 0, 3))
		results <- result{res, err}
	}
	go ingest("a")
	waitFor(t, "the shard to take the first batch", func() bool { return clk.Waiting() == 1 })
	go ingest("b")
	waitFor(t, "the second batch to fill the queue", func() bool { return len(sh.in) == 1 })

	res, err := e.Ingest(ctx, flat("c", 0, 2))
	var ae *anomaly.Error
	if !errors.As(err, &ae) || ae.Code != anomaly.CodeOverloaded {
		t.Fatalf("Ingest with a full queue error = %v, want %s", err, anomaly.CodeOverloaded)
	}
	if res.Accepted != 0 || res.Rejected != 2 || res.Errors[0].Code != anomaly.CodeOverloaded || res.Errors[1].Index != 1 {
		t.Errorf("Ingest with a full queue = %+v, want 2 overloaded items", res)
	}
	// Items rejected for other reasons are still reported.
	mixed := append(flat("c", 0, 1), anomaly.Sample{Series: "bad name", Value: 1})
	res, err = e.Ingest(ctx, mixed)
	if anomaly.ErrorCode(err) != anomaly.CodeOverloaded || len(res.Errors) != 2 || res.Errors[1].Code != anomaly.CodeInvalidSeries {
		t.Errorf("Ingest(mixed) = %+v, %v, want overloaded with the invalid series reported", res, err)
	}
	// Reads do not wait behind the full queue.
	if v, err := e.Latest(ctx, "z"); err != nil || v.Series != "z" {
		t.Errorf("Latest(z) with a full queue = %+v, %v, want z's verdict", v, err)
	}
	if p, err := e.List(ctx, "", 10, ""); err != nil || len(p.Series) != 1 {
		t.Errorf("List with a full queue = %+v, %v, want z", p, err)
	}
	clk.Release()
	for range 2 {
		r := <-results
		if r.err != nil || r.res.Accepted != 3 {
			t.Errorf("queued Ingest = %+v, %v, want 3 accepted", r.res, r.err)
		}
	}
	if got := counterValue(t, reg, "detector_points_rejected_total", "code", "overloaded"); got != 3 {
		t.Errorf("detector_points_rejected_total{code=overloaded} = %v, want 3", got)
	}
}

func TestCloseDrains(t *testing.T) {
	clk := newClock()
	e, err := NewEngine(Options{Shards: 2, QueueDepth: 16, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	clk.Hold()
	const batches = 8
	var wg sync.WaitGroup
	errs := make(chan error, batches)
	for i := range batches {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := e.Ingest(ctx, flat(fmt.Sprintf("s%d", i), 0, 10))
			if err == nil && res.Accepted != 10 {
				err = fmt.Errorf("accepted %d, want 10", res.Accepted)
			}
			errs <- err
		}()
	}
	waitFor(t, "every batch to be queued", func() bool {
		st := e.Stats()
		return clk.Waiting()+st.Shards[0].QueueDepth+st.Shards[1].QueueDepth >= batches
	})
	closed := make(chan error, 1)
	go func() { closed <- e.Close(ctx) }()
	waitFor(t, "Close to stop intake", func() bool {
		e.closeMu.RLock()
		defer e.closeMu.RUnlock()
		return e.closed
	})
	clk.Release()
	if err := <-closed; err != nil {
		t.Fatalf("Close = %v", err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Ingest queued before Close: %v", err)
		}
	}
	if st := e.Stats(); st.Series != batches {
		t.Errorf("after Close: %d series, want %d", st.Series, batches)
	}
	if d, err := e.Get(ctx, "s3"); err != nil || d.Points != 10 {
		t.Errorf("Get(s3) after Close = %d points, %v, want 10", d.Points, err)
	}
	if _, err := e.Ingest(ctx, flat("x", 0, 1)); anomaly.ErrorCode(err) != anomaly.CodeUnavailable {
		t.Errorf("Ingest after Close error = %v, want %s", err, anomaly.CodeUnavailable)
	}
	if err := e.Close(ctx); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
}

func TestCloseTimeout(t *testing.T) {
	clk := newClock()
	e, err := NewEngine(Options{Shards: 1, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	clk.Hold()
	done := make(chan struct{})
	go func() {
		e.Ingest(context.Background(), flat("a", 0, 1))
		close(done)
	}()
	waitFor(t, "the shard to park", func() bool { return clk.Waiting() == 1 })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := e.Close(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Close(cancelled ctx) with a busy shard = %v, want context.Canceled", err)
	}
	clk.Release()
	<-done
	if err := e.Close(context.Background()); err != nil {
		t.Errorf("Close after release = %v, want nil", err)
	}
}

func TestList(t *testing.T) {
	e := newEngine(t, Options{Shards: 3})
	ctx := context.Background()
	var all []string
	var batch []anomaly.Sample
	for i := range 25 {
		dev := []string{"tv_sony", "tv_lg", "phone"}[i%3]
		s := fmt.Sprintf(`play_starts{title="%02d",device="%s"}`, i, dev)
		batch = append(batch, anomaly.Sample{Series: s, TimestampMs: 1, Value: float64(i)})
		all = append(all, MustParse(s).Canonical())
	}
	batch = append(batch, anomaly.Sample{Series: "up", TimestampMs: 1, Value: 1})
	all = append(all, "up")
	mustIngest(t, e, batch)
	slices.Sort(all)

	pages := 0
	var got []string
	cursor := ""
	for {
		p, err := e.List(ctx, "", 10, cursor)
		if err != nil {
			t.Fatalf("List(cursor %q): %v", cursor, err)
		}
		pages++
		for _, s := range p.Series {
			got = append(got, s.Series)
		}
		if p.NextCursor == "" {
			break
		}
		if pages > 10 {
			t.Fatalf("List did not end after %d pages", pages)
		}
		cursor = p.NextCursor
	}
	if pages != 3 || !slices.Equal(got, all) {
		t.Errorf("List pages = %d, series %q, want 3 pages of %q", pages, got, all)
	}

	p, err := e.List(ctx, `{device="tv_sony", title=~"0.*"}`, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range p.Series {
		names = append(names, s.Series)
		if s.Points != 1 || s.LastTimestamp.UnixMilli() != 1 {
			t.Errorf("List summary %+v, want 1 point at 1 ms", s)
		}
	}
	want := []string{
		`play_starts{device="tv_sony",title="00"}`, `play_starts{device="tv_sony",title="03"}`,
		`play_starts{device="tv_sony",title="06"}`, `play_starts{device="tv_sony",title="09"}`,
	}
	if !slices.Equal(names, want) || p.NextCursor != "" {
		t.Errorf("List(tv_sony, title 0x) = %q next %q, want %q and no next page", names, p.NextCursor, want)
	}
	if p, err := e.List(ctx, `{device="none"}`, 5, ""); err != nil || len(p.Series) != 0 || p.Series == nil {
		t.Errorf("List(no match) = %#v, %v, want an empty non-nil page", p, err)
	}

	for _, tc := range []struct {
		match, cursor string
		limit         int
	}{
		{`{device=}`, "", 10},
		{"", "not a cursor!", 10},
		{"", encodeCursor("x")[1:], 10},
		{"", "", -1},
	} {
		if _, err := e.List(ctx, tc.match, tc.limit, tc.cursor); anomaly.ErrorCode(err) != anomaly.CodeInvalidArgument {
			t.Errorf("List(%q, %d, %q) error = %v, want %s", tc.match, tc.limit, tc.cursor, err, anomaly.CodeInvalidArgument)
		}
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := newEngine(t, Options{Shards: 2, Registerer: reg})
	mustIngest(t, e, flat("a", 0, 5))
	mustIngest(t, e, append(flat("a", 0, 2), anomaly.Sample{Series: "b", Value: math.NaN()}))
	for _, c := range []struct {
		name, label, value string
		want               float64
	}{
		{"detector_points_accepted_total", "", "", 5},
		{"detector_points_rejected_total", "code", "out_of_order", 2},
		{"detector_points_rejected_total", "code", "invalid_value", 1},
		{"detector_series_live", "", "", 1},
		{"detector_ingest_batches_total", "", "", 2},
		{"detector_verdict_latency_seconds", "", "", 2}, // sample count
		{"detector_shard_queue_depth", "shard", "1", 0},
		{"detector_shard_queue_capacity", "", "", DefaultQueueDepth},
	} {
		if got := counterValue(t, reg, c.name, c.label, c.value); got != c.want {
			t.Errorf("%s{%s=%q} = %v, want %v", c.name, c.label, c.value, got, c.want)
		}
	}
	if _, err := NewEngine(Options{Registerer: reg}); err == nil {
		t.Errorf("NewEngine with the metrics already registered: nil error, want one")
	}
}

// counterValue returns the value of the metric with the label (or the
// sample count of a histogram), failing when it is absent.
func counterValue(t *testing.T, g prometheus.Gatherer, name, label, value string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			ok := label == ""
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					ok = true
				}
			}
			if !ok {
				continue
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount())
			}
		}
	}
	t.Fatalf("metric %s{%s=%q} not found", name, label, value)
	return 0
}

func TestOptions(t *testing.T) {
	bad := models.DefaultConfig()
	bad.MinPoints = 0
	if _, err := NewEngine(Options{Model: bad}); err == nil {
		t.Errorf("NewEngine(invalid model config) = nil error, want one")
	}
	if _, err := NewEngine(Options{IdleTimeout: -1}); err == nil {
		t.Errorf("NewEngine(negative idle timeout) = nil error, want one")
	}
	e := newEngine(t, Options{Shards: 4, MaxSeries: 10})
	caps := 0
	for _, s := range e.Stats().Shards {
		caps += s.MaxSeries
		if s.QueueCapacity != DefaultQueueDepth {
			t.Errorf("shard queue capacity %d, want %d", s.QueueCapacity, DefaultQueueDepth)
		}
	}
	if caps != 10 {
		t.Errorf("shard caps sum to %d, want MaxSeries 10", caps)
	}
	if e.ModelConfig() != models.DefaultConfig() || e.Limits() != DefaultLimits() {
		t.Errorf("defaults not applied: model %+v limits %+v", e.ModelConfig(), e.Limits())
	}
}

// TestSlotIsPointerFree keeps the per-series state invisible to the garbage
// collector (see the package doc).
func TestSlotIsPointerFree(t *testing.T) {
	var walk func(reflect.Type) string
	walk = func(tp reflect.Type) string {
		switch tp.Kind() {
		case reflect.Pointer, reflect.UnsafePointer, reflect.Map, reflect.Slice, reflect.String,
			reflect.Chan, reflect.Func, reflect.Interface:
			return tp.String()
		case reflect.Array:
			return walk(tp.Elem())
		case reflect.Struct:
			for i := range tp.NumField() {
				if p := walk(tp.Field(i).Type); p != "" {
					return tp.Field(i).Name + " " + p
				}
			}
		}
		return ""
	}
	for _, tp := range []reflect.Type{reflect.TypeFor[slot](), reflect.TypeFor[item]().Field(0).Type, reflect.TypeFor[outcome]()} {
		if p := walk(tp); p != "" {
			t.Errorf("%s holds a pointer: %s", tp, p)
		}
	}
}

// TestConcurrent runs ingest and every read at once; run it with -race.
func TestConcurrent(t *testing.T) {
	e := newEngine(t, Options{Shards: 3, QueueDepth: 4, MaxSeries: 40, EnqueueTimeout: time.Second})
	ctx := context.Background()
	const writers, rounds = 4, 60
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				var batch []anomaly.Sample
				for s := range 15 {
					batch = append(batch, anomaly.Sample{
						Series:      fmt.Sprintf(`m{w="%d",s="%d"}`, w, s),
						TimestampMs: int64(r) * 60000,
						Value:       100 + float64((r*7+s)%11),
					})
				}
				if res, err := e.Ingest(ctx, batch); err != nil || res.Accepted != len(batch) {
					t.Errorf("Ingest = %+v, %v", res, err)
					return
				}
			}
		}()
	}
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds * 2 {
				s := fmt.Sprintf(`m{s="%d",w="%d"}`, i%15, i%writers)
				if _, err := e.Latest(ctx, s); err != nil && anomaly.ErrorCode(err) != anomaly.CodeNotFound {
					t.Errorf("Latest: %v", err)
				}
				if _, err := e.Get(ctx, s); err != nil && anomaly.ErrorCode(err) != anomaly.CodeNotFound {
					t.Errorf("Get: %v", err)
				}
				if _, err := e.WhatIf(ctx, s, []anomaly.Sample{{TimestampMs: 1, Value: 3}}); err != nil && anomaly.ErrorCode(err) != anomaly.CodeNotFound {
					t.Errorf("WhatIf: %v", err)
				}
				if _, err := e.List(ctx, `{w=~"1|2"}`, 7, ""); err != nil {
					t.Errorf("List: %v", err)
				}
				_ = e.Stats()
			}
		}()
	}
	wg.Wait()
	// 60 series cycle through 40 places: every shard is full and evicting.
	if st := e.Stats(); st.Series != 40 || st.EvictedLRU == 0 {
		t.Errorf("Stats = %+v, want 40 series and LRU evictions", st)
	}
}

// gateSink blocks Record for events of one series until released.
type gateSink struct {
	series  string
	gate    chan struct{}
	mu      sync.Mutex
	waiting int
}

func (s *gateSink) Record(ev anomaly.Event) {
	if ev.Series != s.series {
		return
	}
	s.mu.Lock()
	s.waiting++
	s.mu.Unlock()
	<-s.gate
}

func (s *gateSink) Waiting() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.waiting
}

// TestPartialOverload: a shard held up by a slow sink rejects its points
// as overloaded while the other shard's points of the same batch are
// accepted, and the call succeeds.
func TestPartialOverload(t *testing.T) {
	// Two series on different shards of a 2-shard engine.
	a, b := "a", ""
	for i := range 100 {
		s := fmt.Sprintf("b%d", i)
		if HashString(s)%2 != HashString(a)%2 {
			b = s
			break
		}
	}
	gs := &gateSink{series: a, gate: make(chan struct{})}
	e := newEngine(t, Options{Shards: 2, QueueDepth: 1, EnqueueTimeout: 5 * time.Millisecond, Events: gs})
	ctx := context.Background()
	mustIngest(t, e, flat(a, 0, 200))
	mustIngest(t, e, flat(b, 0, 1))
	done := make(chan error, 2)
	go func() {
		_, err := e.Ingest(ctx, []anomaly.Sample{{Series: a, TimestampMs: 200 * 60000, Value: 1e6}})
		done <- err
	}()
	waitFor(t, "the sink to block shard a", func() bool { return gs.Waiting() == 1 })
	go func() {
		_, err := e.Ingest(ctx, flat(a, 201*60000, 1))
		done <- err
	}()
	waitFor(t, "shard a's queue to fill", func() bool { return len(e.shards[HashString(a)%2].in) == 1 })

	res, err := e.Ingest(ctx, []anomaly.Sample{
		{Series: a, TimestampMs: 300 * 60000, Value: 100},
		{Series: b, TimestampMs: 60000, Value: 100},
	})
	if err != nil {
		t.Fatalf("Ingest with one shard overloaded error = %v, want nil", err)
	}
	if res.Accepted != 1 || res.Rejected != 1 || res.Errors[0].Index != 0 || res.Errors[0].Code != anomaly.CodeOverloaded {
		t.Errorf("Ingest with one shard overloaded = %+v, want b accepted and a (index 0) overloaded", res)
	}
	close(gs.gate)
	for range 2 {
		if err := <-done; err != nil {
			t.Errorf("queued Ingest: %v", err)
		}
	}
}
