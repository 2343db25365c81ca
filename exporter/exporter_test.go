package exporter

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/anomalyd/detector/anomaly"
)

func ev(kind anomaly.EventKind, id anomaly.ID, series string, score float64) anomaly.Event {
	return anomaly.Event{Kind: kind, AnomalyID: id, AnomalyKind: anomaly.KindPoint, Series: series,
		Verdict: anomaly.Verdict{Series: series, Score: score, Value: 9, Expected: 1, Lower: 0, Upper: 2, Detector: "level"}}
}

func TestOpenBoundedAndResolved(t *testing.T) {
	o := New(2)
	reg := prometheus.NewRegistry()
	reg.MustRegister(o)
	o.Observe(ev(anomaly.EventOpened, 1, `a{x="1"}`, 0.6))
	o.Observe(ev(anomaly.EventUpdated, 1, `a{x="1"}`, 0.9))
	o.Observe(ev(anomaly.EventOpened, 2, `b`, 0.7))
	o.Observe(ev(anomaly.EventOpened, 3, `c`, 0.8)) // over the bound
	o.Observe(ev(anomaly.EventUpdated, 3, `c`, 0.8))
	want := `
# HELP detector_open_anomaly_score Score of the latest anomalous point of a series in an open anomaly.
# TYPE detector_open_anomaly_score gauge
detector_open_anomaly_score{anomaly_id="1",detector="level",kind="point",series="a{x=\"1\"}"} 0.9
detector_open_anomaly_score{anomaly_id="2",detector="level",kind="point",series="b"} 0.7
# HELP detector_open_anomaly_metrics_dropped_total Anomalies opened while the exported open anomalies were at their bound (--metrics-open-anomalies), so left out of detector_open_anomaly_*.
# TYPE detector_open_anomaly_metrics_dropped_total counter
detector_open_anomaly_metrics_dropped_total 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "detector_open_anomaly_score", "detector_open_anomaly_metrics_dropped_total"); err != nil {
		t.Error(err)
	}
	o.Observe(ev(anomaly.EventResolved, 1, `a{x="1"}`, 0))
	o.Observe(ev(anomaly.EventOpened, 4, `d`, 0.55))
	if o.Len() != 2 {
		t.Errorf("open = %d, want 2", o.Len())
	}
	if n := testutil.CollectAndCount(o, "detector_open_anomaly_upper"); n != 2 {
		t.Errorf("upper series = %d, want 2", n)
	}
}
