package main

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/anomalyd/detector/anomaly"
)

// TestBoundsEndToEnd: a ceiling and a ratio-to-limit rule set over HTTP
// alert on points the baseline finds ordinary, open anomalies on the
// timeline with their detector, survive a restart with the data dir, and
// a bad rule is refused with 400.
func TestBoundsEndToEnd(t *testing.T) {
	dir := t.TempDir()
	m, base := startMainWith(t, Config{Persist: PersistConfig{DataDir: dir}})
	var rule anomaly.BoundRule
	if code := postJSON(t, base+"/api/v1/bounds", map[string]any{"match": `disk_used{host="a"}`, "max": 90}, &rule); code != http.StatusCreated || rule.ID == "" {
		t.Fatalf("add: status %d %+v", code, rule)
	}
	var ratio anomaly.BoundRule
	if code := postJSON(t, base+"/api/v1/bounds", map[string]any{"match": `conn_used`, "limit": `conn_max`, "on": []string{"pool"}, "ratio": 0.8}, &ratio); code != http.StatusCreated {
		t.Fatalf("add ratio: status %d", code)
	}
	var e map[string]any
	for _, bad := range []map[string]any{
		{"match": "x", "min": 5, "max": 1},
		{"match": "x"},
		{"match": "x", "timezone": "Nowhere/Else"},
		{"match": "x", "max": 1, "extra": true},
	} {
		if code := postJSON(t, base+"/api/v1/bounds", bad, &e); code != http.StatusBadRequest {
			t.Errorf("bad rule %v: status %d %v", bad, code, e)
		}
	}
	now := time.Now().Unix() - 1000*60
	var pts []point
	for i := range 300 {
		ts := strconv.FormatInt(now+int64(i)*60, 10)
		pts = append(pts, point{`disk_used{host="a"}`, ts, 86 + float64(i%5)},
			point{`conn_max{pool="p"}`, ts, 95}, point{`conn_used{pool="p"}`, ts, 70 + float64(i%5)})
	}
	var res anomaly.IngestResult
	postJSON(t, base+"/api/v1/points", map[string]any{"points": pts}, &res)
	if len(res.Anomalies) != 0 {
		t.Fatalf("anomalies while learning ordinary points: %+v", res.Anomalies)
	}
	ts := strconv.FormatInt(now+300*60, 10)
	postJSON(t, base+"/api/v1/points", map[string]any{"points": []point{
		{`disk_used{host="a"}`, ts, 90.5}, {`conn_used{pool="p"}`, ts, 76.5}}}, &res)
	got := map[string]anomaly.Verdict{}
	for _, a := range res.Anomalies {
		got[a.Detector] = a
	}
	if len(res.Anomalies) != 2 || got["static_bound"].Upper > 90 || got["limit_ratio"].Upper > 76 {
		t.Fatalf("anomalies %+v, want static_bound and limit_ratio with clipped bands", res.Anomalies)
	}
	var page anomaly.AnomalyPage
	getJSON(t, base+"/api/v1/anomalies?series="+`disk_used%7Bhost%3D%22a%22%7D`, &page)
	if len(page.Anomalies) != 1 || page.Anomalies[0].Detector != "static_bound" {
		t.Fatalf("timeline %+v, want one static_bound anomaly", page.Anomalies)
	}
	m.Close()

	_, base = startMainWith(t, Config{Persist: PersistConfig{DataDir: dir}})
	var list struct{ Rules []anomaly.BoundRule }
	getJSON(t, base+"/api/v1/bounds", &list)
	if len(list.Rules) != 2 || list.Rules[0].ID != rule.ID || list.Rules[1].Ratio != 0.8 {
		t.Fatalf("after restart: %+v", list.Rules)
	}
	req, _ := http.NewRequest(http.MethodDelete, base+"/api/v1/bounds/"+rule.ID, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: status %d", resp.StatusCode)
	}
	if code := getJSON(t, base+"/api/v1/bounds/"+rule.ID, &e); code != http.StatusNotFound {
		t.Fatalf("get after delete: status %d", code)
	}
}
