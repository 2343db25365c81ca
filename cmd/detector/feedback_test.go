package main

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/feedback"
)

// TestFeedbackNewNormal: a series shifts to a new level and alerts;
// new_normal on that anomaly rebases it, so the points after are normal at
// once; the label is counted in GET /api/v1/feedback and on /metrics; bad
// labels and unknown anomalies are refused.
func TestFeedbackNewNormal(t *testing.T) {
	_, base := startMain(t)
	const name = `queue_depth{app="api"}`
	now := time.Now().Unix() - 2000*60
	var pts []point
	for i := range 1000 {
		pts = append(pts, point{name, strconv.FormatInt(now+int64(i)*60, 10), 100 + float64(i%5) - 2})
	}
	var res anomaly.IngestResult
	postJSON(t, base+"/api/v1/points", map[string]any{"points": pts}, &res)
	shifted := func(i int) point {
		return point{name, strconv.FormatInt(now+int64(1000+i)*60, 10), 160 + float64(i%5) - 2}
	}
	postJSON(t, base+"/api/v1/points", map[string]any{"points": []point{shifted(0)}}, &res)
	if len(res.Anomalies) != 1 || res.Anomalies[0].AnomalyID == 0 {
		t.Fatalf("the shift: anomalies %+v", res.Anomalies)
	}
	id := res.Anomalies[0].AnomalyID
	det := res.Anomalies[0].Detector
	u := base + "/api/v1/anomalies/" + id.String() + "/feedback"
	var e map[string]any
	if code := postJSON(t, u, map[string]any{"label": "maybe"}, &e); code != http.StatusBadRequest {
		t.Errorf("label maybe: status %d %v", code, e)
	}
	if code := postJSON(t, base+"/api/v1/anomalies/999999/feedback", map[string]any{"label": "anomaly"}, &e); code != http.StatusNotFound {
		t.Errorf("unknown anomaly: status %d", code)
	}
	var ans struct {
		Label    string                  `json:"label"`
		Detector feedback.DetectorCounts `json:"detector"`
	}
	if code := postJSON(t, u, map[string]any{"label": "new_normal"}, &ans); code != http.StatusOK || ans.Detector.Labels["new_normal"] != 1 {
		t.Fatalf("new_normal: status %d %+v", code, ans)
	}
	// At the new level from now on: normal at once.
	var after []point
	for i := 1; i <= 30; i++ {
		after = append(after, shifted(i))
	}
	postJSON(t, base+"/api/v1/points", map[string]any{"points": after}, &res)
	if len(res.Anomalies) != 0 {
		t.Errorf("after new_normal: %d anomalous points, first %+v", len(res.Anomalies), res.Anomalies[0])
	}
	var sum feedback.Summary
	getJSON(t, base+"/api/v1/feedback", &sum)
	if len(sum.Detectors) != 1 || sum.Detectors[0].Detector != det || sum.Detectors[0].Total != 1 || sum.Detectors[0].Precision != 1 {
		t.Errorf("summary %+v, want one new_normal on %s", sum, det)
	}
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := `detector_feedback_total{detector="` + det + `",label="new_normal"} 1`; !strings.Contains(string(body), want) {
		t.Errorf("/metrics lacks %s", want)
	}
}

// TestFeedbackWithoutRebase: the same shift without feedback alerts at its
// first point and then, with the hold after an alert (one excursion, one
// alert), not again while the model adapts to the new level on its own;
// new_normal (TestFeedback) makes that new level normal at once instead.
func TestFeedbackWithoutRebase(t *testing.T) {
	_, base := startMain(t)
	const name = `queue_depth{app="api"}`
	now := time.Now().Unix() - 2000*60
	var pts []point
	for i := range 1031 {
		v := 100 + float64(i%5) - 2
		if i >= 1000 {
			v = 160 + float64((i-1000)%5) - 2
		}
		pts = append(pts, point{name, strconv.FormatInt(now+int64(i)*60, 10), v})
	}
	var res anomaly.IngestResult
	postJSON(t, base+"/api/v1/points", map[string]any{"points": pts}, &res)
	if len(res.Anomalies) < 1 || res.Anomalies[0].Value < 150 {
		t.Errorf("without feedback the shift alerted on %d points (%+v), want its first point", len(res.Anomalies), res.Anomalies)
	}
}
