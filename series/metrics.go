package series

import (
	"fmt"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the engine's Prometheus collectors, all prefixed detector_.
type metrics struct {
	accepted  prometheus.Counter
	rejected  *prometheus.CounterVec // by code
	created   prometheus.Counter
	evictLRU  prometheus.Counter
	evictIdle prometheus.Counter
	batches   prometheus.Counter
	latency   prometheus.Histogram
}

// newMetrics creates the collectors and registers them on reg (nil
// registers nothing).
func newMetrics(e *Engine, reg prometheus.Registerer) (*metrics, error) {
	evictions := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "detector_series_evictions_total",
		Help: "Series evicted, by cause: lru (the live series cap was reached) or idle (no point for the idle timeout).",
	}, []string{"cause"})
	m := &metrics{
		accepted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "detector_points_accepted_total",
			Help: "Points accepted by the engine (learned, or scored as a repeated timestamp).",
		}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "detector_points_rejected_total",
			Help: "Points rejected by the engine, by error code.",
		}, []string{"code"}),
		created: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "detector_series_created_total",
			Help: "Series created (first point of a series not held).",
		}),
		evictLRU:  evictions.WithLabelValues("lru"),
		evictIdle: evictions.WithLabelValues("idle"),
		batches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "detector_ingest_batches_total",
			Help: "Batches ingested (Ingest calls that reached the shards or were rejected whole).",
		}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "detector_verdict_latency_seconds",
			Help:    "Time from receiving a batch to having the verdicts of all its points.",
			Buckets: prometheus.ExponentialBuckets(50e-6, 2.5, 12), // 50µs .. 1.2s
		}),
	}
	if reg == nil {
		return m, nil
	}
	cs := []prometheus.Collector{m.accepted, m.rejected, m.created, evictions, m.batches, m.latency,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "detector_series_live",
			Help: "Series currently held in memory.",
		}, func() float64 {
			n := int64(0)
			for _, sh := range e.shards {
				n += sh.live.Load()
			}
			return float64(n)
		}),
	}
	for _, sh := range e.shards {
		cs = append(cs, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "detector_shard_queue_depth",
			Help:        "Batches waiting in a shard's queue.",
			ConstLabels: prometheus.Labels{"shard": strconv.Itoa(sh.id)},
		}, func() float64 { return float64(len(sh.in)) }))
	}
	qcap := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "detector_shard_queue_capacity",
		Help: "Batches each shard's queue holds.",
	})
	qcap.Set(float64(e.opts.QueueDepth))
	cs = append(cs, qcap)
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("series: register metrics: %w", err)
		}
	}
	return m, nil
}
