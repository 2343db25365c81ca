package main

import (
	"math"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/anomalyd/detector/anomaly"
)

// TestWalkthroughBandIsTheVerdict replays the README walkthrough's points
// (two days of a steady level with a little jitter, then 400) and checks
// that the anomalous point lies outside its own band, that the latest
// verdict and the series view show the same band, and that a normal point
// lies inside its band.
func TestWalkthroughBandIsTheVerdict(t *testing.T) {
	_, base := startMain(t)
	const name = `requests{app="api",instance="i-0abc"}`
	now := time.Now().Unix()
	var pts []point
	for i := 576; i >= 1; i-- {
		pts = append(pts, point{name, strconv.FormatInt(now-int64(i)*300, 10), float64(100 + (i*7)%5)})
	}
	var ing struct {
		Accepted  int               `json:"accepted"`
		Anomalies []anomaly.Verdict `json:"anomalies"`
	}
	postJSON(t, base+"/api/v1/points", map[string]any{"points": pts}, &ing)
	if ing.Accepted != 576 || len(ing.Anomalies) != 0 {
		t.Fatalf("history: accepted %d, anomalies %v", ing.Accepted, ing.Anomalies)
	}
	postJSON(t, base+"/api/v1/points", map[string]any{"points": []point{{name, strconv.FormatInt(now, 10), 400}}}, &ing)
	if len(ing.Anomalies) != 1 {
		t.Fatalf("400: anomalies %v, want one", ing.Anomalies)
	}
	v := ing.Anomalies[0]
	if v.State != anomaly.StateAnomalous || (v.Value >= v.Lower && v.Value <= v.Upper) || !(v.Upper > v.Lower) {
		t.Fatalf("anomalous verdict %+v: the value must lie outside a band of some width", v)
	}
	var latest anomaly.Verdict
	getJSON(t, base+"/api/v1/detect?series="+url.QueryEscape(name), &latest)
	var detail anomaly.SeriesDetail
	getJSON(t, base+"/api/v1/series/"+url.PathEscape(name), &detail)
	b := detail.Baseline
	for _, c := range []struct {
		what      string
		got, want float64
	}{
		{"latest lower", latest.Lower, v.Lower}, {"latest upper", latest.Upper, v.Upper},
		{"view lower", b.Lower, v.Lower}, {"view upper", b.Upper, v.Upper}, {"view expected", b.Expected, v.Expected},
	} {
		if math.Abs(c.got-c.want) > 1e-6*math.Abs(c.want) {
			t.Errorf("%s = %v, verdict says %v", c.what, c.got, c.want)
		}
	}
	if b.Lower < 0 {
		t.Errorf("view lower %v for a series never below 0", b.Lower)
	}
	// What-if: a value at the expectation is normal and inside its band.
	var w struct {
		Verdicts []anomaly.Verdict `json:"verdicts"`
	}
	postJSON(t, base+"/api/v1/detect", map[string]any{"series": name,
		"points": []map[string]any{{"timestamp": now + 300, "value": 102}}}, &w)
	if len(w.Verdicts) != 1 {
		t.Fatalf("what-if: %+v", w)
	}
	if n := w.Verdicts[0]; n.State == anomaly.StateAnomalous || n.Value < n.Lower || n.Value > n.Upper {
		t.Errorf("what-if 102: %+v, want normal inside its band", n)
	}
}
