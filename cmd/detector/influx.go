package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"sync"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/api"
	"github.com/anomalyd/detector/eventlog"
	"github.com/anomalyd/detector/exporter"
	"github.com/anomalyd/detector/history"
	"github.com/anomalyd/detector/influx"
	"github.com/anomalyd/detector/series"
)

// InfluxConfig connects the service to InfluxDB: backfill at start and on
// request, and the verdict sink. Everything is off without URL.
type InfluxConfig struct {
	URL   string
	Token string // 2.x token, or "user:password" for 1.8; "" without auth
	Org   string
	// Backfill is the Flux query run at start (empty: none); it may use
	// v.timeRangeStart and v.timeRangeStop, which cover BackfillRange.
	Backfill      string
	BackfillRange time.Duration
	// HoldPoints bounds the live points held while the start-up backfill
	// runs (beyond: 429).
	HoldPoints int
	// VerdictBucket turns on the verdict sink ("db/rp" for 1.8).
	VerdictBucket      string
	VerdictMeasurement string
	VerdictBuffer      int
	VerdictFlush       time.Duration
	// OpenAnomalyMetrics bounds the series in open anomalies exported on
	// /metrics (detector_open_anomaly_*); default exporter.DefaultMax.
	OpenAnomalyMetrics int
}

// durationDays is a flag.Value for durations that also take days ("14d").
type durationDays struct{ d *time.Duration }

func (v durationDays) String() string {
	if v.d == nil {
		return ""
	}
	return v.d.String()
}

func (v durationDays) Set(s string) error {
	d, err := api.ParseRange(s)
	if err != nil {
		return err
	}
	*v.d = d
	return nil
}

func bindInfluxFlags(fs *flag.FlagSet, c *InfluxConfig, bucketLabel *string) {
	fs.StringVar(&c.URL, "influx-url", "", "InfluxDB URL for --backfill, POST /api/v1/backfill and --verdict-bucket (e.g. http://127.0.0.1:8086)")
	fs.StringVar(&c.Token, "influx-token", "", "InfluxDB token (1.8: user:password); prefer DETECTOR_INFLUX_TOKEN")
	fs.StringVar(&c.Org, "influx-org", "-", "InfluxDB organization (ignored by 1.8)")
	fs.StringVar(&c.Backfill, "backfill", "", "Flux query whose history trains the baselines at start, before live points (may use v.timeRangeStart and v.timeRangeStop)")
	c.BackfillRange = 14 * 24 * time.Hour
	fs.Var(durationDays{&c.BackfillRange}, "backfill-range", "how far back --backfill and POST /api/v1/backfill read (e.g. 14d, 36h)")
	fs.IntVar(&c.HoldPoints, "backfill-hold", 1_000_000, "live points held (acknowledged, replayed after) while the start-up backfill runs; beyond: 429")
	fs.StringVar(&c.VerdictBucket, "verdict-bucket", "", "write every verdict and anomaly event to this InfluxDB bucket (1.8: db/rp); empty: off")
	fs.StringVar(&c.VerdictMeasurement, "verdict-measurement", "detector_verdict", "measurement of verdicts; events go to <it>_event")
	fs.IntVar(&c.VerdictBuffer, "verdict-buffer", 100_000, "verdicts waiting for InfluxDB before new ones are dropped (counted)")
	fs.DurationVar(&c.VerdictFlush, "verdict-flush", time.Second, "longest a verdict waits before it is written")
	fs.StringVar(bucketLabel, "influx-bucket-label", "", "label that records the bucket (or db) of line-protocol writes; empty: none")
	fs.IntVar(&c.OpenAnomalyMetrics, "metrics-open-anomalies", exporter.DefaultMax, "series in open anomalies whose score and band are exported on /metrics (detector_open_anomaly_*)")
}

// influxParts are the InfluxDB pieces of a running service, and the
// subscribers of the event log they share with the open-anomaly metrics.
type influxParts struct {
	cfg      InfluxConfig
	log      *slog.Logger
	client   influxdb2.Client // nil without --influx-url
	open     *exporter.Open
	backfill *influx.Backfiller
	gate     *influx.Gate
	sink     *influx.Sink

	// bctx bounds backfills (start-up and API), sctx the sink and the
	// event subscribers; both end at Close.
	bctx, sctx             context.Context
	stopBackfill, stopSink context.CancelFunc
	backfillWG, sinkWG     sync.WaitGroup
}

// newInfluxParts builds the parts cfg asks for. The engine is not built
// yet: the sink is wired through verdictHook and start, the backfill
// through setWriter.
func newInfluxParts(cfg InfluxConfig, log *slog.Logger, reg prometheus.Registerer) (*influxParts, error) {
	p := &influxParts{cfg: cfg, log: log, open: exporter.New(cfg.OpenAnomalyMetrics)}
	p.bctx, p.stopBackfill = context.WithCancel(context.Background())
	p.sctx, p.stopSink = context.WithCancel(context.Background())
	if err := reg.Register(p.open); err != nil {
		return nil, fmt.Errorf("open-anomaly metrics: %w", err)
	}
	if cfg.URL == "" {
		if cfg.Backfill != "" || cfg.VerdictBucket != "" {
			return nil, errors.New("--backfill and --verdict-bucket need --influx-url")
		}
		return p, nil
	}
	p.client = influx.NewClient(cfg.URL, cfg.Token)
	if cfg.VerdictBucket != "" {
		s, err := influx.NewSink(p.client.WriteAPIBlocking(cfg.Org, cfg.VerdictBucket), influx.SinkOptions{
			Measurement:   cfg.VerdictMeasurement,
			Buffer:        cfg.VerdictBuffer,
			FlushInterval: cfg.VerdictFlush,
			Logger:        log.With("component", "influx-sink"),
			Registerer:    reg,
		})
		if err != nil {
			p.client.Close()
			return nil, err
		}
		p.sink = s
	}
	return p, nil
}

// verdictHook is the engine's Options.Verdicts: the sink's Offer, or nil.
func (p *influxParts) verdictHook() func([]anomaly.Verdict) {
	if p.sink == nil {
		return nil
	}
	return p.sink.Offer
}

// setWriter builds the backfiller and the gate in front of the writer w,
// and returns the ingester live inputs must use.
func (p *influxParts) setWriter(w api.Ingester, limits series.Limits, reg prometheus.Registerer) (api.Ingester, error) {
	if p.client == nil {
		return w, nil
	}
	p.gate = influx.NewGate(w, p.cfg.HoldPoints, p.log.With("component", "backfill"))
	b, err := influx.NewBackfiller(p.client.QueryAPI(p.cfg.Org), w, influx.BackfillOptions{
		Query:      p.cfg.Backfill,
		Range:      p.cfg.BackfillRange,
		Limits:     limits,
		Logger:     p.log.With("component", "backfill"),
		Registerer: reg,
	})
	if err != nil {
		return nil, err
	}
	p.backfill = b
	return p.gate, nil
}

// backfiller is the API's Backfiller, or nil. Jobs run under the
// service's context, not the request's.
func (p *influxParts) backfiller() api.Backfiller {
	if p.backfill == nil {
		return nil
	}
	return apiBackfiller{p}
}

// olderHistory reads older history from the verdict sink's measurement,
// or is nil without the sink.
func (p *influxParts) olderHistory() history.OlderHistory {
	if p.sink == nil {
		return nil
	}
	return influx.History{Q: p.client.QueryAPI(p.cfg.Org), Bucket: p.cfg.VerdictBucket, Measurement: p.cfg.VerdictMeasurement}
}

type apiBackfiller struct{ p *influxParts }

func (a apiBackfiller) Start(_ context.Context, req anomaly.BackfillRequest) (anomaly.BackfillStatus, error) {
	return a.p.backfill.Start(a.p.bctx, req)
}

func (a apiBackfiller) Jobs() []anomaly.BackfillStatus { return a.p.backfill.Jobs() }

// holdForBackfill closes the gate before the server listens when a
// start-up backfill is configured.
func (p *influxParts) holdForBackfill() {
	if p.cfg.Backfill != "" {
		p.gate.Hold()
	}
}

// start runs the sink, subscribes the sink and the open-anomaly metrics
// to the service's event log (the service stops them and saves their
// cursors when it closes), and runs the start-up backfill.
func (p *influxParts) start(subscribe func(name string, h eventlog.Handler, o eventlog.RunOptions)) {
	sctx, bctx := p.sctx, p.bctx
	subscribe("open-anomaly-metrics", p.open.HandleEvents, eventlog.RunOptions{RetryDelay: 100 * time.Millisecond})
	if p.sink != nil {
		p.sinkWG.Add(1)
		go func() { defer p.sinkWG.Done(); p.sink.Run(sctx) }()
		subscribe("influx-sink", p.sink.HandleEvents, eventlog.RunOptions{})
	}
	if p.cfg.Backfill != "" {
		p.backfillWG.Add(1)
		go func() {
			defer p.backfillWG.Done()
			if _, err := p.backfill.Run(bctx, anomaly.BackfillRequest{}); err != nil {
				p.log.Error("start-up backfill failed; live points go on", "error", err)
			}
			// Held live points go in after the history, even after a failure.
			if err := p.gate.Release(context.Background()); err != nil {
				p.log.Error("replaying live points held during the backfill", "error", err)
			}
		}()
	}
}

// closeInputs stops a running start-up backfill and replays the live
// points it held; call it after the HTTP server stopped and before the
// engine closes.
func (p *influxParts) closeInputs() {
	p.stopBackfill()
	p.backfillWG.Wait()
	if p.backfill != nil {
		p.backfill.Wait()
	}
}

// closeSink writes what the sink holds and stops it; call it once the
// engine has drained.
func (p *influxParts) closeSink() {
	p.stopSink()
	p.sinkWG.Wait()
}

func (p *influxParts) close() {
	if p.client != nil {
		p.client.Close()
	}
}

// gatedEngine is the API's engine with Ingest going through the gate.
type gatedEngine struct {
	api.Engine
	w api.Ingester
}

func (g gatedEngine) Ingest(ctx context.Context, s []anomaly.Sample) (anomaly.IngestResult, error) {
	return g.w.Ingest(ctx, s)
}
