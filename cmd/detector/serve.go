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
	"github.com/anomalyd/detector/models"
	"github.com/anomalyd/detector/peers"
	"github.com/anomalyd/detector/series"
)

// Config is everything `detector serve` is built from. The zero value of a
// field means that field's default.
type Config struct {
	Listen          string
	Shards          int
	QueueDepth      int
	MaxSeries       int
	IdleTimeout     time.Duration
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
	// Console: the web console and its recent history (console.go).
	Console ConsoleConfig
}

// Main is the running service: the engine, the timeline and the HTTP
// server, wired together. Tests start and stop it like the binary does.
type Main struct {
	cfg      Config
	log      *slog.Logger
	reg      *prometheus.Registry
	engine   *series.Engine
	timeline timelineBackend
	peers    *peers.Store
	snaps    snapshotter
	srv      *http.Server
	ln       net.Listener
	ready    atomic.Bool
	served   chan error

	peerStop context.CancelFunc // stops the peer evaluation ticker; nil before Start
	peerDone chan struct{}      // closed when the ticker has stopped
}

// peerIngester is the engine with Ingest extended: the points the engine
// accepted also go to the peer store, under their canonical series text.
type peerIngester struct {
	*series.Engine
	peers *peers.Store
}

// Ingest calls the engine's Ingest, then observes the samples whose index
// is not among the result's item errors.
func (p peerIngester) Ingest(ctx context.Context, samples []anomaly.Sample) (anomaly.IngestResult, error) {
	res, err := p.Engine.Ingest(ctx, samples)
	if err != nil || res.Accepted == 0 || len(p.peers.Rules()) == 0 {
		return res, err
	}
	rejected := make(map[int]bool, len(res.Errors))
	for _, e := range res.Errors {
		rejected[e.Index] = true
	}
	limits := p.Engine.Limits()
	accepted := make([]anomaly.Sample, 0, res.Accepted)
	var prev, canon string
	for i, s := range samples {
		if rejected[i] {
			continue
		}
		if s.Series != prev || canon == "" {
			k, err := series.Parse(s.Series, limits)
			if err != nil { // the engine accepted it, so this does not happen
				continue
			}
			prev, canon = s.Series, k.Canonical()
		}
		s.Series = canon
		accepted = append(accepted, s)
	}
	p.peers.Observe(accepted)
	return res, nil
}

// NewMain builds the service from cfg. Nothing listens until Start.
func NewMain(cfg Config, log *slog.Logger) (*Main, error) {
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:8080"
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 30 * time.Second
	}
	if cfg.PeerInterval <= 0 {
		cfg.PeerInterval = time.Minute
	}
	if cfg.SnapshotInterval <= 0 {
		cfg.SnapshotInterval = time.Minute
	}
	if cfg.MaxAnomalies <= 0 {
		cfg.MaxAnomalies = 100_000
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
	m := &Main{cfg: cfg, log: log, reg: prometheus.NewRegistry(), served: make(chan error, 1)}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	tl, err := openTimeline(&cfg, log.With("component", "timeline"), m.reg)
	if err != nil {
		return nil, err
	}
	m.timeline = tl
	eng, err := series.NewEngine(series.Options{
		FirstAnomalyID: tl.MaxID() + 1,
		Shards:         cfg.Shards,
		QueueDepth:     cfg.QueueDepth,
		MaxSeries:      cfg.MaxSeries,
		IdleTimeout:    cfg.IdleTimeout,
		Limits:         cfg.Limits,
		Model:          cfg.Model,
		Logger:         log.With("component", "engine"),
		Registerer:     m.reg,
		Events:         m.timeline,
	})
	if err != nil {
		tl.Close()
		return nil, err
	}
	m.engine = eng
	hist := m.newHistory(eng) // console.go
	limits := eng.Limits()
	m.peers, err = peers.New(context.Background(), peers.Options{
		Logger:     log.With("component", "peers"),
		Registerer: m.reg,
		Sink:       m.timeline,
		NextID:     eng.NextAnomalyID,
		Limits:     limits,
		Rules:      tl.Rules(),
	})
	if err == nil {
		err = m.restore()
	}
	if err == nil {
		err = m.reconcileOpen(context.Background())
	}
	if err != nil {
		eng.Close(context.Background())
		tl.Close()
		return nil, err
	}
	handler, err := api.New(cfg.API, api.Deps{
		Engine:     peerIngester{Engine: eng, peers: m.peers},
		Timeline:   m.timeline,
		Peers:      m.peers,
		PeerDetect: peers.DetectMembers,
		History:    hist,
		Batch: func(_ context.Context, samples []anomaly.Sample, period int64) (anomaly.BatchResult, error) {
			return models.DetectBatch(samples, period, cfg.Batch)
		},
		Canonical: func(s string) (string, error) {
			k, err := series.Parse(s, limits)
			return k.Canonical(), err
		},
		Ready:      m.ready.Load,
		Gatherer:   m.reg,
		Registerer: m.reg,
		Logger:     log.With("component", "api"),
	})
	var h http.Handler = handler
	if err == nil {
		h, err = m.secure(handler)
		h = m.withConsole(h) // console.go
	}
	if err != nil {
		eng.Close(context.Background())
		tl.Close()
		return nil, err
	}
	m.srv = &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
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
	go func() { m.served <- m.serveOn(ln) }()
	m.startSnapshots()
	ctx, cancel := context.WithCancel(context.Background())
	m.peerStop, m.peerDone = cancel, make(chan struct{})
	go func() {
		defer close(m.peerDone)
		m.peers.Run(ctx, m.cfg.PeerInterval)
	}()
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
	if m.peerStop != nil {
		m.peerStop()
		<-m.peerDone
		m.peerStop = nil
	}
	if e := m.engine.Close(ctx); e != nil && err == nil {
		err = e
	}
	// The queues are drained: the final snapshot holds every acknowledged
	// point.
	if e := m.stopSnapshots(ctx); e != nil && err == nil {
		err = e
	}
	if e := m.timeline.Close(); e != nil && err == nil {
		err = e
	}
	st := m.engine.Stats()
	m.log.Info("stopped", "took", time.Since(start).Round(time.Millisecond), "live_series", st.Series)
	return err
}

func serve(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg Config
	ad := api.DefaultConfig()
	ld := series.DefaultLimits()
	fs.StringVar(&cfg.Listen, "listen", "127.0.0.1:8080", "address to listen on")
	fs.IntVar(&cfg.Shards, "shards", runtime.GOMAXPROCS(0), "engine shards, one goroutine each")
	fs.IntVar(&cfg.QueueDepth, "queue-depth", series.DefaultQueueDepth, "batches each shard queue holds before ingest answers 429")
	fs.IntVar(&cfg.MaxSeries, "max-series", series.DefaultMaxSeries, "live series cap; the least recently updated series is evicted beyond it (-1: no cap)")
	fs.DurationVar(&cfg.IdleTimeout, "idle-timeout", 0, "evict series that got no point for this long (0: never)")
	fs.IntVar(&cfg.MaxAnomalies, "max-anomalies", 100_000, "anomalies kept on the timeline (oldest resolved dropped first)")
	fs.DurationVar(&cfg.PeerInterval, "peer-interval", time.Minute, "how often peer groups are judged (peer_outlier anomalies)")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", 30*time.Second, "time allowed to drain queues on SIGTERM")
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
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	logFormat := fs.String("log-format", "text", "text or json")
	mf := bindModelFlags(fs)
	bindPersistFlags(fs, &cfg.Persist)
	fs.DurationVar(&cfg.SnapshotInterval, "snapshot-interval", time.Minute, "how often baselines are snapshotted to --data-dir (a crash loses at most this much learning)")
	bindAuthFlags(fs, &cfg.Auth)
	bindConsoleFlags(fs, &cfg.Console)
	if err := applyEnv(fs); err != nil {
		return err
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("serve: unexpected argument %q", fs.Arg(0))
	}
	log, err := newLogger(stderr, *logLevel, *logFormat)
	if err != nil {
		return err
	}
	if cfg.Model, err = mf.config(); err != nil {
		return err
	}
	m, err := NewMain(cfg, log)
	if err != nil {
		return err
	}
	if err := m.Start(); err != nil {
		m.Close()
		return err
	}
	return m.Run(ctx)
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

// reconcileOpen resolves the anomalies the timeline holds open but nothing
// will ever resolve after a restart: point anomalies whose series is not
// open under that id in the restored baselines (opened in the window a crash
// lost, or whose series was not restored), and peer outliers, whose groups
// are judged afresh. Each gets a resolved event at the time of the restart.
func (m *Main) reconcileOpen(ctx context.Context) error {
	now := time.Now().UTC()
	var stale []anomaly.Anomaly
	q := anomaly.TimelineQuery{State: "open", Limit: 1000}
	for {
		page, err := m.timeline.Query(ctx, q)
		if err != nil {
			return fmt.Errorf("reconcile open anomalies: %w", err)
		}
		for _, a := range page.Anomalies {
			if a.Kind == anomaly.KindPoint {
				if d, err := m.engine.Get(ctx, a.Series); err == nil && d.AnomalyID == a.ID {
					continue // still open in the restored baseline
				}
			}
			stale = append(stale, a)
		}
		if page.NextCursor == "" {
			break
		}
		q.Cursor = page.NextCursor
	}
	for _, a := range stale {
		m.timeline.Record(anomaly.Event{Kind: anomaly.EventResolved, AnomalyID: a.ID, AnomalyKind: a.Kind,
			Series: a.Series, At: now, Verdict: anomaly.Verdict{Series: a.Series, Timestamp: now, State: anomaly.StateNormal}})
	}
	if len(stale) > 0 {
		m.log.Info("resolved anomalies left open by the previous run", "anomalies", len(stale))
	}
	return nil
}
