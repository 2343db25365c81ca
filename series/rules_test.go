package series

import (
	"context"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/anomalyd/detector/anomaly"
)

func fp(v float64) *float64 { return &v }

// noisy returns n points of series around level (noise 1), one a minute.
func noisy(series string, start time.Time, n int, level float64, seed uint64) []anomaly.Sample {
	r := rand.New(rand.NewPCG(seed, 7))
	out := make([]anomaly.Sample, n)
	for i := range out {
		out[i] = anomaly.Sample{Series: series, TimestampMs: start.Add(time.Duration(i) * time.Minute).UnixMilli(),
			Value: level + r.NormFloat64()}
	}
	return out
}

// TestStaticBound: a ceiling set by a rule alerts on a point the learned
// baseline would find ordinary, with detector static_bound, a band clipped
// to the ceiling and an anomaly opened on the timeline; a series the rule
// does not match is not touched; removing the rule removes the bound.
func TestStaticBound(t *testing.T) {
	ev := &sink{}
	e := newEngine(t, Options{Shards: 2, Events: ev})
	if err := e.SetRules([]anomaly.BoundRule{{Match: `disk_used{host="a"}`, Max: fp(90), Min: fp(10)}}); err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	// the series lives around 88: its band reaches above 90
	res := mustIngest(t, e, append(noisy(`disk_used{host="a"}`, start, 300, 88, 1), noisy(`disk_used{host="b"}`, start, 300, 88, 1)...))
	for _, a := range res.Anomalies {
		if a.Detector == "static_bound" && a.Value <= 90 && a.Value >= 10 {
			t.Fatalf("static bound fired inside the bounds: %+v", a)
		}
	}
	at := start.Add(300 * time.Minute).UnixMilli()
	res = mustIngest(t, e, []anomaly.Sample{
		{Series: `disk_used{host="a"}`, TimestampMs: at, Value: 90.5},
		{Series: `disk_used{host="b"}`, TimestampMs: at, Value: 90.5},
	})
	if len(res.Anomalies) != 1 {
		t.Fatalf("anomalies %+v, want host a only", res.Anomalies)
	}
	a := res.Anomalies[0]
	if a.Series != `disk_used{host="a"}` || a.Detector != "static_bound" || a.Upper > 90 || !(a.Upper > a.Lower) || a.AnomalyID == 0 {
		t.Fatalf("verdict %+v, want static_bound with upper <= 90", a)
	}
	opened := false
	for _, x := range ev.all() {
		if x.Kind == anomaly.EventOpened && x.AnomalyID == a.AnomalyID && x.Verdict.Detector == "static_bound" {
			opened = true
		}
	}
	if !opened {
		t.Fatal("no opened event for the static-bound anomaly")
	}
	d, err := e.Get(context.Background(), `disk_used{host="a"}`)
	if err != nil {
		t.Fatal(err)
	}
	if d.Baseline.Upper != a.Upper || d.RecentVerdicts[0].Detector != "static_bound" {
		t.Fatalf("series view %+v / %+v disagrees with the verdict %+v", d.Baseline, d.RecentVerdicts[0], a)
	}
	// a floor too
	res = mustIngest(t, e, []anomaly.Sample{{Series: `disk_used{host="a"}`, TimestampMs: at + 60000, Value: 5}})
	if len(res.Anomalies) != 1 || res.Anomalies[0].Detector != "static_bound" || res.Anomalies[0].Lower < 10 {
		t.Fatalf("below the floor: %+v", res.Anomalies)
	}
	// what-if agrees
	vs, err := e.WhatIf(context.Background(), `disk_used{host="a"}`, []anomaly.Sample{{TimestampMs: at + 120000, Value: 95}})
	if err != nil || vs[0].Detector != "static_bound" {
		t.Fatalf("what-if of 95: %+v, %v", vs, err)
	}
	if err := e.SetRules(nil); err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		res = mustIngest(t, e, []anomaly.Sample{{Series: `disk_used{host="a"}`, TimestampMs: at + int64(i+3)*60000, Value: 88}})
		for _, a := range res.Anomalies {
			if a.Detector == "static_bound" {
				t.Fatalf("static bound after the rule was removed: %+v", a)
			}
		}
	}
}

// TestLimitRatio: each pool's connections are judged against 80% of its
// own limit series (paired by the pool label), the latest limit value
// counts, and a series whose limit was never seen is judged by its
// baseline alone.
func TestLimitRatio(t *testing.T) {
	e := newEngine(t, Options{Shards: 3})
	err := e.SetRules([]anomaly.BoundRule{{Match: `conn_used`, Limit: `conn_max`, On: []string{"pool"}}})
	if err != nil {
		t.Fatal(err)
	}
	rs := e.rules.Load()
	if rs.rules[0].ratio != DefaultRatio {
		t.Fatalf("ratio %v, want the default %v", rs.rules[0].ratio, DefaultRatio)
	}
	start := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	var in []anomaly.Sample
	for i := range 200 {
		ts := start.Add(time.Duration(i) * time.Minute).UnixMilli()
		in = append(in,
			anomaly.Sample{Series: `conn_max{pool="a"}`, TimestampMs: ts, Value: 95},
			anomaly.Sample{Series: `conn_max{pool="b"}`, TimestampMs: ts, Value: 1000},
			anomaly.Sample{Series: `conn_used{pool="a"}`, TimestampMs: ts, Value: 70 + float64(i%5)},
			anomaly.Sample{Series: `conn_used{pool="b"}`, TimestampMs: ts, Value: 70 + float64(i%5)},
			anomaly.Sample{Series: `conn_used{pool="c"}`, TimestampMs: ts, Value: 70 + float64(i%5)},
		)
	}
	res := mustIngest(t, e, in)
	for _, a := range res.Anomalies {
		if a.Detector == "limit_ratio" {
			t.Fatalf("limit ratio fired below 80%%: %+v", a)
		}
	}
	at := start.Add(200 * time.Minute).UnixMilli()
	res = mustIngest(t, e, []anomaly.Sample{
		{Series: `conn_used{pool="a"}`, TimestampMs: at, Value: 76.5},
		{Series: `conn_used{pool="b"}`, TimestampMs: at, Value: 76.5},
		{Series: `conn_used{pool="c"}`, TimestampMs: at, Value: 74},
	})
	if len(res.Anomalies) != 1 || res.Anomalies[0].Series != `conn_used{pool="a"}` || res.Anomalies[0].Detector != "limit_ratio" ||
		res.Anomalies[0].Upper > 76 {
		t.Fatalf("anomalies %+v, want pool a over 80%% of 95", res.Anomalies)
	}
	// the limit is raised: the same value is fine again
	mustIngest(t, e, []anomaly.Sample{{Series: `conn_max{pool="a"}`, TimestampMs: at, Value: 200}})
	res = mustIngest(t, e, []anomaly.Sample{{Series: `conn_used{pool="a"}`, TimestampMs: at + 60000, Value: 76.5}})
	for _, a := range res.Anomalies {
		if a.Detector == "limit_ratio" {
			t.Fatalf("limit ratio after the limit was raised: %+v", a)
		}
	}
}

// TestRuleValidation: bad rules are refused with the field named, and the
// rules in force stay.
func TestRuleValidation(t *testing.T) {
	e := newEngine(t, Options{Shards: 1})
	good := anomaly.BoundRule{Match: `x`, Max: fp(1)}
	if err := e.SetRules([]anomaly.BoundRule{good}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		r     anomaly.BoundRule
		field string
	}{
		{anomaly.BoundRule{Match: ``, Max: fp(1)}, "match"},
		{anomaly.BoundRule{Match: `x{`, Max: fp(1)}, "match"},
		{anomaly.BoundRule{Match: `x`}, "match"},
		{anomaly.BoundRule{Match: `x`, Min: fp(2), Max: fp(1)}, "max"},
		{anomaly.BoundRule{Match: `x`, Max: fp(math.Inf(1))}, "max"},
		{anomaly.BoundRule{Match: `x`, Max: fp(1), Limit: `y`}, "limit"},
		{anomaly.BoundRule{Match: `x`, Limit: `y`, Ratio: -1}, "ratio"},
		{anomaly.BoundRule{Match: `x`, Ratio: 0.5}, "limit"},
		{anomaly.BoundRule{Match: `x`, Timezone: "Mars/Olympus"}, "timezone"},
		{anomaly.BoundRule{Match: `x`, Timezone: "Local"}, "timezone"},
		{anomaly.BoundRule{Match: strings.Repeat("x", MaxRuleSelector+1), Max: fp(1)}, "match"},
	} {
		_, err := CheckRule(tc.r)
		ae, ok := err.(*anomaly.Error)
		if !ok || ae.Code != anomaly.CodeInvalidArgument || ae.Field != tc.field {
			t.Errorf("CheckRule(%+v) = %v, want invalid_argument on %s", tc.r, err, tc.field)
		}
		if err := e.SetRules([]anomaly.BoundRule{good, tc.r}); err == nil || err.(*anomaly.Error).Index != 1 {
			t.Errorf("SetRules with %+v = %v, want an error at index 1", tc.r, err)
		}
	}
	if rs := e.rules.Load(); rs == nil || len(rs.rules) != 1 {
		t.Fatal("the rules in force changed after refused sets")
	}
	if err := e.SetRules(make([]anomaly.BoundRule, MaxRules+1)); err == nil {
		t.Fatal("more than MaxRules rules accepted")
	}
}

// TestRuleTimeZone: two series follow New York business hours across the
// spring daylight-saving change (2026-03-08); the engine runs in UTC, and
// a rule gives one of them the New York zone. After the change, that one
// stays quiet while the other, whose profile is in UTC, alerts on the
// hour the cycle moved.
func TestRuleTimeZone(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	e := newEngine(t, Options{Shards: 2})
	if err := e.SetRules([]anomaly.BoundRule{{Match: `{tz="ny"}`, Timezone: "America/New_York"}}); err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 2, 8, 0, 0, 0, 0, time.UTC)
	change := time.Date(2026, 3, 8, 7, 0, 0, 0, time.UTC)
	r := rand.New(rand.NewPCG(4, 1))
	count := map[string]int{}
	var batch []anomaly.Sample
	flush := func() {
		res := mustIngest(t, e, batch)
		for _, a := range res.Anomalies {
			if !a.Timestamp.Before(change) && a.Timestamp.Before(change.Add(24*time.Hour)) {
				count[a.Series]++
			}
		}
		batch = batch[:0]
	}
	for ts := start; ts.Before(change.Add(24 * time.Hour)); ts = ts.Add(5 * time.Minute) {
		lt := ts.In(ny)
		h := float64(lt.Hour()) + float64(lt.Minute())/60
		v := 100 + 50*math.Sin(2*math.Pi*h/24)
		n := r.NormFloat64()
		batch = append(batch,
			anomaly.Sample{Series: `load{tz="ny"}`, TimestampMs: ts.UnixMilli(), Value: v + n},
			anomaly.Sample{Series: `load{tz="utc"}`, TimestampMs: ts.UnixMilli(), Value: v + n})
		if len(batch) >= 512 {
			flush()
		}
	}
	flush()
	t.Logf("anomalous points in the day after the change: %v", count)
	if count[`load{tz="ny"}`] != 0 || count[`load{tz="utc"}`] == 0 {
		t.Fatalf("after the change: New York zone %d anomalous points (want 0), UTC %d (want some)",
			count[`load{tz="ny"}`], count[`load{tz="utc"}`])
	}
}

// TestRulesChangeWhileIngesting: rules swapped while points flow (run with
// -race); after the last swap every series is judged by the last rules.
func TestRulesChangeWhileIngesting(t *testing.T) {
	e := newEngine(t, Options{Shards: 2})
	start := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 50 {
			var rules []anomaly.BoundRule
			if i%2 == 0 {
				rules = []anomaly.BoundRule{{Match: `m`, Max: fp(float64(1000 + i))}, {Match: `m{s="0"}`, Timezone: "Europe/Berlin"}}
			}
			if err := e.SetRules(rules); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for i := range 100 {
		var b []anomaly.Sample
		for s := range 8 {
			b = append(b, anomaly.Sample{Series: `m{s="` + string(rune('0'+s)) + `"}`,
				TimestampMs: start.Add(time.Duration(i) * time.Minute).UnixMilli(), Value: 50 + float64(i%3)})
		}
		mustIngest(t, e, b)
	}
	<-done
	if err := e.SetRules([]anomaly.BoundRule{{Match: `m`, Max: fp(40)}}); err != nil {
		t.Fatal(err)
	}
	res := mustIngest(t, e, []anomaly.Sample{{Series: `m{s="3"}`, TimestampMs: start.Add(100 * time.Minute).UnixMilli(), Value: 51}})
	if len(res.Anomalies) != 1 || res.Anomalies[0].Detector != "static_bound" || res.Anomalies[0].Upper > 40 {
		t.Fatalf("after the last change: %+v", res.Anomalies)
	}
}
