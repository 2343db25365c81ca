package influx

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/influxdata/influxdb-client-go/v2/api/write"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/eventlog"
	"github.com/anomalyd/detector/series"
)

// Writer writes points: api.WriteAPIBlocking of influxdb-client-go fits.
type Writer interface {
	WritePoint(ctx context.Context, point ...*write.Point) error
}

// SinkOptions configure a Sink. Zero fields take the defaults in their
// comments.
type SinkOptions struct {
	// Measurement of verdicts; default "detector_verdict". Events go to
	// Measurement + "_event" unless EventMeasurement is set.
	Measurement      string
	EventMeasurement string
	// Buffer bounds the verdicts waiting to be written; more are dropped
	// and counted. Default 100,000.
	Buffer int
	// Batch is the most points per write; default 5000.
	Batch int
	// FlushInterval is the longest a verdict waits; default 1s.
	FlushInterval time.Duration
	// Timeout bounds one write; default 10s.
	Timeout    time.Duration
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Sink writes verdicts and anomaly events to InfluxDB, off the ingest path.
// Offer is safe for concurrent use.
//
// A verdict becomes one point of Measurement: the series' labels as tags
// plus tags metric (the series name), series (its canonical text) and
// state; fields value, expected, lower, upper, score, z and anomaly_id
// (0 when none); the point's own timestamp. An event becomes one point
// of the event measurement: tags series, kind (opened, updated, resolved)
// and anomaly_kind; fields anomaly_id, score, value, expected, lower,
// upper; the event's time.
type Sink struct {
	w    Writer
	o    SinkOptions
	log  *slog.Logger
	mu   sync.Mutex
	buf  []anomaly.Verdict
	kick chan struct{}

	written *prometheus.CounterVec
	dropped *prometheus.CounterVec
	pending prometheus.GaugeFunc
}

// NewSink returns a sink writing with w. Call Run to start writing.
func NewSink(w Writer, o SinkOptions) (*Sink, error) {
	if o.Measurement == "" {
		o.Measurement = "detector_verdict"
	}
	if o.EventMeasurement == "" {
		o.EventMeasurement = o.Measurement + "_event"
	}
	if o.Buffer <= 0 {
		o.Buffer = 100_000
	}
	if o.Batch <= 0 {
		o.Batch = 5000
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Sink{w: w, o: o, log: o.Logger, kick: make(chan struct{}, 1),
		written: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "detector_influx_sink_written_total",
			Help: "Points the InfluxDB sink wrote, by kind (verdict, event).",
		}, []string{"kind"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "detector_influx_sink_dropped_total",
			Help: "Verdicts the InfluxDB sink dropped, by reason (buffer_full: InfluxDB too slow; write_failed).",
		}, []string{"reason"}),
	}
	s.pending = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "detector_influx_sink_pending",
		Help: "Verdicts waiting in the InfluxDB sink's buffer.",
	}, func() float64 { s.mu.Lock(); defer s.mu.Unlock(); return float64(len(s.buf)) })
	if o.Registerer != nil {
		for _, c := range []prometheus.Collector{s.written, s.dropped, s.pending} {
			if err := o.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("influx: registering metrics: %w", err)
			}
		}
	}
	return s, nil
}

// Offer queues verdicts for writing. It never blocks: what does not fit in
// the buffer is dropped and counted. It fits series.Options.Verdicts.
func (s *Sink) Offer(vs []anomaly.Verdict) {
	s.mu.Lock()
	room := s.o.Buffer - len(s.buf)
	if room < len(vs) {
		s.dropped.WithLabelValues("buffer_full").Add(float64(len(vs) - max(room, 0)))
		vs = vs[:max(room, 0)]
	}
	s.buf = append(s.buf, vs...)
	full := len(s.buf) >= s.o.Batch
	s.mu.Unlock()
	if full {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
}

// Run writes the buffered verdicts every FlushInterval, or sooner when a
// batch is full, until ctx ends; then it writes what is left (bounded by
// Timeout) and returns.
func (s *Sink) Run(ctx context.Context) {
	t := time.NewTicker(s.o.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), s.o.Timeout)
			s.flush(fctx)
			cancel()
			return
		case <-t.C:
		case <-s.kick:
		}
		// Writes are bounded by Timeout, not by ctx: a write under way
		// when the service stops completes.
		s.flush(context.Background())
	}
}

// flush writes everything buffered now, in batches.
func (s *Sink) flush(ctx context.Context) {
	s.mu.Lock()
	vs := s.buf
	s.buf = make([]anomaly.Verdict, 0, min(len(vs), s.o.Batch))
	s.mu.Unlock()
	for len(vs) > 0 {
		n := min(len(vs), s.o.Batch)
		pts := make([]*write.Point, 0, n)
		for i := range vs[:n] {
			pts = append(pts, s.verdictPoint(&vs[i]))
		}
		vs = vs[n:]
		wctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
		err := s.w.WritePoint(wctx, pts...)
		cancel()
		if err != nil {
			s.dropped.WithLabelValues("write_failed").Add(float64(n))
			s.log.Warn("writing verdicts to InfluxDB", "points", n, "error", err)
			continue
		}
		s.written.WithLabelValues("verdict").Add(float64(n))
	}
}

func (s *Sink) verdictPoint(v *anomaly.Verdict) *write.Point {
	p := write.NewPointWithMeasurement(s.o.Measurement)
	if k, err := series.Parse(v.Series, series.Limits{}); err == nil {
		for name, val := range k.Labels() {
			p.AddTag(name, val)
		}
		p.AddTag("metric", k.Name())
	}
	p.AddTag("series", v.Series)
	p.AddTag("state", v.State.String())
	p.AddField("value", v.Value)
	p.AddField("expected", v.Expected)
	p.AddField("lower", v.Lower)
	p.AddField("upper", v.Upper)
	p.AddField("score", v.Score)
	p.AddField("z", v.Z)
	p.AddField("anomaly_id", int64(v.AnomalyID))
	p.SetTime(v.Timestamp)
	return p
}

// HandleEvents writes a batch of the event log (an eventlog.Handler): an
// error leaves the subscriber's cursor where it was, so events are retried
// rather than lost.
func (s *Sink) HandleEvents(ctx context.Context, batch []eventlog.Entry) error {
	pts := make([]*write.Point, 0, len(batch))
	for _, e := range batch {
		ev := e.Event
		if ev.Kind == anomaly.EventRemediation {
			// A remediation decision carries no verdict (value, bounds
			// 0): it is not an anomaly event.
			continue
		}
		p := write.NewPointWithMeasurement(s.o.EventMeasurement)
		p.AddTag("series", ev.Series)
		p.AddTag("kind", string(ev.Kind))
		p.AddTag("anomaly_kind", ev.AnomalyKind)
		p.AddField("anomaly_id", int64(ev.AnomalyID))
		p.AddField("seq", int64(e.Seq))
		p.AddField("score", ev.Verdict.Score)
		p.AddField("value", ev.Verdict.Value)
		p.AddField("expected", ev.Verdict.Expected)
		p.AddField("lower", ev.Verdict.Lower)
		p.AddField("upper", ev.Verdict.Upper)
		at := ev.At
		if at.IsZero() {
			at = ev.Verdict.Timestamp
		}
		p.SetTime(at)
		pts = append(pts, p)
	}
	if len(pts) == 0 {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	if err := s.w.WritePoint(wctx, pts...); err != nil {
		s.log.Warn("writing anomaly events to InfluxDB (retried)", "events", len(pts), "error", err)
		return err
	}
	s.written.WithLabelValues("event").Add(float64(len(pts)))
	return nil
}
