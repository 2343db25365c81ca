package store

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// stats are the store's counters, read by the metrics at scrape time so
// that Record pays one atomic add, not a metric lookup.
type stats struct {
	events       atomic.Uint64 // events folded into the timeline
	written      atomic.Uint64 // anomaly records written
	batches      atomic.Uint64 // write transactions committed
	batchErrors  atomic.Uint64 // write transactions failed
	dropped      atomic.Uint64 // events dropped: queue full or store closed
	orphans      atomic.Uint64 // updates and resolutions of anomalies not held
	deletedAge   atomic.Uint64
	deletedCount atomic.Uint64
	stored       atomic.Int64

	flushSeconds prometheus.Histogram
}

func (st *stats) register(reg prometheus.Registerer, s *Store) {
	st.flushSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "detector_timeline_write_seconds",
		Help:    "Duration of one timeline write transaction, fsync included.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
	})
	st.stored.Store(int64(s.stored))
	if reg == nil {
		return
	}
	counter := func(name, help string, v *atomic.Uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(v.Load()) })
	}
	reg.MustRegister(
		st.flushSeconds,
		counter("detector_timeline_events_total", "Anomaly events folded into the persistent timeline.", &st.events),
		counter("detector_timeline_written_total", "Anomaly records written to the timeline database.", &st.written),
		counter("detector_timeline_write_batches_total", "Timeline write transactions committed (one fsync each).", &st.batches),
		counter("detector_timeline_write_errors_total", "Timeline write transactions that failed (retried).", &st.batchErrors),
		counter("detector_timeline_dropped_events_total", "Anomaly events dropped because the write queue was full or the timeline closed.", &st.dropped),
		counter("detector_timeline_orphan_events_total", "Updates and resolutions of anomalies the timeline does not hold (ignored).", &st.orphans),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "detector_timeline_anomalies",
			Help: "Anomalies stored in the timeline database.",
		}, func() float64 { return float64(st.stored.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "detector_timeline_pending_anomalies",
			Help: "Anomalies with changes not yet written.",
		}, func() float64 {
			s.mu.RLock()
			defer s.mu.RUnlock()
			return float64(len(s.dirty))
		}),
	)
	reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "detector_timeline_retention_deleted_total",
			Help:        "Resolved anomalies deleted by retention, by reason (age, count).",
			ConstLabels: prometheus.Labels{"reason": "age"},
		}, func() float64 { return float64(st.deletedAge.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "detector_timeline_retention_deleted_total",
			Help:        "Resolved anomalies deleted by retention, by reason (age, count).",
			ConstLabels: prometheus.Labels{"reason": "count"},
		}, func() float64 { return float64(st.deletedCount.Load()) }),
	)
}
