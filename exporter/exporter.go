// Package exporter puts the series in open anomalies on /metrics: for
// each, the score, value, expected value and band of its latest anomalous
// point, so that users can alert on and graph anomalies in PromQL:
//
//	detector_open_anomaly_score{series="...",kind="point",detector="level"}
//	detector_open_anomaly_value{...}, detector_open_anomaly_expected{...},
//	detector_open_anomaly_lower{...}, detector_open_anomaly_upper{...}
//
// It reads the event log (opened and updated set a series, resolved
// removes it). Cardinality is bounded: at most Max series are exported at
// once (default 100); anomalies opened beyond that are left out and counted
// in detector_open_anomaly_metrics_dropped_total until room frees up.
package exporter

import (
	"context"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/eventlog"
)

// DefaultMax is the number of open anomalies exported when Max is 0.
const DefaultMax = 100

// Open is a prometheus.Collector of the open anomalies. Safe for concurrent
// use.
type Open struct {
	max     int
	mu      sync.Mutex
	open    map[anomaly.ID]anomaly.Event
	dropped prometheus.Counter

	score, value, expected, lower, upper *prometheus.Desc
}

// New returns an empty collector exporting at most max series (0:
// DefaultMax).
func New(max int) *Open {
	if max <= 0 {
		max = DefaultMax
	}
	labels := []string{"series", "kind", "detector", "anomaly_id"}
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("detector_open_anomaly_"+name, help, labels, nil)
	}
	return &Open{max: max, open: map[anomaly.ID]anomaly.Event{},
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "detector_open_anomaly_metrics_dropped_total",
			Help: "Anomalies opened while the exported open anomalies were at their bound (--metrics-open-anomalies), so left out of detector_open_anomaly_*.",
		}),
		score:    d("score", "Score of the latest anomalous point of a series in an open anomaly."),
		value:    d("value", "Value of the latest anomalous point of a series in an open anomaly."),
		expected: d("expected", "Expected value at the latest anomalous point of a series in an open anomaly."),
		lower:    d("lower", "Lower bound of the band at the latest anomalous point of a series in an open anomaly."),
		upper:    d("upper", "Upper bound of the band at the latest anomalous point of a series in an open anomaly."),
	}
}

// Observe applies one event.
func (o *Open) Observe(ev anomaly.Event) {
	o.mu.Lock()
	defer o.mu.Unlock()
	switch ev.Kind {
	case anomaly.EventResolved:
		delete(o.open, ev.AnomalyID)
	case anomaly.EventOpened, anomaly.EventUpdated:
		if _, ok := o.open[ev.AnomalyID]; !ok && len(o.open) >= o.max {
			if ev.Kind == anomaly.EventOpened {
				o.dropped.Inc()
			}
			return
		}
		o.open[ev.AnomalyID] = ev
	}
}

// HandleEvents is an eventlog.Handler feeding the collector.
func (o *Open) HandleEvents(_ context.Context, batch []eventlog.Entry) error {
	for _, e := range batch {
		o.Observe(e.Event)
	}
	return nil
}

// Len is the number of anomalies exported.
func (o *Open) Len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.open)
}

// Describe implements prometheus.Collector.
func (o *Open) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{o.score, o.value, o.expected, o.lower, o.upper} {
		ch <- d
	}
	o.dropped.Describe(ch)
}

// Collect implements prometheus.Collector.
func (o *Open) Collect(ch chan<- prometheus.Metric) {
	o.mu.Lock()
	evs := make([]anomaly.Event, 0, len(o.open))
	for _, ev := range o.open {
		evs = append(evs, ev)
	}
	o.mu.Unlock()
	for _, ev := range evs {
		v := &ev.Verdict
		lv := []string{ev.Series, ev.AnomalyKind, v.Detector, ev.AnomalyID.String()}
		ch <- prometheus.MustNewConstMetric(o.score, prometheus.GaugeValue, v.Score, lv...)
		ch <- prometheus.MustNewConstMetric(o.value, prometheus.GaugeValue, v.Value, lv...)
		ch <- prometheus.MustNewConstMetric(o.expected, prometheus.GaugeValue, v.Expected, lv...)
		ch <- prometheus.MustNewConstMetric(o.lower, prometheus.GaugeValue, v.Lower, lv...)
		ch <- prometheus.MustNewConstMetric(o.upper, prometheus.GaugeValue, v.Upper, lv...)
	}
	o.dropped.Collect(ch)
}
