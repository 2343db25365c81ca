package service

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/eventlog"
	"github.com/anomalyd/detector/timeline"
)

// appender is the anomaly.Recorder every event source writes to: it
// appends to the event log and counts. Append never blocks on disk or on a
// reader, so the shard goroutines can call it.
type appender struct {
	log      eventlog.Log
	observe  func(anomaly.Event) // Config.Observe; nil: none
	appended prometheus.Counter
}

func (a *appender) Record(ev anomaly.Event) {
	if a.observe != nil {
		a.observe(ev)
	}
	a.log.Append(ev)
	a.appended.Inc()
}

// lister is implemented by the cursor tables of this package's logs: every
// saved cursor by name, for the lag metric.
type lister interface {
	All() map[string]uint64
}

// lagCollector exports each subscriber's lag (the log's last sequence
// number minus the subscriber's saved cursor) at scrape time, for every
// subscriber with a saved cursor, whoever wrote it.
type lagCollector struct {
	log     eventlog.Log
	cursors lister
	desc    *prometheus.Desc
	last    *prometheus.Desc
	written *prometheus.Desc
}

func newLagCollector(log eventlog.Log, cursors lister) *lagCollector {
	return &lagCollector{log: log, cursors: cursors,
		desc: prometheus.NewDesc("detector_eventlog_subscriber_lag",
			"Events appended to the event log that the subscriber has not handled yet (last sequence number minus its saved cursor).",
			[]string{"subscriber"}, nil),
		last: prometheus.NewDesc("detector_eventlog_last_sequence",
			"Sequence number of the newest event in the event log.", nil, nil),
		written: prometheus.NewDesc("detector_eventlog_written_sequence",
			"Sequence number of the newest event on disk (durable event log only); a crash loses the events above it.", nil, nil),
	}
}

func (c *lagCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.desc
	ch <- c.last
	ch <- c.written
}

func (c *lagCollector) Collect(ch chan<- prometheus.Metric) {
	last := c.log.Last()
	ch <- prometheus.MustNewConstMetric(c.last, prometheus.GaugeValue, float64(last))
	if w, ok := c.log.(interface{ Written() uint64 }); ok {
		ch <- prometheus.MustNewConstMetric(c.written, prometheus.GaugeValue, float64(w.Written()))
	}
	for name, cur := range c.cursors.All() {
		lag := uint64(0)
		if last > cur {
			lag = last - cur
		}
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(lag), name)
	}
}

// TimelineSubscriber is the cursor name of the timeline's subscriber.
const TimelineSubscriber = "timeline"

// timelineFeed is the timeline as a subscriber of the event log: it folds
// every entry into the backend on its own goroutine, so the shard
// goroutines never wait for the timeline's lock (held by a long query) or
// its disk. Readers that must see every event appended before their call
// (an anomaly listed right after the point that opened it) wait for the
// feed to catch up, at most syncWait.
type timelineFeed struct {
	tl       timeline.Timeline
	log      eventlog.Log
	syncWait time.Duration

	applied atomic.Uint64
	mu      sync.Mutex
	changed chan struct{} // closed and replaced when applied moves
}

func newTimelineFeed(tl timeline.Timeline, log eventlog.Log, start uint64, syncWait time.Duration) *timelineFeed {
	f := &timelineFeed{tl: tl, log: log, syncWait: syncWait, changed: make(chan struct{})}
	f.applied.Store(start)
	return f
}

// handle is the eventlog.Handler of the feed.
func (f *timelineFeed) handle(_ context.Context, batch []eventlog.Entry) error {
	for i := range batch {
		f.tl.Record(batch[i].Event)
	}
	f.applied.Store(batch[len(batch)-1].Seq)
	f.mu.Lock()
	ch := f.changed
	f.changed = make(chan struct{})
	f.mu.Unlock()
	close(ch)
	return nil
}

// waitFor returns once the feed has applied seq, ctx ended, or d passed.
// It reports whether seq was applied.
func (f *timelineFeed) waitFor(ctx context.Context, seq uint64, d time.Duration) bool {
	if f.applied.Load() >= seq {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		f.mu.Lock()
		ch := f.changed
		f.mu.Unlock()
		if f.applied.Load() >= seq {
			return true
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		case <-t.C:
			return f.applied.Load() >= seq
		}
	}
}

// Query implements timeline.Reader: the backend's answer once every event
// appended before the call is folded in (or syncWait has passed).
func (f *timelineFeed) Query(ctx context.Context, q anomaly.TimelineQuery) (anomaly.AnomalyPage, error) {
	f.waitFor(ctx, f.log.Last(), f.syncWait)
	return f.tl.Query(ctx, q)
}

// Get implements timeline.Reader, like Query.
func (f *timelineFeed) Get(ctx context.Context, id anomaly.ID) (anomaly.Anomaly, error) {
	f.waitFor(ctx, f.log.Last(), f.syncWait)
	return f.tl.Get(ctx, id)
}
