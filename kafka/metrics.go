package kafka

import (
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	records, badRecords, badPoints, learned, skipped prometheus.Counter
	pauses, checkpoints, checkpointSeries, restored  prometheus.Counter
	paused, owned                                    prometheus.Gauge
	checkpointSeconds                                prometheus.Histogram
	eventsOut, eventsIn, eventsDup                   prometheus.Counter
}

func (m *metrics) register(reg prometheus.Registerer) error {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "detector", Subsystem: "kafka", Name: name, Help: help})
	}
	m.records = c("records_total", "Points-topic records consumed.")
	m.badRecords = c("bad_records_total", "Records (points or changelog) that could not be decoded, skipped.")
	m.badPoints = c("bad_points_total", "Points the writer refused (invalid value, series or timestamp), skipped.")
	m.learned = c("points_learned_total", "Points consumed and learned.")
	m.skipped = c("points_skipped_total", "Points skipped because the restored checkpoint of their series already includes them.")
	m.pauses = c("partition_pauses_total", "Times a partition's fetches were paused because the engine was overloaded.")
	m.checkpoints = c("checkpoints_total", "Checkpoints written (changelog, then offsets).")
	m.checkpointSeries = c("checkpoint_series_total", "Series states written to the changelog.")
	m.restored = c("restored_series_total", "Series states restored from the changelog on assignment.")
	m.eventsOut = c("events_produced_total", "Events produced to the events topic.")
	m.eventsIn = c("events_consumed_total", "Events consumed from the events topic and handed to the subscribers.")
	m.eventsDup = c("events_duplicate_total", "Events consumed twice (a replay after a failover), dropped by event identity.")
	m.paused = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "detector", Subsystem: "kafka", Name: "partitions_paused", Help: "Partitions whose fetches are paused (engine overloaded)."})
	m.owned = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "detector", Subsystem: "kafka", Name: "partitions_owned", Help: "Points-topic partitions this node owns."})
	m.checkpointSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "detector", Subsystem: "kafka", Name: "checkpoint_seconds", Help: "Time a checkpoint took.", Buckets: prometheus.ExponentialBuckets(0.001, 4, 8)})
	if reg == nil {
		return nil
	}
	for _, col := range []prometheus.Collector{m.records, m.badRecords, m.badPoints, m.learned, m.skipped, m.pauses, m.checkpoints,
		m.checkpointSeries, m.restored, m.eventsOut, m.eventsIn, m.eventsDup, m.paused, m.owned, m.checkpointSeconds} {
		if err := reg.Register(col); err != nil {
			return err
		}
	}
	return nil
}
