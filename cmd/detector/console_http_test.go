package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestConsoleAndHistoryRoutes: / serves the console, the history of a live
// series has its points with their verdicts, an unknown series is 404, and
// ?sort= lists the series in trouble first.
func TestConsoleAndHistoryRoutes(t *testing.T) {
	_, base := startMain(t)
	resp, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "/ui/app.js") {
		t.Fatalf("GET / = %d", resp.StatusCode)
	}
	// Unknown API paths still answer the API's JSON 404.
	resp, _ = http.Get(base + "/api/v1/nope")
	if resp.StatusCode != 404 || !strings.Contains(resp.Header.Get("Content-Type"), "json") {
		t.Errorf("GET /api/v1/nope = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	resp.Body.Close()

	now := time.Now().Add(-200 * time.Minute).Unix()
	var pts []string
	for i := range 200 {
		pts = append(pts, fmt.Sprintf(`{"series":"cpu{host=\"a\"}","timestamp":%d,"value":%d}`, now+int64(i)*60, 50+i%3))
		pts = append(pts, fmt.Sprintf(`{"series":"cpu{host=\"b\"}","timestamp":%d,"value":%d}`, now+int64(i)*60, 50+i%3))
	}
	pts = append(pts, fmt.Sprintf(`{"series":"cpu{host=\"b\"}","timestamp":%d,"value":900}`, now+200*60))
	resp, err = http.Post(base+"/api/v1/points", "application/json", strings.NewReader(`{"points":[`+strings.Join(pts, ",")+`]}`))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("push: %v %v", err, resp.Status)
	}
	resp.Body.Close()

	var h struct {
		Series string `json:"series"`
		Points []struct {
			Value     float64 `json:"value"`
			Upper     float64 `json:"upper"`
			State     string  `json:"state"`
			AnomalyID *string `json:"anomaly_id"`
		} `json:"points"`
	}
	resp, err = http.Get(base + "/api/v1/series/" + url.PathEscape(`cpu{host="b"}`) + "/history")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("history: %v %v", err, resp.Status)
	}
	json.NewDecoder(resp.Body).Decode(&h)
	resp.Body.Close()
	if len(h.Points) != 201 {
		t.Fatalf("history has %d points, want 201", len(h.Points))
	}
	last := h.Points[len(h.Points)-1]
	if last.Value != 900 || last.State != "anomalous" || last.AnomalyID == nil || last.Upper >= 900 {
		t.Errorf("last point %+v, want the anomalous 900 above its band", last)
	}
	resp, _ = http.Get(base + "/api/v1/series/" + url.PathEscape(`cpu{host="zz"}`) + "/history")
	if resp.StatusCode != 404 {
		t.Errorf("history of an unknown series = %d, want 404", resp.StatusCode)
	}
	resp.Body.Close()

	var page struct {
		Series []struct{ Series string } `json:"series"`
	}
	resp, _ = http.Get(base + "/api/v1/series?sort=state&limit=1")
	json.NewDecoder(resp.Body).Decode(&page)
	resp.Body.Close()
	if len(page.Series) != 1 || page.Series[0].Series != `cpu{host="b"}` {
		t.Errorf("sort=state first = %+v, want the anomalous series", page.Series)
	}
	resp, _ = http.Get(base + "/api/v1/series?sort=size")
	if resp.StatusCode != 400 {
		t.Errorf("sort=size = %d, want 400", resp.StatusCode)
	}
	resp.Body.Close()
}
