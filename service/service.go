package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/eventlog"
	"github.com/anomalyd/detector/peers"
	"github.com/anomalyd/detector/series"
	"github.com/anomalyd/detector/store"
	"github.com/anomalyd/detector/timeline"
)

// Defaults of Config, stated once.
const (
	DefaultMaxAnomalies     = timeline.DefaultMaxAnomalies
	DefaultPeerInterval     = time.Minute
	DefaultSnapshotInterval = time.Minute
	DefaultEventRetention   = 100_000
	DefaultSyncWait         = time.Second
)

// Config is what a Service is built from. Zero fields take the defaults
// named in their comments.
type Config struct {
	// DataDir keeps the snapshots, the timeline, the event log and the
	// peer rules; empty keeps everything in memory (lost on restart).
	DataDir string
	// MaxAnomalies bounds the timeline; default DefaultMaxAnomalies.
	MaxAnomalies int
	// TimelineRetention is how long a resolved anomaly is kept on a
	// persistent timeline; default store.DefaultRetention, negative keeps
	// them until MaxAnomalies removes them.
	TimelineRetention time.Duration
	// EventRetention is the number of events the event log keeps; default
	// DefaultEventRetention.
	EventRetention int
	// SnapshotInterval is how often baselines are written to DataDir;
	// default DefaultSnapshotInterval.
	SnapshotInterval time.Duration
	// PeerInterval is how often peer groups are judged; default
	// DefaultPeerInterval.
	PeerInterval time.Duration
	// MaxFuture is the future-timestamp rule of the Writer; 0 turns it off.
	MaxFuture time.Duration
	// MaxIngestRate bounds the points a second the Writer accepts; 0 is no
	// bound (see WriterOptions.MaxRate).
	MaxIngestRate float64
	// SyncWait bounds how long a timeline read waits for the timeline to
	// fold in the events appended before it; default DefaultSyncWait.
	SyncWait time.Duration
	// Engine configures the series engine. FirstAnomalyID, Events, Logger
	// and Registerer are set by Open.
	Engine series.Options
	// Logger; default discards.
	Logger *slog.Logger
	// Registerer for every metric of the service; nil registers nothing.
	Registerer prometheus.Registerer
	// Observe, when set, sees every event just before it is appended to
	// the event log, on the appending goroutine (a shard's, the peer
	// ticker's, the restart reconciliation's): the notification hub gives
	// the anomaly its incident key there. It must not block.
	Observe func(anomaly.Event)
	// PeerLimits bound the peer rules and their windows; the windows are
	// capped by Engine.MaxSeries.
	PeerLimits peers.RuleLimits
	// Now is the clock of the Writer and of the reconciliation; default
	// time.Now.
	Now func() time.Time
}

func (c *Config) defaults() {
	if c.MaxAnomalies <= 0 {
		c.MaxAnomalies = DefaultMaxAnomalies
	}
	if c.EventRetention <= 0 {
		c.EventRetention = DefaultEventRetention
	}
	if c.SnapshotInterval <= 0 {
		c.SnapshotInterval = DefaultSnapshotInterval
	}
	if c.PeerInterval <= 0 {
		c.PeerInterval = DefaultPeerInterval
	}
	if c.SyncWait <= 0 {
		c.SyncWait = DefaultSyncWait
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Registerer == nil {
		c.Registerer = prometheus.NewRegistry()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Service is the detector without its HTTP server: the engine, the peer
// groups, the writer every input calls, the event log every subscriber
// reads, the timeline and the snapshots, started and stopped in the right
// order. cmd/detector wires it to the API; tests and other binaries use it
// directly.
type Service struct {
	cfg Config
	log *slog.Logger
	reg prometheus.Registerer

	engine   *series.Engine
	peers    *peers.Groups
	writer   *Writer
	events   eventlog.Log
	cursors  eventlog.Cursors
	closeLog func() error
	recorder *appender
	timeline timeline.Timeline
	feed     *timelineFeed
	snaps    Snapshots

	subCtx    context.Context
	subCancel context.CancelFunc
	subs      sync.WaitGroup

	peerStop context.CancelFunc
	peerDone chan struct{}

	closeOnce sync.Once
	closeErr  error
}

// Open builds the service: it opens the data directory (timeline, event
// log, snapshots), folds into the timeline the events it had not folded
// yet, starts the engine, restores the newest good snapshot and resolves
// the anomalies the previous run left open. Nothing runs periodically
// until Start.
func Open(cfg Config) (*Service, error) {
	cfg.defaults()
	s := &Service{cfg: cfg, log: cfg.Logger, reg: cfg.Registerer}
	s.subCtx, s.subCancel = context.WithCancel(context.Background())
	ok := false
	defer func() {
		if !ok {
			s.abort()
		}
	}()
	var rules peers.RuleStore
	var err error
	if s.timeline, rules, err = OpenTimeline(cfg, s.log.With("component", "timeline")); err != nil {
		return nil, err
	}
	if err := s.openEvents(); err != nil {
		return nil, err
	}
	if err := s.startTimelineFeed(); err != nil {
		return nil, err
	}
	eo := cfg.Engine
	eo.FirstAnomalyID = s.timeline.MaxID() + 1
	eo.Events = s.recorder
	eo.Logger = s.log.With("component", "engine")
	eo.Registerer = s.reg
	if s.engine, err = series.NewEngine(eo); err != nil {
		return nil, err
	}
	if s.peers, err = peers.New(context.Background(), peers.Options{
		Logger:     s.log.With("component", "peers"),
		Registerer: s.reg,
		Sink:       s.recorder,
		NextID:     s.engine.NextAnomalyID,
		NextIDFor:  s.engine.NextAnomalyIDFor,
		Limits:     s.engine.Limits(),
		Rules:      rules,
		MaxSeries:  cfg.Engine.MaxSeries,
		RuleLimits: cfg.PeerLimits,
	}); err != nil {
		return nil, err
	}
	if err := s.restore(); err != nil {
		return nil, err
	}
	if err := s.reconcileOpen(context.Background()); err != nil {
		return nil, err
	}
	s.writer = NewWriter(s.engine, s.peers, WriterOptions{MaxFuture: cfg.MaxFuture, Now: cfg.Now, MaxRate: cfg.MaxIngestRate})
	ok = true
	return s, nil
}

// OpenTimeline opens the timeline backend cfg asks for: in memory without
// a data directory, otherwise the bbolt store in <data-dir>/detector.db
// (created with the directory when absent), which also keeps the peer
// rules (nil rules: kept in memory). A second process on the same
// directory fails within a second with an error saying the file is locked.
func OpenTimeline(cfg Config, log *slog.Logger) (timeline.Timeline, peers.RuleStore, error) {
	cfg.defaults()
	if cfg.DataDir == "" {
		return timeline.NewMemory(cfg.MaxAnomalies), nil, nil
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, nil, fmt.Errorf("data dir: %w", err)
	}
	st, err := store.Open(filepath.Join(cfg.DataDir, store.FileName), store.Options{
		Retention:    cfg.TimelineRetention,
		MaxAnomalies: cfg.MaxAnomalies,
		Logger:       log,
		Registerer:   cfg.Registerer,
	})
	if err != nil {
		return nil, nil, err
	}
	return st, st, nil
}

// openEvents opens the event log and the subscribers' cursors.
func (s *Service) openEvents() error {
	if s.cfg.DataDir == "" {
		s.events, s.cursors, s.closeLog = eventlog.NewMemory(s.cfg.EventRetention, 0), eventlog.NewMemoryCursors(), func() error { return nil }
	} else {
		d, err := eventlog.OpenDurable(filepath.Join(s.cfg.DataDir, eventlog.FileName), eventlog.DurableOptions{
			Retention: s.cfg.EventRetention,
			Logger:    s.log.With("component", "eventlog"),
		})
		if err != nil {
			return err
		}
		s.events, s.cursors, s.closeLog = d, d.Cursors(), d.Close
		s.log.Info("event log opened", "path", filepath.Join(s.cfg.DataDir, eventlog.FileName), "last", d.Last())
	}
	s.recorder = &appender{log: s.events, observe: s.cfg.Observe, appended: prometheus.NewCounter(prometheus.CounterOpts{
		Name: "detector_eventlog_appended_total",
		Help: "Anomaly and peer-outlier events appended to the event log.",
	})}
	if err := s.reg.Register(s.recorder.appended); err != nil {
		return fmt.Errorf("event log metrics: %w", err)
	}
	if l, ok := s.cursors.(lister); ok {
		if err := s.reg.Register(newLagCollector(s.events, l)); err != nil {
			return fmt.Errorf("event log metrics: %w", err)
		}
	}
	return nil
}

// startTimelineFeed starts the timeline's subscriber and waits until it
// has folded every event already in the log (a restart's backlog).
func (s *Service) startTimelineFeed() error {
	start, err := s.cursors.Load(TimelineSubscriber)
	if err != nil {
		return fmt.Errorf("timeline cursor: %w", err)
	}
	s.feed = newTimelineFeed(s.timeline, s.events, start, s.cfg.SyncWait)
	s.Subscribe(TimelineSubscriber, s.feed.handle, eventlog.RunOptions{Batch: 1024, RetryDelay: 100 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if last := s.events.Last(); !s.feed.waitFor(ctx, last, 5*time.Minute) {
		return fmt.Errorf("timeline: could not fold the event log's backlog up to event %d", last)
	}
	return nil
}

// Subscribe runs h on its own goroutine over the event log from the saved
// cursor of name until the service closes (see eventlog.Run).
func (s *Service) Subscribe(name string, h eventlog.Handler, o eventlog.RunOptions) {
	s.subs.Add(1)
	go func() {
		defer s.subs.Done()
		if err := eventlog.Run(s.subCtx, s.events, s.cursors, name, h, o); err != nil && !errors.Is(err, context.Canceled) {
			s.log.Error("event log subscriber stopped", "subscriber", name, "err", err)
		}
	}()
}

// Start starts the periodic work: snapshots and the peer-group ticker.
func (s *Service) Start() {
	s.startSnapshots()
	if s.peerStop != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.peerStop, s.peerDone = cancel, make(chan struct{})
	go func() {
		defer close(s.peerDone)
		s.peers.Run(ctx, s.cfg.PeerInterval)
	}()
}

// Close stops the peer ticker, drains every shard queue (every
// acknowledged point is learned), writes the final snapshot, lets the
// timeline fold the last events, and closes the event log and the
// timeline. Idempotent.
func (s *Service) Close(ctx context.Context) error {
	s.closeOnce.Do(func() {
		if s.peerStop != nil {
			s.peerStop()
			<-s.peerDone
		}
		err := s.engine.Close(ctx)
		// The queues are drained: the final snapshot holds every
		// acknowledged point.
		if e := s.stopSnapshots(ctx); e != nil && err == nil {
			err = e
		}
		if !s.feed.waitFor(ctx, s.events.Last(), time.Until(deadline(ctx, 10*time.Second))) {
			s.log.Warn("timeline did not fold the last events before shutdown; they are folded at the next start",
				"applied", s.feed.applied.Load(), "last", s.events.Last())
		}
		s.abortErr(&err)
		s.closeErr = err
	})
	return s.closeErr
}

func deadline(ctx context.Context, d time.Duration) time.Time {
	if t, ok := ctx.Deadline(); ok {
		return t
	}
	return time.Now().Add(d)
}

// abort stops what Open started, after a failed Open.
func (s *Service) abort() {
	if s.engine != nil {
		s.engine.Close(context.Background())
	}
	var err error
	s.abortErr(&err)
}

// abortErr stops the subscribers and closes the log and the timeline,
// keeping the first error in *err.
func (s *Service) abortErr(err *error) {
	s.subCancel()
	s.subs.Wait()
	if s.closeLog != nil {
		if e := s.closeLog(); e != nil && *err == nil {
			*err = e
		}
	}
	if s.timeline != nil {
		if e := s.timeline.Close(); e != nil && *err == nil {
			*err = e
		}
	}
}

// Engine is the series engine (reads: detect, series, what-if).
func (s *Service) Engine() *series.Engine { return s.engine }

// Peers are the peer groups.
func (s *Service) Peers() *peers.Groups { return s.peers }

// Writer is the write path every input calls.
func (s *Service) Writer() *Writer { return s.writer }

// Events is the event log: every anomaly and peer-outlier event with its
// sequence number. Subscribers read it through Cursors.
func (s *Service) Events() eventlog.Log { return s.events }

// Cursors are the subscribers' saved positions in Events (durable with a
// data directory).
func (s *Service) Cursors() eventlog.Cursors { return s.cursors }

// Recorder appends events to the log, as the engine and peers do.
func (s *Service) Recorder() anomaly.Recorder { return s.recorder }

// Timeline reads the anomaly timeline; a read sees every event appended
// before it (waiting at most Config.SyncWait for the timeline to fold
// them).
func (s *Service) Timeline() timeline.Reader { return s.feed }

// Snapshots is the baseline snapshotter (off without a data directory).
func (s *Service) Snapshots() *Snapshots { return &s.snaps }

// Ingester is the engine's read side with the Writer as its Ingest: what
// the API is given as its engine.
type Ingester struct {
	*series.Engine
	W *Writer
}

// Ingest implements api.Ingester through the Writer.
func (i Ingester) Ingest(ctx context.Context, samples []anomaly.Sample) (anomaly.IngestResult, error) {
	return i.W.Ingest(ctx, samples)
}

// API returns the engine with Ingest going through the Writer.
func (s *Service) API() Ingester { return Ingester{Engine: s.engine, W: s.writer} }
