package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/api"
	"github.com/anomalyd/detector/bounds"
	"github.com/anomalyd/detector/feedback"
	"github.com/anomalyd/detector/models"
	"github.com/anomalyd/detector/notify"
	"github.com/anomalyd/detector/peers"
	"github.com/anomalyd/detector/series"
	"github.com/anomalyd/detector/service"
)

// Config is everything `detector serve` is built from. The zero value of a
// field means that field's default.
type Config struct {
	Listen     string
	Shards     int
	ApplyTurns int // series.Options.Appliers: shards applying at once, 0 for all
	ReadProcs  int // Ps added after sizing, for reads (readprocs.go)
	// IngestNice is the nice value of the threads that decode and apply
	// ingest (ingestprio.go), ingestIdle for the SCHED_IDLE policy; 0
	// leaves them at the process's priority.
	IngestNice  int
	QueueDepth  int
	MaxSeries   int
	IdleTimeout time.Duration
	// NoDataAfter opens no_data anomalies (series.Options.NoDataAfter).
	NoDataAfter     float64
	MaxAnomalies    int
	ShutdownTimeout time.Duration
	Limits          series.Limits
	Model           models.Config
	Batch           models.BatchConfig
	API             api.Config
	// PeerInterval is how often peer groups are judged; default 1m.
	PeerInterval time.Duration
	// Persist: data directory, snapshots, timeline retention (persist.go,
	// snapshot.go). An empty DataDir keeps everything in memory.
	Persist PersistConfig
	// SnapshotInterval is how often the series baselines are written to
	// DataDir (snapshot.go); default 1m. A crash loses at most this much of
	// baseline learning.
	SnapshotInterval time.Duration
	// Auth: bearer tokens and TLS (auth.go).
	Auth AuthConfig
	// EventRetention is the number of events the event log keeps; default
	// service.DefaultEventRetention.
	EventRetention int
	// MaxIngestRate bounds the points a second ingest accepts (0: none).
	MaxIngestRate float64
	// Settings are the effective flags with their sources, served by GET
	// /status (filled by the flag parsing of `detector serve`).
	Settings []Setting
	// Remediate: automated remediation (remediate.go).
	Remediate RemediateConfig
	// Influx: backfill and verdict sink (influx.go).
	Influx InfluxConfig
	// Notify: webhooks, Alertmanager, incidents, silences (notify.go).
	Notify NotifyConfig
	// AllowDestinations are CIDR prefixes or addresses that outgoing calls
	// (webhooks, Alertmanager, remediation actions) may reach although
	// they are private, loopback or link-local (--allow-destination).
	AllowDestinations []string
	// PeerLimits bound the peer rules and their windows.
	PeerLimits peers.RuleLimits
	// Console: the web console and its recent history (console.go).
	Console ConsoleConfig
	// Kafka: points from a consumer group, state in a changelog (kafka.go).
	Kafka KafkaConfig
	// Cluster: forwarding and merging over the nodes of a scaled-out
	// deployment (cluster.go).
	Cluster ClusterConfig
	// PprofListen serves the runtime profiles (pprof.go); empty for none.
	PprofListen string
}

// DefaultShutdownTimeout is the time allowed to drain on SIGTERM.
const DefaultShutdownTimeout = 30 * time.Second

// Main is the running service: the service layer (engine, peers, writer,
// event log, timeline, snapshots) and the HTTP server, wired together.
// Tests start and stop it like the binary does.
type Main struct {
	cfg    Config
	log    *slog.Logger
	reg    *prometheus.Registry
	svc    *service.Service
	engine *series.Engine
	peers  *peers.Groups
	srv    *http.Server
	ln     net.Listener
	ready  atomic.Bool
	served chan error
	// started is when NewMain was called, for the uptime of GET /status.
	started time.Time

	remediation *remediation // remediate.go
	influx      *influxParts // influx.go
	hub         *notify.Hub  // notify.go
	hubLog      *lateLog     // the service's event log, once it is open
	kafka       *kafkaParts  // kafka.go

	clusterDir *lateDirectory // cluster.go; nil on a single node

	ingestPool *ingestPool // ingestprio.go; nil without --ingest-nice
}

// NewMain builds the service from cfg. Nothing listens until Start.
func NewMain(cfg Config, log *slog.Logger) (*Main, error) {
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:8080"
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = DefaultShutdownTimeout
	}
	if cfg.API.Guard.Listen == "" {
		cfg.API.Guard.Listen = cfg.Listen
	}
	if cfg.Model == (models.Config{}) {
		cfg.Model = models.DefaultConfig()
	}
	if err := cfg.Model.Validate(); err != nil {
		return nil, fmt.Errorf("model config: %w", err)
	}
	if cfg.Batch.Periods == nil {
		cfg.Batch = models.DefaultBatchConfig()
	}
	// Batch verdicts use the same alert threshold as the streaming model.
	cfg.Batch.Threshold = cfg.Model.Threshold
	m := &Main{cfg: cfg, log: log, reg: prometheus.NewRegistry(), served: make(chan error, 1), started: time.Now()}
	var shardThreadFn func() // ingestprio.go
	if cfg.IngestNice != 0 {
		if err := checkNice(cfg.IngestNice); err != nil {
			return nil, err
		}
		shardThreadFn = shardThread(cfg.IngestNice, log)
	}
	var err error
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	maxFuture := cfg.API.MaxFuture
	if maxFuture == 0 {
		maxFuture = api.DefaultConfig().MaxFuture
	}
	if m.influx, err = newInfluxParts(cfg.Influx, log, m.reg); err != nil {
		return nil, err
	}
	m.hubLog = &lateLog{}
	if m.hub, err = openNotify(&cfg, m.hubLog, m.hubLog, log.With("component", "notify"), m.reg); err != nil {
		m.influx.close()
		return nil, err
	}
	svc, err := service.Open(service.Config{
		Observe:           m.localObserver(&cfg), // kafka.go
		PeerLimits:        cfg.PeerLimits,
		DataDir:           cfg.Persist.DataDir,
		MaxAnomalies:      cfg.MaxAnomalies,
		TimelineRetention: cfg.Persist.TimelineRetention,
		SnapshotInterval:  cfg.SnapshotInterval,
		PeerInterval:      cfg.PeerInterval,
		EventRetention:    cfg.EventRetention,
		MaxFuture:         maxFuture,
		MaxIngestRate:     cfg.MaxIngestRate,
		Engine: series.Options{
			Shards:      cfg.Shards,
			Appliers:    cfg.ApplyTurns,
			QueueDepth:  cfg.QueueDepth,
			MaxSeries:   cfg.MaxSeries,
			IdleTimeout: cfg.IdleTimeout,
			NoDataAfter: cfg.NoDataAfter,
			Limits:      cfg.Limits,
			Model:       cfg.Model,
			Verdicts:    m.influx.verdictHook(),
			ShardThread: shardThreadFn,
		},
		Logger:     log,
		Registerer: m.reg,
	})
	if err != nil {
		m.hub.Close()
		m.influx.close()
		return nil, err
	}
	m.svc, m.engine, m.peers = svc, svc.Engine(), svc.Peers()
	m.hubLog.Log, m.hubLog.Cursors = svc.Events(), svc.Cursors()
	m.newKafkaParts(&cfg)          // kafka.go: with cluster events the hub reads Kafka's
	hist := m.newHistory(m.engine) // console.go
	limits := m.engine.Limits()
	// Every input passes the maintenance windows' learning gate, then the
	// backfill gate.
	ing := learningGate{Engine: svc.API(), filter: m.hub}
	writer, err := m.influx.setWriter(ing, limits, m.reg)
	if err == nil {
		err = m.openRemediation()
	}
	m.kafka.writer = writer // kafka.go
	var fb *feedback.Store
	if err == nil {
		fb, err = feedback.New(m.engine, m.reg)
	}
	var bs *bounds.Store
	if err == nil {
		bs, err = bounds.Open(cfg.Persist.DataDir, m.engine)
	}
	if err == nil {
		err = m.startIngestPool() // ingestprio.go
	}
	if err != nil {
		m.closeRemediation()
		svc.Close(context.Background())
		m.hub.Close()
		m.influx.close()
		return nil, err
	}
	handler, err := api.New(cfg.API, api.Deps{
		Feedback:     fb,
		Bounds:       bs,
		Notify:       m.hub,
		Engine:       gatedEngine{ing, writer},
		Ingest:       writer,
		Backfill:     m.influx.backfiller(),
		Timeline:     svc.Timeline(),
		Peers:        m.peers,
		PeerDetect:   peers.DetectMembers,
		Remediations: m.remediations(),
		History:      hist,
		Sorted:       m.engine,
		Batch: func(_ context.Context, samples []anomaly.Sample, period int64) (anomaly.BatchResult, error) {
			return models.DetectBatch(samples, period, cfg.Batch)
		},
		Canonical: func(s string) (string, error) {
			k, err := series.Parse(s, limits)
			return k.Canonical(), err
		},
		Ready:      m.ready.Load,
		Status:     m.status,
		Gatherer:   m.reg,
		Registerer: m.reg,
		Logger:     log.With("component", "api"),
		IngestRun:  m.ingestPool.runner(),
	})
	var h http.Handler = handler
	if err == nil {
		h, err = m.withCluster(handler) // cluster.go
	}
	if err == nil {
		h, err = m.secure(h)
		h = m.withConsole(h) // console.go
	}
	if err != nil {
		m.ingestPool.Close()
		m.closeRemediation()
		svc.Close(context.Background())
		m.hub.Close()
		m.influx.close()
		return nil, err
	}
	m.srv = &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		// A backstop: the API sets tighter deadlines per body and answer
		// (--body-timeout, --write-timeout).
		WriteTimeout:   3 * time.Minute,
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return m, nil
}

// Start listens on the configured address and serves in the background.
func (m *Main) Start() error {
	ln, err := net.Listen("tcp", m.cfg.Listen)
	if err != nil {
		return err
	}
	m.ln = ln
	m.influx.holdForBackfill()
	go func() { m.served <- m.serveOn(ln) }()
	m.svc.Start()
	m.hub.Start()
	m.influx.start(m.svc.Subscribe)
	m.startRemediation()
	if err := m.startKafka(); err != nil { // kafka.go
		return err
	}
	m.ready.Store(true)
	m.log.Info("serving", "addr", ln.Addr().String(), "shards", len(m.engine.Stats().Shards),
		"gomaxprocs", runtime.GOMAXPROCS(0))
	return nil
}

// Addr is the address the server listens on (useful with port 0).
func (m *Main) Addr() string { return m.ln.Addr().String() }

// Run serves until ctx is cancelled (SIGINT/SIGTERM) or the server fails,
// then shuts down gracefully.
func (m *Main) Run(ctx context.Context) error {
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-m.served:
		m.served <- serveErr
	}
	closeErr := m.Close()
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return serveErr
	}
	return closeErr
}

// Close stops taking traffic, lets in-flight requests finish, stops the
// peer evaluations, drains every shard queue (all acknowledged points are
// learned) and stops the engine.
func (m *Main) Close() error {
	m.ready.Store(false)
	ctx, cancel := context.WithTimeout(context.Background(), m.cfg.ShutdownTimeout)
	defer cancel()
	start := time.Now()
	err := m.srv.Shutdown(ctx)
	m.ingestPool.Close() // no ingest request is served any more
	// The group consumer checkpoints and leaves before the engine drains.
	if e := m.closeKafka(ctx); e != nil && err == nil {
		err = e
	}
	// The remediator stops before the event log it reads and appends to.
	if e := m.closeRemediation(); e != nil && err == nil {
		err = e
	}
	m.influx.closeInputs()
	if e := m.svc.Close(ctx); e != nil && err == nil {
		err = e
	}
	// The hub observed every event of the drain; it stops its deliveries
	// and writes its incidents last.
	if e := m.hub.Close(); e != nil && err == nil {
		err = e
	}
	// The engine has drained: the sink writes what it holds and stops.
	m.influx.closeSink()
	m.influx.close()
	st := m.engine.Stats()
	m.log.Info("stopped", "took", time.Since(start).Round(time.Millisecond), "live_series", st.Series)
	return err
}

func serve(ctx context.Context, args []string, stderr io.Writer) error {
	cfg, log, err := parseServe(args, stderr)
	if err != nil {
		return err
	}
	lim := setMemoryLimit(&cfg, log)                           // memlimit.go
	startGCTuner(ctx, lim, gcHeadroomFor(cfg.IngestNice), log) // gctune.go
	// pprof.go
	if _, err := startPprof(cfg.PprofListen, log); err != nil {
		return err
	}
	m, err := NewMain(cfg, log)
	if err != nil {
		return err
	}
	addReadProcs(readProcsWith(cfg.ReadProcs, m.lockedIngestThreads(), runtime.GOMAXPROCS(0)), log) // readprocs.go, ingestprio.go
	if err := m.Start(); err != nil {
		m.Close()
		return err
	}
	return m.Run(ctx)
}

// parseServe reads the flags and environment of `detector serve` into a
// Config (with Config.Settings saying where each value came from) and a
// logger.
func parseServe(args []string, stderr io.Writer) (Config, *slog.Logger, error) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg Config
	ad := api.DefaultConfig()
	ld := series.DefaultLimits()
	fs.StringVar(&cfg.Listen, "listen", "127.0.0.1:8080", "address to listen on")
	fs.IntVar(&cfg.Shards, "shards", runtime.GOMAXPROCS(0), "engine shards, one goroutine each")
	fs.IntVar(&cfg.ApplyTurns, "apply-turns", 0, "engine shards applying points at once, the others waiting with their lock released; fewer than the cores keeps a core idle to notice reads at once under full ingest, at a cost in ingest throughput (0: all shards)")
	fs.IntVar(&cfg.ReadProcs, "read-procs", 1, "Go Ps added beyond the cores the service is sized on (shards, ingest slots), so that one always waits in the network poller and notices reads at once under full ingest (0: none; at most GOMAXPROCS; with --ingest-nice, beyond the locked ingest threads)")
	fs.Var(niceFlag{&cfg.IngestNice}, "ingest-nice", "nice value (1-19) of the threads that decode and apply ingest, or idle for the SCHED_IDLE policy, so that verdict reads preempt them under full ingest; also raises the collector's minimum headroom to 64 MiB (0: the process's priority; Linux only)")
	fs.IntVar(&cfg.QueueDepth, "queue-depth", series.DefaultQueueDepth, "chunks of batches each shard queue holds before ingest answers 429 (a batch of up to 1,024 points is one chunk, a larger one up to 8)")
	fs.IntVar(&cfg.MaxSeries, "max-series", series.DefaultMaxSeries, "live series cap; the least recently updated series is evicted beyond it (-1: no cap)")
	fs.DurationVar(&cfg.IdleTimeout, "idle-timeout", 0, "evict series that got no point for this long (0: never)")
	fs.Float64Var(&cfg.NoDataAfter, "no-data-after", 0, "open a no_data anomaly for a series silent for this many times its usual step, checked every minute (0: off; for live feeds, not backfills)")
	fs.IntVar(&cfg.MaxAnomalies, "max-anomalies", service.DefaultMaxAnomalies, "anomalies kept on the timeline (oldest resolved dropped first)")
	fs.DurationVar(&cfg.PeerInterval, "peer-interval", service.DefaultPeerInterval, "how often peer groups are judged (peer_outlier anomalies)")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", DefaultShutdownTimeout, "time allowed to drain queues on SIGTERM")
	fs.IntVar(&cfg.Limits.MaxLabels, "max-labels", ld.MaxLabels, "labels per series")
	fs.IntVar(&cfg.Limits.MaxNameLen, "max-name-len", ld.MaxNameLen, "bytes in a metric name")
	fs.IntVar(&cfg.Limits.MaxLabelNameLen, "max-label-name-len", ld.MaxLabelNameLen, "bytes in a label name")
	fs.IntVar(&cfg.Limits.MaxLabelValueLen, "max-label-value-len", ld.MaxLabelValueLen, "bytes in a label value")
	fs.IntVar(&cfg.Limits.MaxKeyLen, "max-key-len", ld.MaxKeyLen, "bytes in a whole series key")
	fs.Int64Var(&cfg.API.MaxBodyBytes, "max-body-bytes", ad.MaxBodyBytes, "request body limit (413 beyond)")
	fs.IntVar(&cfg.API.MaxPoints, "max-points", ad.MaxPoints, "points per request")
	fs.DurationVar(&cfg.API.MaxFuture, "max-future", ad.MaxFuture, "how far ahead of the server clock a timestamp may be")
	fs.IntVar(&cfg.API.MaxInFlight, "max-in-flight", ad.MaxInFlight, "POST requests read and decoded at once; more wait --in-flight-wait, then get 429")
	fs.DurationVar(&cfg.API.InFlightWait, "in-flight-wait", ad.InFlightWait, "how long a POST waits for a turn before 429")
	adm := api.DefaultAdmissionConfig()
	fs.IntVar(&cfg.API.Admission.Slots, "ingest-slots", adm.Slots, "ingest requests decoded and applied at once, the rest of the CPU kept for reads (default GOMAXPROCS-1; -1: no ingest admission)")
	fs.IntVar(&cfg.API.Admission.Queue, "ingest-queue", adm.Queue, "ingest requests that may wait for an ingest slot; more get 429 with Retry-After")
	fs.DurationVar(&cfg.API.Admission.Wait, "ingest-wait", adm.Wait, "how long an ingest request waits for an ingest slot before 429")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	logFormat := fs.String("log-format", "text", "text or json")
	mf := bindModelFlags(fs)
	bindPersistFlags(fs, &cfg.Persist)
	fs.DurationVar(&cfg.SnapshotInterval, "snapshot-interval", service.DefaultSnapshotInterval, "how often baselines are snapshotted to --data-dir (a crash loses at most this much learning)")
	bindAuthFlags(fs, &cfg.Auth)
	fs.Float64Var(&cfg.MaxIngestRate, "max-ingest-rate", 0, "points a second ingest accepts, every input together; a batch beyond gets 429 (0: no limit)")
	fs.IntVar(&cfg.EventRetention, "event-retention", service.DefaultEventRetention, "events kept in the event log subscribers read (webhooks, timeline)")
	fs.Var(multiFlag{&cfg.AllowDestinations}, "allow-destination",
		"CIDR prefix or address that webhooks, Alertmanager and remediation actions may reach although private, loopback or link-local (repeatable, or comma-separated)")
	bindNotifyFlags(fs, &cfg.Notify)
	bindRemediateFlags(fs, &cfg.Remediate)
	bindInfluxFlags(fs, &cfg.Influx, &cfg.API.BucketLabel)
	bindGuardFlags(fs, &cfg.API.Guard)
	bindConsoleFlags(fs, &cfg.Console)
	bindKafkaFlags(fs, &cfg.Kafka)
	bindClusterFlags(fs, &cfg.Cluster)
	bindPprofFlags(fs, &cfg.PprofListen)
	fs.IntVar(&cfg.PeerLimits.MaxRules, "peer-max-rules", peers.DefaultMaxRules, "peer rules kept at most")
	fs.Int64Var(&cfg.PeerLimits.MaxWindowBytes, "peer-window-bytes", 0, "memory the peer windows may take: a rule is refused when --max-series x (window + 1) x 4 bytes exceeds it (0: --max-series x 512 bytes)")
	fs.Usage = func() { usageWithEnv(fs, "serve") }
	settings, err := parseWithEnv(fs, args)
	if err != nil {
		return cfg, nil, err
	}
	cfg.Settings = settings
	if fs.NArg() > 0 {
		return cfg, nil, fmt.Errorf("serve: unexpected argument %q", fs.Arg(0))
	}
	log, err := newLogger(stderr, *logLevel, *logFormat)
	if err != nil {
		return cfg, nil, err
	}
	if cfg.Model, err = mf.config(); err != nil {
		return cfg, nil, err
	}
	return cfg, log, nil
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log format %q: want text or json", format)
}
