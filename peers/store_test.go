package peers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/anomalyd/detector/anomaly"
)

// sink collects events.
type sink struct {
	mu     sync.Mutex
	events []anomaly.Event
}

func (s *sink) Record(e anomaly.Event) {
	s.mu.Lock()
	s.events = append(s.events, e)
	s.mu.Unlock()
}

func (s *sink) take() []anomaly.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.events
	s.events = nil
	return out
}

const stepMs = 60_000

// base is a step-aligned start, Monday 2026-01-05 00:00 UTC.
var base = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)

func stepTime(k int) time.Time { return base.Add(time.Duration(k) * time.Minute) }

func newTestStore(t *testing.T, opts Options, rules ...Rule) (*Store, *sink) {
	t.Helper()
	sk := &sink{}
	if opts.Sink == nil {
		opts.Sink = sk
	}
	var id anomaly.ID = 1000
	if opts.NextID == nil {
		opts.NextID = func() anomaly.ID { id++; return id }
	}
	s, err := New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rules {
		if _, err := s.AddRule(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	return s, sk
}

// value gives a member's value at step k.
type value func(k int) float64

// feed sends one sample per member for each step in [from, to), a few
// seconds into the step, in batches of one step, members in sorted order.
func feed(s *Store, from, to int, members map[string]value) {
	names := slices.Sorted(mapKeys(members))
	for k := from; k < to; k++ {
		var batch []anomaly.Sample
		for i, name := range names {
			v := members[name](k)
			if math.IsNaN(v) {
				continue
			}
			ts := stepTime(k).Add(time.Duration(5+i%40) * time.Second)
			batch = append(batch, anomaly.Sample{Series: name, TimestampMs: ts.UnixMilli(), Value: v})
		}
		s.Observe(batch)
	}
}

// daily returns a healthy member: level × (1 + 0.2 sin) with 1.5% noise.
func daily(seed uint64, level float64) value {
	r := rand.New(rand.NewPCG(seed, 5))
	noise := make([]float64, 1000)
	for i := range noise {
		noise[i] = r.NormFloat64() * 0.015 * level
	}
	return func(k int) float64 {
		return level*(1+0.2*math.Sin(2*math.Pi*float64(k)/30)) + noise[k%len(noise)]
	}
}

func times(f value, factor float64) value { return func(k int) float64 { return f(k) * factor } }

var playRule = Rule{Name: "plays", Match: "play_starts", GroupBy: []string{"title"}, Member: "device", Window: 30, Step: time.Minute}

func playSeries(title, device string) string {
	return fmt.Sprintf(`play_starts{device=%q,title=%q}`, device, title)
}

func TestStoreEvaluate(t *testing.T) {
	reg := prometheus.NewRegistry()
	s, sk := newTestStore(t, Options{Registerer: reg}, playRule)
	members := map[string]value{}
	for d := range 20 {
		dev := fmt.Sprintf("d%02d", d)
		members[playSeries("t1", dev)] = daily(uint64(d), 100)
		members[playSeries("t2", dev)] = daily(uint64(100+d), 3e6)
	}
	members[playSeries("t1", "d07")] = times(daily(7, 100), 1.4)
	members[playSeries("t3", "d00")] = daily(200, 5)
	members[playSeries("t3", "d01")] = daily(201, 5)
	members[`other_metric{title="t1",device="x"}`] = daily(300, 1)
	members[`play_starts{title="t4"}`] = daily(301, 1) // no device: not a member
	feed(s, 0, 30, members)

	flagged, err := s.Evaluate(context.Background(), stepTime(30).Add(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(flagged) != 1 || flagged[0].Group != `play_starts{title="t1"}` || flagged[0].Outliers != 1 {
		t.Fatalf("Evaluate flagged %+v, want group t1 with one outlier", flagged)
	}
	all, err := s.Results("plays", "")
	if err != nil {
		t.Fatal(err)
	}
	byGroup := map[string]GroupResult{}
	for _, g := range all {
		byGroup[g.Group] = g
	}
	if len(byGroup) != 3 {
		t.Fatalf("Results has groups %v, want t1, t2, t3", slices.Sorted(mapKeys(byGroup)))
	}
	t1 := byGroup[`play_starts{title="t1"}`]
	if !t1.WindowStart.Equal(stepTime(0)) || t1.StepSeconds != 60 || t1.Rule != "plays" {
		t.Errorf("t1 window start %v step %v rule %q, want %v 60 plays", t1.WindowStart, t1.StepSeconds, t1.Rule, stepTime(0))
	}
	if len(t1.Members) != 20 {
		t.Errorf("t1 has %d members, want 20", len(t1.Members))
	}
	for _, m := range t1.Members {
		want := m.Member == "d07"
		if m.Outlier != want {
			t.Errorf("t1 member %s outlier = %v, want %v (%s)", m.Member, m.Outlier, want, m.Reason)
		}
		if want {
			if ok, _ := regexp.MatchString(`^level 1\.(3|4)\d*x the group median over the whole window`, m.Reason); !ok {
				t.Errorf("t1 d07 reason = %q, want a level of about 1.4x", m.Reason)
			}
			if m.Series != playSeries("t1", "d07") {
				t.Errorf("t1 d07 series = %q, want %q", m.Series, playSeries("t1", "d07"))
			}
		}
	}
	for _, m := range byGroup[`play_starts{title="t2"}`].Members {
		if m.Outlier {
			t.Errorf("t2 member %s flagged: %s", m.Member, m.Reason)
		}
	}
	if got := byGroup[`play_starts{title="t3"}`].Skipped; !strings.Contains(got, "too few members to judge: 2, need 3") {
		t.Errorf("t3 skipped = %q, want too few members", got)
	}

	evs := sk.take()
	if len(evs) != 1 {
		t.Fatalf("events = %+v, want one opened", evs)
	}
	ev := evs[0]
	if ev.Kind != anomaly.EventOpened || ev.AnomalyKind != anomaly.KindPeerOutlier || ev.Series != playSeries("t1", "d07") ||
		ev.AnomalyID != 1001 || ev.Verdict.AnomalyID != 1001 || ev.Verdict.State != anomaly.StateAnomalous || ev.Verdict.Detector != "peers:plays" {
		t.Errorf("event = %+v, want opened peer_outlier 1001 for t1/d07", ev)
	}
	if !(ev.Verdict.Value > ev.Verdict.Upper) || !(ev.Verdict.Lower <= ev.Verdict.Expected && ev.Verdict.Expected <= ev.Verdict.Upper) || !(ev.Verdict.Score > 1) {
		t.Errorf("event verdict = %+v, want value above the healthy range and score > 1", ev.Verdict)
	}

	// Still an outlier one step later: updated, same id.
	feed(s, 30, 31, members)
	if _, err := s.Evaluate(context.Background(), stepTime(31).Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	evs = sk.take()
	if len(evs) != 1 || evs[0].Kind != anomaly.EventUpdated || evs[0].AnomalyID != 1001 {
		t.Errorf("events after a second flagged evaluation = %+v, want updated 1001", evs)
	}

	// Back to normal for a whole window: resolved, same id.
	members[playSeries("t1", "d07")] = daily(7, 100)
	feed(s, 31, 61, members)
	if _, err := s.Evaluate(context.Background(), stepTime(61).Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	evs = sk.take()
	if len(evs) != 1 || evs[0].Kind != anomaly.EventResolved || evs[0].AnomalyID != 1001 || evs[0].Series != playSeries("t1", "d07") ||
		evs[0].Verdict.State != anomaly.StateNormal {
		t.Errorf("events after recovery = %+v, want resolved 1001", evs)
	}

	// Metrics reflect the last evaluation.
	for _, c := range []struct {
		name, label string
		want        float64
	}{
		{"detector_peers_outliers", "", 0},
		{"detector_peers_groups", "skipped", 1},
		{"detector_peers_groups", "judged", 2},
		{"detector_peers_tracked_series", "", 42},
		{"detector_peers_samples_total", "stored", 42*30 + 42 + 42*30},
	} {
		if got := gather(t, reg, c.name, c.label); got != c.want {
			t.Errorf("%s{%s} = %v, want %v", c.name, c.label, got, c.want)
		}
	}
}

func TestStoreGapsAndCoverage(t *testing.T) {
	s, _ := newTestStore(t, Options{}, playRule)
	members := map[string]value{}
	for d := range 10 {
		members[playSeries("t", fmt.Sprintf("d%d", d))] = daily(uint64(d), 50)
	}
	// d8 misses every third step (interpolated, healthy); d9 reports only
	// in the last 10 steps (skipped).
	d8, d9 := daily(8, 50), daily(9, 50)
	members[playSeries("t", "d8")] = func(k int) float64 {
		if k%3 == 0 {
			return math.NaN()
		}
		return d8(k)
	}
	members[playSeries("t", "d9")] = func(k int) float64 {
		if k < 20 {
			return math.NaN()
		}
		return d9(k)
	}
	feed(s, 0, 30, members)
	if _, err := s.Evaluate(context.Background(), stepTime(30)); err != nil {
		t.Fatal(err)
	}
	res, err := s.Results("plays", `play_starts{title="t"}`)
	if err != nil || len(res) != 1 {
		t.Fatalf("Results = %v, %v", res, err)
	}
	for _, m := range res[0].Members {
		switch m.Member {
		case "d9":
			if m.Outlier || m.Reason != "too little data: 10 of 30 steps" || m.Cluster != -1 {
				t.Errorf("d9 = %+v, want skipped with too little data: 10 of 30 steps", m)
			}
		default:
			if m.Outlier || m.Reason != "in the main cluster" {
				t.Errorf("%s = %+v, want in the main cluster", m.Member, m)
			}
		}
	}
}

func TestStoreRingSemantics(t *testing.T) {
	s, _ := newTestStore(t, Options{}, Rule{Name: "r", Match: "m", Window: 3, Step: time.Minute})
	obs := func(k int, sec int, v float64) {
		s.Observe([]anomaly.Sample{{Series: `m{i="a"}`, TimestampMs: stepTime(k).Add(time.Duration(sec) * time.Second).UnixMilli(), Value: v}})
	}
	obs(10, 1, 1)
	obs(10, 50, 2) // same step: the last value wins
	obs(12, 1, 4)  // step 11 missing
	obs(6, 1, 99)  // older than the ring: dropped
	obs(11, 30, 3) // late but within the ring
	var got []float64
	for _, sh := range s.shards {
		sh.mu.Lock()
		for _, sl := range sh.slabs {
			if len(sl.last) > 0 {
				got = make([]float64, 3)
				sl.read(0, stepTime(10).UnixMilli()/stepMs, got)
			}
		}
		sh.mu.Unlock()
	}
	if !slices.Equal(got, []float64{2, 3, 4}) {
		t.Errorf("window of steps 10-12 = %v, want [2 3 4]", got)
	}
}

func TestStoreEviction(t *testing.T) {
	s, sk := newTestStore(t, Options{}, playRule)
	members := map[string]value{}
	for d := range 6 {
		members[playSeries("t", fmt.Sprintf("d%d", d))] = daily(uint64(d), 50)
	}
	members[playSeries("t", "d5")] = times(daily(5, 50), 2)
	feed(s, 0, 30, members)
	if _, err := s.Evaluate(context.Background(), stepTime(30)); err != nil {
		t.Fatal(err)
	}
	if evs := sk.take(); len(evs) != 1 || evs[0].Kind != anomaly.EventOpened {
		t.Fatalf("events = %+v, want d5 opened", evs)
	}
	if got := s.tracked.Load(); got != 6 {
		t.Fatalf("tracked = %d, want 6", got)
	}
	// d5 goes silent for more than two windows; the others keep reporting.
	delete(members, playSeries("t", "d5"))
	feed(s, 30, 95, members)
	if _, err := s.Evaluate(context.Background(), stepTime(95)); err != nil {
		t.Fatal(err)
	}
	if got := s.tracked.Load(); got != 5 {
		t.Errorf("tracked after eviction = %d, want 5", got)
	}
	evs := sk.take()
	if len(evs) != 1 || evs[0].Kind != anomaly.EventResolved || evs[0].Series != playSeries("t", "d5") {
		t.Errorf("events = %+v, want d5 resolved", evs)
	}
	if _, err := s.Evaluate(context.Background(), stepTime(96)); err != nil {
		t.Fatal(err)
	}
	res, _ := s.Results("plays", "")
	if len(res) != 1 || len(res[0].Members) != 5 {
		t.Fatalf("results after eviction = %+v, want 5 members", res)
	}
	// It comes back: tracked again.
	members[playSeries("t", "d5")] = daily(5, 50)
	feed(s, 96, 97, members)
	if got := s.tracked.Load(); got != 6 {
		t.Errorf("tracked after return = %d, want 6", got)
	}
}

// memRules is a RuleStore in memory that can be made to fail.
type memRules struct {
	mu    sync.Mutex
	rules []Rule
	fail  error
	saves int
}

func (m *memRules) LoadRules(context.Context) ([]Rule, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.rules), nil
}

func (m *memRules) SaveRules(_ context.Context, r []Rule) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	m.saves++
	m.rules = slices.Clone(r)
	return nil
}

func TestStoreRules(t *testing.T) {
	ctx := context.Background()
	persist := &memRules{rules: []Rule{{Name: "loaded", Match: "m"}}}
	s, sk := newTestStore(t, Options{Rules: persist})
	names := func() []string {
		var n []string
		for _, r := range s.Rules() {
			n = append(n, r.Name)
		}
		return n
	}
	if got := names(); !slices.Equal(got, []string{"loaded"}) {
		t.Fatalf("rules after New = %v, want [loaded]", got)
	}
	got, err := s.AddRule(ctx, playRule)
	if err != nil {
		t.Fatal(err)
	}
	if got.Tolerance != 3 || got.MinMembers != 3 || got.Eps != nil {
		t.Errorf("AddRule returned %+v, want defaults filled", got)
	}
	if persist.saves != 1 || len(persist.rules) != 2 {
		t.Errorf("saves = %d rules %v, want 1 save of 2 rules", persist.saves, persist.rules)
	}
	if _, err := s.AddRule(ctx, playRule); anomaly.ErrorCode(err) != anomaly.CodeConflict {
		t.Errorf("AddRule(duplicate) error = %v, want conflict", err)
	}
	if _, err := s.AddRule(ctx, Rule{Name: "bad", Match: "m", Window: 2}); anomaly.ErrorCode(err) != anomaly.CodeInvalidArgument {
		t.Errorf("AddRule(window 2) error = %v, want invalid_argument", err)
	}
	persist.fail = errors.New("disk full")
	if _, err := s.AddRule(ctx, Rule{Name: "x", Match: "m"}); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("AddRule with a failing store error = %v, want disk full", err)
	}
	if err := s.DeleteRule(ctx, "plays"); err == nil {
		t.Errorf("DeleteRule with a failing store succeeded")
	}
	if got := names(); !slices.Equal(got, []string{"loaded", "plays"}) {
		t.Errorf("rules after failed saves = %v, want [loaded plays]", got)
	}
	persist.fail = nil
	if err := s.DeleteRule(ctx, "nope"); anomaly.ErrorCode(err) != anomaly.CodeNotFound {
		t.Errorf("DeleteRule(unknown) error = %v, want not_found", err)
	}
	if _, err := s.Results("nope", ""); anomaly.ErrorCode(err) != anomaly.CodeNotFound {
		t.Errorf("Results(unknown rule) error = %v, want not_found", err)
	}

	// Deleting a rule with an open outlier resolves it and frees windows.
	members := map[string]value{}
	for d := range 5 {
		members[playSeries("t", fmt.Sprintf("d%d", d))] = daily(uint64(d), 50)
	}
	members[playSeries("t", "d4")] = times(daily(4, 50), 3)
	feed(s, 0, 30, members)
	if _, err := s.Evaluate(ctx, stepTime(30)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Results("plays", `play_starts{title="nope"}`); anomaly.ErrorCode(err) != anomaly.CodeNotFound {
		t.Errorf("Results(unknown group) error = %v, want not_found", err)
	}
	if evs := sk.take(); len(evs) != 1 || evs[0].Kind != anomaly.EventOpened {
		t.Fatalf("events = %+v, want one opened", evs)
	}
	if err := s.DeleteRule(ctx, "plays"); err != nil {
		t.Fatal(err)
	}
	if evs := sk.take(); len(evs) != 1 || evs[0].Kind != anomaly.EventResolved || evs[0].Series != playSeries("t", "d4") {
		t.Errorf("events after DeleteRule = %+v, want d4 resolved", evs)
	}
	if got := s.tracked.Load(); got != 0 {
		t.Errorf("tracked after DeleteRule = %d, want 0", got)
	}
	if got := names(); !slices.Equal(got, []string{"loaded"}) {
		t.Errorf("rules after delete = %v, want [loaded]", got)
	}
	// Re-adding starts from scratch and picks series up again.
	if _, err := s.AddRule(ctx, playRule); err != nil {
		t.Fatal(err)
	}
	feed(s, 30, 31, members)
	if got := s.tracked.Load(); got != 5 {
		t.Errorf("tracked after re-adding = %d, want 5", got)
	}
}

func TestStoreDefaultMember(t *testing.T) {
	s, _ := newTestStore(t, Options{}, Rule{Name: "cpu", Match: `cpu{app="api"}`, GroupBy: []string{"cluster"}})
	members := map[string]value{}
	for i := range 4 {
		members[fmt.Sprintf(`cpu{app="api",cluster="c1",instance="i%d",zone="z"}`, i)] = daily(uint64(i), 0.5)
	}
	members[`cpu{app="web",cluster="c1",instance="w",zone="z"}`] = daily(9, 0.5) // not matched
	feed(s, 0, 30, members)
	if _, err := s.Evaluate(context.Background(), stepTime(30)); err != nil {
		t.Fatal(err)
	}
	res, err := s.Results("cpu", `cpu{cluster="c1"}`)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range res[0].Members {
		names = append(names, m.Member)
	}
	slices.Sort(names)
	want := []string{`{app="api",instance="i0",zone="z"}`, `{app="api",instance="i1",zone="z"}`, `{app="api",instance="i2",zone="z"}`, `{app="api",instance="i3",zone="z"}`}
	if !slices.Equal(names, want) {
		t.Errorf("members = %v, want %v", names, want)
	}
}

// TestStoreConcurrent runs ingest, evaluations and rule changes at once
// (meant for -race).
func TestStoreConcurrent(t *testing.T) {
	s, _ := newTestStore(t, Options{Shards: 4, Workers: 2}, playRule)
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			members := map[string]value{}
			for d := range 8 {
				members[playSeries(fmt.Sprintf("t%d", g), fmt.Sprintf("d%d", d))] = daily(uint64(d), 10)
			}
			feed(s, 0, 40, members)
		})
	}
	wg.Go(func() {
		for k := range 20 {
			if _, err := s.Evaluate(ctx, stepTime(10+k)); err != nil {
				t.Error(err)
			}
			if _, err := s.Results("", ""); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Go(func() {
		for i := range 10 {
			r := Rule{Name: fmt.Sprintf("tmp%d", i), Match: "play_starts", GroupBy: []string{"title"}, Window: 5}
			if _, err := s.AddRule(ctx, r); err != nil {
				t.Error(err)
			}
			if err := s.DeleteRule(ctx, r.Name); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Wait()
	if _, err := s.Evaluate(ctx, stepTime(40)); err != nil {
		t.Fatal(err)
	}
	res, err := s.Results("plays", "")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, g := range res {
		n += len(g.Members)
	}
	if len(res) != 4 || n != 32 {
		t.Errorf("after concurrent ingest: %d groups, %d members, want 4 and 32", len(res), n)
	}
	if got := s.tracked.Load(); got != 32 {
		t.Errorf("tracked = %d, want 32 (temporary rules must leave nothing behind)", got)
	}
}

func TestRun(t *testing.T) {
	s, _ := newTestStore(t, Options{Now: func() time.Time { return stepTime(30) }}, playRule)
	members := map[string]value{}
	for d := range 3 {
		members[playSeries("t", fmt.Sprintf("d%d", d))] = daily(uint64(d), 1)
	}
	feed(s, 0, 30, members)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, time.Millisecond) }()
	for range 5000 {
		if r, _ := s.Results("plays", ""); len(r) > 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v, want nil after cancel", err)
	}
	if r, _ := s.Results("plays", ""); len(r) != 1 {
		t.Errorf("Results after Run = %d groups, want 1", len(r))
	}
}

func TestRuleValidate(t *testing.T) {
	eps0, epsNaN := 0.0, math.NaN()
	cases := []struct {
		r     Rule
		field string // "" means valid
	}{
		{Rule{Name: "a", Match: "m"}, ""},
		{Rule{Name: "a", Match: `m{x=~"a.*"}`, GroupBy: []string{"t", "b"}, Member: "d", Window: 1440, Step: 24 * time.Hour}, ""},
		{Rule{Match: "m"}, "name"},
		{Rule{Name: "a b", Match: "m"}, "name"},
		{Rule{Name: "a"}, "match"},
		{Rule{Name: "a", Match: `m{x=`}, "match"},
		{Rule{Name: "a", Match: "m", GroupBy: []string{"t", "t"}}, "group_by"},
		{Rule{Name: "a", Match: "m", GroupBy: []string{"__name__"}}, "group_by"},
		{Rule{Name: "a", Match: "m", GroupBy: []string{"t"}, Member: "t"}, "member"},
		{Rule{Name: "a", Match: "m", Member: "1x"}, "member"},
		{Rule{Name: "a", Match: "m", Window: 2}, "window"},
		{Rule{Name: "a", Match: "m", Window: 1441}, "window"},
		{Rule{Name: "a", Match: "m", Step: time.Millisecond}, "step"},
		{Rule{Name: "a", Match: "m", Eps: &eps0}, "eps"},
		{Rule{Name: "a", Match: "m", Eps: &epsNaN}, "eps"},
		{Rule{Name: "a", Match: "m", MinPts: -1}, "min_pts"},
		{Rule{Name: "a", Match: "m", Tolerance: -1}, "tolerance"},
		{Rule{Name: "a", Match: "m", MinMembers: 1}, "min_members"},
	}
	for _, c := range cases {
		err := c.r.Validate()
		if c.field == "" {
			if err != nil {
				t.Errorf("Validate(%+v) = %v, want nil", c.r, err)
			}
			continue
		}
		var e *anomaly.Error
		if !errors.As(err, &e) || e.Field != c.field {
			t.Errorf("Validate(%+v) = %v, want an error on %s", c.r, err, c.field)
		}
	}
}

func TestRuleJSON(t *testing.T) {
	cases := []struct {
		in   string
		step time.Duration
		eps  float64 // 0 = auto
		out  string  // re-encoded, "" = error expected
	}{
		{`{"name":"a","match":"m","group_by":["t"],"member":"d","window":30,"step":"90s","eps":"auto"}`, 90 * time.Second, 0,
			`{"name":"a","match":"m","group_by":["t"],"member":"d","window":30,"step":"90s","eps":"auto","min_pts":0,"tolerance":0,"min_members":0}`},
		{`{"name":"a","match":"m","step":120,"eps":0.25}`, 2 * time.Minute, 0.25,
			`{"name":"a","match":"m","group_by":[],"window":0,"step":"120s","eps":0.25,"min_pts":0,"tolerance":0,"min_members":0}`},
		{`{"name":"a","match":"m","eps":null}`, 0, 0,
			`{"name":"a","match":"m","group_by":[],"window":0,"step":"0s","eps":"auto","min_pts":0,"tolerance":0,"min_members":0}`},
		{`{"name":"a","match":"m","unknown":1}`, 0, 0, ""},
		{`{"name":"a","match":"m","eps":"big"}`, 0, 0, ""},
		{`{"name":"a","match":"m","step":"soon"}`, 0, 0, ""},
	}
	for _, c := range cases {
		var r Rule
		err := json.Unmarshal([]byte(c.in), &r)
		if c.out == "" {
			if err == nil {
				t.Errorf("Unmarshal(%s) succeeded, want an error", c.in)
			}
			continue
		}
		if err != nil {
			t.Errorf("Unmarshal(%s) = %v", c.in, err)
			continue
		}
		gotEps := 0.0
		if r.Eps != nil {
			gotEps = *r.Eps
		}
		if r.Step != c.step || gotEps != c.eps {
			t.Errorf("Unmarshal(%s) step %v eps %v, want %v %v", c.in, r.Step, gotEps, c.step, c.eps)
		}
		b, _ := json.Marshal(r)
		if string(b) != c.out {
			t.Errorf("Marshal(Unmarshal(%s)) = %s, want %s", c.in, b, c.out)
		}
	}
}

// gather reads one gauge or counter from reg; label selects the series by
// its only label value ("" for an unlabelled metric).
func gather(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label != "" && (len(m.GetLabel()) != 1 || m.GetLabel()[0].GetValue() != label) {
				continue
			}
			if g := m.GetGauge(); g != nil {
				return g.GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("metric %s{%s} not found", name, label)
	return 0
}
