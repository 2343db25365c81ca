package peers

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics of a Store. A nil *metrics records nothing.
type metrics struct {
	samplesStored    prometheus.Counter
	samplesLate      prometheus.Counter
	samplesUntracked prometheus.Counter
	evictions        prometheus.Counter
	duration         prometheus.Histogram
	groupsJudged     prometheus.Gauge
	groupsSkipped    prometheus.Gauge
	outliers         prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, s *Store) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	samples := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "detector_peers_samples_total",
		Help: "Samples of rule-matched series seen by peer detection, by result (stored, late: older than the window, untracked: series cap reached).",
	}, []string{"result"})
	groups := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "detector_peers_groups",
		Help: "Peer groups in the last evaluation, by state (judged, skipped).",
	}, []string{"state"})
	m := &metrics{
		samplesStored:    samples.WithLabelValues("stored"),
		samplesLate:      samples.WithLabelValues("late"),
		samplesUntracked: samples.WithLabelValues("untracked"),
		evictions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "detector_peers_evictions_total",
			Help: "Members forgotten because they sent nothing for two windows.",
		}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "detector_peers_evaluation_duration_seconds",
			Help:    "Duration of a full peer evaluation (all rules).",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}),
		groupsJudged:  groups.WithLabelValues("judged"),
		groupsSkipped: groups.WithLabelValues("skipped"),
		outliers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "detector_peers_outliers",
			Help: "Members flagged as outliers in the last evaluation.",
		}),
	}
	tracked := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "detector_peers_tracked_series",
		Help: "Windows kept for peer detection (one per rule and matching series).",
	}, func() float64 { return float64(s.tracked.Load()) })
	for _, c := range []prometheus.Collector{samples, groups, m.evictions, m.duration, m.outliers, tracked} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) samples(stored, late, untracked int) {
	if m == nil {
		return
	}
	m.samplesStored.Add(float64(stored))
	m.samplesLate.Add(float64(late))
	m.samplesUntracked.Add(float64(untracked))
}

func (m *metrics) evicted(n int) {
	if m == nil || n == 0 {
		return
	}
	m.evictions.Add(float64(n))
}

func (m *metrics) evaluated(d time.Duration, judged, skipped, outliers int) {
	if m == nil {
		return
	}
	m.duration.Observe(d.Seconds())
	m.groupsJudged.Set(float64(judged))
	m.groupsSkipped.Set(float64(skipped))
	m.outliers.Set(float64(outliers))
}
