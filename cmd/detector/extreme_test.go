package main

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/anomalyd/detector/anomaly"
)

// metricValue returns the value of the unlabelled metric name at base.
func metricValue(t *testing.T, base, name string) (float64, bool) {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && f[0] == name {
			v, err := strconv.ParseFloat(f[1], 64)
			return v, err == nil
		}
	}
	return 0, false
}

// TestExtremeValueKeepsEveryBaseline: one value far beyond anything a
// model can hold, sent to one series among 1,000 with history, is
// rejected with value_out_of_range; a value at the edge of the range is
// learned. After a SIGKILL and after a SIGTERM restart all 1,000 baselines
// come back, and the series that took the extreme points answer and still
// alert.
func TestExtremeValueKeepsEveryBaseline(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	const (
		nSeries = 1000
		history = 100
	)
	dir := t.TempDir()
	args := []string{"--data-dir", dir, "--snapshot-interval", "1s", "--shards", "2"}
	p := startBinary(t, args...)
	name := func(i int) string { return fmt.Sprintf(`extreme{host="h%d"}`, i) }
	t0 := time.Now().Add(-time.Duration(history+400) * time.Minute).Truncate(time.Minute)
	at := func(j int) string { return t0.Add(time.Duration(j) * time.Minute).UTC().Format(time.RFC3339) }
	r := rand.New(rand.NewPCG(9, 9))
	var pts []point
	flush := func() {
		var res anomaly.IngestResult
		if code := postJSON(t, p.Base+"/api/v1/points", map[string]any{"points": pts}, &res); code != 200 || res.Accepted != len(pts) {
			t.Fatalf("POST %d points = %d, accepted %d, errors %+v", len(pts), code, res.Accepted, res.Errors[:min(3, len(res.Errors))])
		}
		pts = pts[:0]
	}
	for i := range nSeries {
		for j := range history {
			pts = append(pts, point{name(i), at(j), 10 + r.NormFloat64()})
		}
		if len(pts) >= 20000 {
			flush()
		}
	}
	flush()

	// Series 0: 1e41 (and the largest float64), rejected; series 1: 1e30,
	// the edge of the range, learned and anomalous.
	var res anomaly.IngestResult
	code := postJSON(t, p.Base+"/api/v1/points", map[string]any{"points": []point{
		{name(0), at(history), 1e41}, {name(0), at(history), 1.7976931348623157e308}, {name(1), at(history), 1e30}}}, &res)
	if code != 200 || res.Accepted != 1 || res.Rejected != 2 {
		t.Fatalf("POST extreme points = %d %+v, want 1 accepted, 2 rejected", code, res)
	}
	for _, e := range res.Errors {
		if e.Code != anomaly.CodeValueRange || e.Field != "value" {
			t.Errorf("extreme point rejected with %+v, want %s on value", e, anomaly.CodeValueRange)
		}
	}
	if len(res.Anomalies) != 1 || res.Anomalies[0].Series != name(1) {
		t.Errorf("anomalies of the extreme batch = %+v, want the 1e30 point", res.Anomalies)
	}

	// checkAll: every baseline is held, the extreme series answer and a
	// plain spike in each still alerts.
	step := history + 1
	checkAll := func(when string, normal int, spike float64) {
		t.Helper()
		if n, ok := metricValue(t, p.Base, "detector_snapshot_restored_series"); !ok || n != nSeries {
			t.Errorf("%s: restored series = %v (found %v), want %d\n%s", when, n, ok, nSeries, p.Log)
		}
		if n, _ := metricValue(t, p.Base, "detector_series_live"); n != nSeries {
			t.Errorf("%s: live series = %v, want %d", when, n, nSeries)
		}
		for _, i := range []int{0, 1, 2} {
			resp, err := http.Get(p.Base + "/api/v1/series/" + url.PathEscape(name(i)))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("%s: GET %s = %d, want 200", when, name(i), resp.StatusCode)
			}
		}
		// Ordinary points, then a spike of 50 sigma or more, above any earlier one.
		var res anomaly.IngestResult
		var batch []point
		for range normal {
			for _, i := range []int{0, 1, 2} {
				batch = append(batch, point{name(i), at(step), 10 + r.NormFloat64()})
			}
			step++
		}
		for _, i := range []int{0, 1, 2} {
			batch = append(batch, point{name(i), at(step), spike})
		}
		step++
		if code := postJSON(t, p.Base+"/api/v1/points", map[string]any{"points": batch}, &res); code != 200 || res.Accepted != len(batch) {
			t.Fatalf("%s: POST = %d, accepted %d, errors %+v", when, code, res.Accepted, res.Errors[:min(3, len(res.Errors))])
		}
		flagged := map[string]bool{}
		for _, v := range res.Anomalies {
			if v.Value == spike {
				flagged[v.Series] = true
			}
		}
		for _, i := range []int{0, 2} { // series 1 took 1e30: its scale is wide for a while
			if !flagged[name(i)] {
				t.Errorf("%s: the spike in %s is not flagged (anomalies %+v)", when, name(i), res.Anomalies)
			}
		}
	}

	// Wait for a snapshot that holds the extreme batch, then crash.
	acked := time.Now()
	waitSnapshotAfter(t, p, dir, acked)
	if err := p.Stop(t, syscall.SIGKILL); err == nil {
		t.Fatal("SIGKILL: want a killed process")
	}
	p = startBinary(t, args...)
	checkAll("after SIGKILL", 5, 60)
	if err := p.Stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v\n%s", err, p.Log)
	}
	if strings.Contains(p.Log.String(), "left out of the snapshot") {
		t.Errorf("a series was left out of the final snapshot:\n%s", p.Log)
	}
	p = startBinary(t, args...)
	checkAll("after SIGTERM", 150, 300) // past the quiet time after the first spike
	if err := p.Stop(t, syscall.SIGTERM); err != nil {
		t.Errorf("SIGTERM: %v\n%s", err, p.Log)
	}
	if strings.Contains(p.Log.String(), "unusable") || strings.Contains(p.Log.String(), "skipped") {
		t.Errorf("the snapshot was not restored whole:\n%s", p.Log)
	}
}
