package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/internal/synth"
)

func startMain(t *testing.T) (*Main, string) {
	t.Helper()
	m, err := NewMain(Config{Listen: "127.0.0.1:0"}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m, "http://" + m.Addr()
}

type point struct {
	Series    string  `json:"series"`
	Timestamp string  `json:"timestamp"`
	Value     float64 `json:"value"`
}

func postJSON(t *testing.T, u string, body any, out any) int {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := http.Post(u, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("decode %s: %v", u, err)
		}
	}
	return resp.StatusCode
}

func getJSON(t *testing.T, u string, out any) int {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatalf("decode %s: %v", u, err)
	}
	return resp.StatusCode
}

// TestServiceEndToEnd pushes the canonical scenario through the real HTTP
// server in batches, as an operator's agent would, and checks the verdicts,
// the series detail and the timeline.
func TestServiceEndToEnd(t *testing.T) {
	_, base := startMain(t)
	const name = `requests{app="api",instance="i-0abc"}`
	sc := synth.NewScenario(1)
	var anomalies []anomaly.Verdict
	for start := 0; start < len(sc.Ts); start += 500 {
		var pts []point
		for i := start; i < min(start+500, len(sc.Ts)); i++ {
			pts = append(pts, point{name, time.UnixMilli(sc.Ts[i]).UTC().Format(time.RFC3339), sc.Values[i]})
		}
		var res anomaly.IngestResult
		if code := postJSON(t, base+"/api/v1/points", map[string]any{"points": pts}, &res); code != 200 || res.Rejected != 0 {
			t.Fatalf("POST points = %d, %+v", code, res)
		}
		anomalies = append(anomalies, res.Anomalies...)
	}
	for _, c := range []struct {
		what string
		idx  int
	}{{"spike", sc.Spike}, {"dip", sc.Dip}, {"level shift", sc.ShiftAt}} {
		found := false
		for _, v := range anomalies {
			d := v.Timestamp.UnixMilli() - sc.Ts[c.idx]
			if d >= 0 && d <= 3*5*60*1000 {
				found = v.AnomalyID != 0 && v.Expected != v.Value && v.Detector != ""
			}
		}
		if !found {
			t.Errorf("%s at %s: no explained anomalous verdict in the ingest answers", c.what, time.UnixMilli(sc.Ts[c.idx]).UTC())
		}
	}

	var v anomaly.Verdict
	if code := getJSON(t, base+"/api/v1/detect?series="+url.QueryEscape(`requests{instance="i-0abc",app="api"}`), &v); code != 200 {
		t.Fatalf("GET detect = %d", code)
	}
	if last := time.UnixMilli(sc.Ts[len(sc.Ts)-1]).UTC(); !v.Timestamp.Equal(last) || v.Series != name {
		t.Errorf("latest verdict = %s at %s, want %s at %s", v.Series, v.Timestamp, name, last)
	}

	var d anomaly.SeriesDetail
	if code := getJSON(t, base+"/api/v1/series/"+url.PathEscape(name), &d); code != 200 || d.Points != uint64(len(sc.Ts)) {
		t.Errorf("GET series = %d, points %d, want 200 and %d", code, d.Points, len(sc.Ts))
	}

	var page anomaly.AnomalyPage
	if code := getJSON(t, base+"/api/v1/anomalies?series="+url.QueryEscape(name), &page); code != 200 || len(page.Anomalies) < 3 {
		t.Fatalf("GET anomalies = %d with %d anomalies, want at least 3", code, len(page.Anomalies))
	}
	for _, a := range page.Anomalies {
		if a.Series != name || a.Points < 1 || a.PeakScore <= 0 {
			t.Errorf("timeline entry %+v incomplete", a)
		}
	}

	var e struct {
		Error struct{ Code, Message string }
	}
	if code := getJSON(t, base+"/api/v1/detect?series="+url.QueryEscape(`nope{a="b"}`), &e); code != 404 || e.Error.Code != "not_found" {
		t.Errorf("unknown series = %d %+v, want 404 not_found", code, e)
	}
}

// TestConcurrentIngestAndQueries runs writers and readers against the real
// server at once; -race checks the engine, timeline and API together.
func TestConcurrentIngestAndQueries(t *testing.T) {
	_, base := startMain(t)
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range 20 {
				var pts []point
				for s := range 50 {
					ts := time.Unix(1767571200+int64(b*60), 0).UTC().Format(time.RFC3339)
					pts = append(pts, point{fmt.Sprintf(`cpu{host="h%d",w="%d"}`, s, w), ts, float64(s + b%7)})
				}
				// A 429 is the service's overload answer on a busy
				// machine, not a failure of concurrency: retry it as a
				// client would, a bounded number of times.
				var res anomaly.IngestResult
				code := 0
				for try := 0; try < 100; try++ {
					res = anomaly.IngestResult{}
					if code = postJSON(t, base+"/api/v1/points", map[string]any{"points": pts}, &res); code != http.StatusTooManyRequests {
						break
					}
					time.Sleep(50 * time.Millisecond)
				}
				if code != 200 || res.Accepted != 50 {
					t.Errorf("POST = %d, %+v", code, res)
					return
				}
			}
		}()
	}
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 40 {
				var p anomaly.SeriesPage
				getJSON(t, base+"/api/v1/series?limit=10&match="+url.QueryEscape(`{w="1"}`), &p)
				var v map[string]any
				getJSON(t, base+"/api/v1/detect?series="+url.QueryEscape(`cpu{host="h1",w="0"}`), &v)
				var a anomaly.AnomalyPage
				getJSON(t, base+"/api/v1/anomalies?limit=5", &a)
			}
		}()
	}
	wg.Wait()
	var p anomaly.SeriesPage
	getJSON(t, base+"/api/v1/series?limit=1000", &p)
	if len(p.Series) != 150 {
		t.Errorf("live series = %d, want 150", len(p.Series))
	}
}

func TestReplay(t *testing.T) {
	sc := synth.NewScenario(3)
	var b strings.Builder
	b.WriteString("timestamp,value\n")
	for i := range sc.Ts {
		fmt.Fprintf(&b, "%s,%g\n", time.UnixMilli(sc.Ts[i]).UTC().Format("2006-01-02 15:04:05"), sc.Values[i])
	}
	path := filepath.Join(t.TempDir(), "s.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"replay", path}, &out, &errb); err != nil {
		t.Fatalf("replay: %v (%s)", err, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != len(sc.Ts)+1 {
		t.Fatalf("replay wrote %d lines, want %d", len(lines), len(sc.Ts)+1)
	}
	if !strings.HasPrefix(lines[0], "timestamp,value,expected,lower,upper,score") {
		t.Errorf("header = %q", lines[0])
	}
	if f := strings.Split(lines[sc.Spike+1], ","); f[7] != "anomalous" {
		t.Errorf("spike row = %q, want state anomalous", lines[sc.Spike+1])
	}
	if f := strings.Split(lines[1], ","); f[7] != "learning" {
		t.Errorf("first row = %q, want state learning", lines[1])
	}

	out.Reset()
	if err := run(context.Background(), []string{"replay", "-format", "json", path}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(&out)
	n := 0
	for dec.More() {
		var v anomaly.Verdict
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != len(sc.Ts) {
		t.Errorf("json replay wrote %d verdicts, want %d", n, len(sc.Ts))
	}
	if err := run(context.Background(), []string{"replay", "/does/not/exist.csv"}, &out, &errb); err == nil {
		t.Error("replay of a missing file succeeded")
	}
}

func TestEnvFallback(t *testing.T) {
	t.Setenv("DETECTOR_LISTEN", "127.0.0.1:1")
	t.Setenv("DETECTOR_LOG_LEVEL", "nonsense")
	err := run(context.Background(), []string{"serve"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "nonsense") {
		t.Errorf("serve with DETECTOR_LOG_LEVEL=nonsense: err = %v, want a log level error", err)
	}
}

// TestPeerOutlierEndToEnd creates a peer-group rule over HTTP, sends the
// points of five hosts of one cluster (one at 1.5 times the others' level),
// judges the groups, and finds the odd host in the outliers and as a
// peer_outlier anomaly on the timeline.
func TestPeerOutlierEndToEnd(t *testing.T) {
	m, base := startMain(t)
	rule := map[string]any{"name": "hosts", "match": "cpu", "group_by": []string{"cluster"}, "member": "host",
		"window": 10, "step": "60s"}
	var stored map[string]any
	if code := postJSON(t, base+"/api/v1/peers/rules", rule, &stored); code != http.StatusCreated || stored["name"] != "hosts" {
		t.Fatalf("POST peers/rules = %d %v, want 201 and the rule", code, stored)
	}

	start := time.Now().UTC().Truncate(time.Minute).Add(-30 * time.Minute)
	const steps = 20
	var pts []point
	for h := range 5 {
		level := 100.0
		if h == 3 {
			level = 150
		}
		for k := range steps {
			// A swing shared by the group, and a small per-host wobble.
			v := level * (1 + 0.1*float64(k%4) + 0.005*float64((h*7+k*3)%5))
			// Labels out of canonical order: the store must see canonical text.
			s := fmt.Sprintf(`cpu{host="h%d",cluster="c1"}`, h)
			pts = append(pts, point{s, start.Add(time.Duration(k) * time.Minute).Format(time.RFC3339), v})
		}
	}
	var res anomaly.IngestResult
	if code := postJSON(t, base+"/api/v1/points", map[string]any{"points": pts}, &res); code != 200 || res.Accepted != len(pts) {
		t.Fatalf("POST points = %d %+v, want all %d accepted", code, res, len(pts))
	}
	if _, err := m.peers.Evaluate(context.Background(), start.Add(steps*time.Minute)); err != nil {
		t.Fatalf("Evaluate: %v", err)
	}

	var out struct {
		Groups []struct {
			Group    string `json:"group"`
			Outliers int    `json:"outliers"`
			Skipped  string `json:"skipped"`
			Members  []struct {
				Member  string `json:"member"`
				Series  string `json:"series"`
				Outlier bool   `json:"outlier"`
				Reason  string `json:"reason"`
			} `json:"members"`
		} `json:"groups"`
	}
	if code := getJSON(t, base+"/api/v1/peers/outliers?rule=hosts", &out); code != 200 || len(out.Groups) != 1 {
		t.Fatalf("GET peers/outliers = %d %+v, want 200 and one group", code, out)
	}
	g := out.Groups[0]
	if g.Outliers != 1 || len(g.Members) != 5 {
		t.Fatalf("group %s: %d outliers of %d members (skipped %q), want 1 of 5", g.Group, g.Outliers, len(g.Members), g.Skipped)
	}
	const odd = `cpu{cluster="c1",host="h3"}`
	for _, mem := range g.Members {
		if mem.Outlier != (mem.Member == "h3") {
			t.Errorf("member %s outlier = %v, want %v (reason %q)", mem.Member, mem.Outlier, mem.Member == "h3", mem.Reason)
		}
		if mem.Member == "h3" && (mem.Series != odd || mem.Reason == "") {
			t.Errorf("outlier h3: series %q reason %q, want series %s and a reason", mem.Series, mem.Reason, odd)
		}
	}

	var page anomaly.AnomalyPage
	if code := getJSON(t, base+"/api/v1/anomalies?series="+url.QueryEscape(odd), &page); code != 200 {
		t.Fatalf("GET anomalies = %d", code)
	}
	found := false
	for _, a := range page.Anomalies {
		if a.Kind == anomaly.KindPeerOutlier {
			found = a.Series == odd && a.Open() && a.ID > 0
		}
	}
	if !found {
		t.Errorf("timeline of %s has no open peer_outlier anomaly: %+v", odd, page.Anomalies)
	}
}
