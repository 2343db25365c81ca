package series

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/models"
)

// Engine defaults.
const (
	// DefaultQueueDepth is the number of chunks of batches a shard's queue
	// holds (Options.QueueDepth).
	DefaultQueueDepth = 16
	// DefaultMaxSeries is the live series cap when Options.MaxSeries is 0.
	DefaultMaxSeries = 1_000_000
	// DefaultEnqueueTimeout is how long Ingest waits for room in a full
	// shard queue before it rejects that shard's points as overloaded.
	DefaultEnqueueTimeout = 50 * time.Millisecond
)

// EventSink receives anomaly timeline events. Record is called from the
// shard goroutines, concurrently and without any engine lock held, so
// implementations must be safe for concurrent use. Events of one series
// arrive in order. Record should return quickly: a slow sink holds up its
// shard, whose queue then fills, and Ingest answers CodeOverloaded.
type EventSink = anomaly.Recorder

// Options configures an Engine. The zero value is usable: every zero field
// takes the default named in its comment.
type Options struct {
	// Shards is the number of shards, each served by one goroutine.
	// Default runtime.GOMAXPROCS(0).
	Shards int
	// Appliers is the number of shards that apply points at once, the
	// others waiting for a turn with their lock released (appliers.go).
	// 0, or at least Shards: no bound. Fewer than the cores keeps a core
	// idle for reads (`detector serve --apply-turns`).
	Appliers int
	// QueueDepth is the number of chunks of batches each shard's queue
	// holds. A batch of up to 1,024 points is one chunk; a larger one is
	// handed over in up to 8 chunks of at least 1,024 points, the shards
	// applying one while Ingest works out the identity of the next.
	// Default DefaultQueueDepth.
	QueueDepth int
	// MaxSeries caps the live series. 0 means DefaultMaxSeries, a negative
	// value means no cap. The cap is split evenly over the shards (at least
	// one series per shard); a shard whose share is full evicts its least
	// recently updated series to make room for a new one.
	MaxSeries int
	// IdleTimeout evicts series that got no point for this long (engine
	// clock). 0 never evicts for idleness.
	IdleTimeout time.Duration
	// SweepInterval is how often idle series are looked for. Default
	// IdleTimeout/4, at least 1s and at most 1m.
	SweepInterval time.Duration
	// EnqueueTimeout bounds how long one Ingest call waits for room in full
	// shard queues in total. Default DefaultEnqueueTimeout.
	EnqueueTimeout time.Duration
	// Limits bounds series keys; zero fields take DefaultLimits.
	Limits Limits
	// Model is the model configuration shared by every series. The zero
	// value means models.DefaultConfig(); any other value must validate.
	Model models.Config
	// FirstAnomalyID is the id given to the first anomaly opened (to
	// continue a persisted timeline). Default 1.
	FirstAnomalyID anomaly.ID
	// Logger receives operational messages. Default: discard.
	Logger *slog.Logger
	// Registerer receives the engine's metrics. nil registers nothing.
	Registerer prometheus.Registerer
	// Events receives anomaly timeline events. nil discards them.
	Events EventSink
	// Verdicts, when set, is handed the verdicts of every accepted point of
	// each Ingest call (batch order), on the calling goroutine after the
	// shards are done and before Ingest returns. It owns the slice. It must
	// not block: hand the slice off or drop it (the InfluxDB verdict sink
	// copies into a bounded buffer). nil builds no per-point verdicts.
	Verdicts func([]anomaly.Verdict)
	// NoDataAfter opens a no-data anomaly for a series that has sent no
	// point for this many times its usual step (engine clock), found by a
	// sweep every NoDataInterval (default 1 minute); 0 turns it off. See
	// nodata.go.
	NoDataAfter    float64
	NoDataInterval time.Duration
	// Now is the engine clock used for idle eviction, called once per batch
	// from the shard goroutines (so it must be safe for concurrent use).
	// Default time.Now.
	Now func() time.Time
	// ShardThread, when set, is called first on each shard goroutine,
	// before it serves its queue. `detector serve --ingest-nice` passes a
	// function that locks the goroutine to its OS thread for good and
	// lowers that thread's kernel priority, so that verdict reads preempt
	// the shards' model work (cmd/detector/ingestprio.go). With it set,
	// apply does not call runtime.Gosched at its yields: on a locked
	// thread that hands the P to another thread and back, tens of µs,
	// and the kernel shares the cores by priority instead.
	ShardThread func()
}

// Engine is the sharded in-memory store of learned series. All methods
// are safe for concurrent use.
type Engine struct {
	opts   Options
	cfg    models.Config
	limits Limits
	now    func() time.Time
	log    *slog.Logger
	events EventSink
	m      *metrics

	observer PointObserver // observe.go; nil when none

	shards []*shard
	nextID atomic.Uint64           // the last anomaly id given out
	ids    atomic.Pointer[IDSpace] // nil: ids from nextID (ids.go)
	rules  atomic.Pointer[ruleSet] // nil: no rule (rules.go)
	pool   sync.Pool               // *request

	appliers appliers // appliers.go; nil: no bound

	closeMu sync.RWMutex // held for reading while sending to shard queues
	closed  bool
	stop    chan struct{}
	workers sync.WaitGroup
}

// NewEngine validates opts, starts the shard goroutines (and the idle
// sweeper when IdleTimeout > 0) and registers the metrics. Call Close to
// stop them.
func NewEngine(opts Options) (*Engine, error) {
	if opts.Shards <= 0 {
		opts.Shards = runtime.GOMAXPROCS(0)
	}
	if opts.QueueDepth <= 0 {
		opts.QueueDepth = DefaultQueueDepth
	}
	if opts.MaxSeries == 0 {
		opts.MaxSeries = DefaultMaxSeries
	}
	if opts.IdleTimeout < 0 {
		return nil, errors.New("series: idle timeout must not be negative")
	}
	if opts.SweepInterval <= 0 {
		opts.SweepInterval = min(max(opts.IdleTimeout/4, time.Second), time.Minute)
	}
	if !(opts.NoDataAfter >= 0) || opts.NoDataInterval < 0 {
		return nil, errors.New("series: no-data multiple and interval must not be negative")
	}
	if opts.NoDataInterval == 0 {
		opts.NoDataInterval = time.Minute
	}
	if opts.EnqueueTimeout <= 0 {
		opts.EnqueueTimeout = DefaultEnqueueTimeout
	}
	if reflect.ValueOf(opts.Model).IsZero() {
		opts.Model = models.DefaultConfig()
	}
	if err := opts.Model.Validate(); err != nil {
		return nil, fmt.Errorf("series: model config: %w", err)
	}
	if opts.FirstAnomalyID == 0 {
		opts.FirstAnomalyID = 1
	}
	if opts.Limits.MaxKeyLen > MaxKeyLenBound {
		return nil, fmt.Errorf("series: key length limit %d is above %d, the longest key a snapshot holds", opts.Limits.MaxKeyLen, MaxKeyLenBound)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	e := &Engine{
		opts:   opts,
		cfg:    opts.Model,
		limits: opts.Limits.withDefaults(),
		now:    opts.Now,
		log:    opts.Logger,
		events: opts.Events,
		stop:   make(chan struct{}),
	}
	e.appliers = newAppliers(opts.Appliers, opts.Shards)
	e.nextID.Store(uint64(opts.FirstAnomalyID) - 1)
	e.shards = make([]*shard, opts.Shards)
	for i := range e.shards {
		capacity := 0
		if opts.MaxSeries > 0 {
			capacity = opts.MaxSeries / opts.Shards
			if i < opts.MaxSeries%opts.Shards {
				capacity++
			}
			capacity = max(capacity, 1)
		}
		sh, err := newShard(e, i, opts.QueueDepth, capacity)
		if err != nil {
			return nil, err
		}
		e.shards[i] = sh
	}
	m, err := newMetrics(e, opts.Registerer)
	if err != nil {
		return nil, err
	}
	e.m = m
	for _, sh := range e.shards {
		e.workers.Add(1)
		go func() {
			defer e.workers.Done()
			if opts.ShardThread != nil {
				opts.ShardThread()
			}
			sh.run()
		}()
	}
	if opts.IdleTimeout > 0 {
		e.workers.Add(1)
		go func() {
			defer e.workers.Done()
			e.sweeper()
		}()
	}
	e.startNoData()
	e.log.Debug("series engine started", "shards", opts.Shards, "queue_depth", opts.QueueDepth,
		"max_series", opts.MaxSeries, "idle_timeout", opts.IdleTimeout)
	return e, nil
}

// ModelConfig returns the model configuration every series uses.
func (e *Engine) ModelConfig() models.Config { return e.cfg }

// Limits returns the series key limits in force (defaults filled in).
func (e *Engine) Limits() Limits { return e.limits }

// shardOf returns the shard that owns hash h.
func (e *Engine) shardOf(h uint64) *shard { return e.shards[h%uint64(len(e.shards))] }

// Close stops accepting points (Ingest then fails with CodeUnavailable),
// lets every shard apply the batches already queued, and stops the
// goroutines. It returns when they have stopped or when ctx is done,
// whichever is first. Reads keep working on the final state. Close may be
// called more than once.
func (e *Engine) Close(ctx context.Context) error {
	e.closeMu.Lock()
	if !e.closed {
		e.closed = true
		close(e.stop)
		for _, sh := range e.shards {
			close(sh.in)
		}
	}
	e.closeMu.Unlock()
	done := make(chan struct{})
	go func() {
		e.workers.Wait()
		close(done)
	}()
	select {
	case <-done:
		e.log.Info("series engine stopped", "series", e.Stats().Series)
		return nil
	case <-ctx.Done():
		queued := 0
		for _, sh := range e.shards {
			queued += len(sh.in)
		}
		return fmt.Errorf("series: close: %d batches still queued: %w", queued, ctx.Err())
	}
}

// Stats is a point-in-time view of the engine.
type Stats struct {
	Series      int          `json:"series"`
	EvictedLRU  uint64       `json:"evicted_lru"`
	EvictedIdle uint64       `json:"evicted_idle"`
	Shards      []ShardStats `json:"shards"`
}

// ShardStats describes one shard.
type ShardStats struct {
	Series        int `json:"series"`
	QueueDepth    int `json:"queue_depth"`    // batches waiting
	QueueCapacity int `json:"queue_capacity"` // batches the queue holds
	MaxSeries     int `json:"max_series"`     // 0 means no cap
}

// Stats returns the live series and the queue depth of every shard. It
// takes no lock.
func (e *Engine) Stats() Stats {
	st := Stats{Shards: make([]ShardStats, len(e.shards))}
	for i, sh := range e.shards {
		n := int(sh.live.Load())
		st.Series += n
		st.EvictedLRU += sh.evictedLRU.Load()
		st.EvictedIdle += sh.evictedIdle.Load()
		st.Shards[i] = ShardStats{Series: n, QueueDepth: len(sh.in), QueueCapacity: cap(sh.in), MaxSeries: sh.capacity}
	}
	return st
}

// Sweep evicts every series idle for longer than Options.IdleTimeout now,
// and returns how many it evicted. The background sweeper calls it every
// SweepInterval; it is exported for tests and tools. It waits for the
// shards (behind their queued batches) or for ctx.
func (e *Engine) Sweep(ctx context.Context) (int, error) {
	if e.opts.IdleTimeout <= 0 {
		return 0, nil
	}
	return e.sweepShards(ctx, 0)
}

// sweepShards hands every shard one sweep task (idle eviction, or with
// noData > 0 the no-data sweep at that multiple of the step), behind the
// batches already queued, and adds up the series each one handled. It
// waits for the shards or for ctx.
func (e *Engine) sweepShards(ctx context.Context, noData float64) (int, error) {
	res := make(chan int, len(e.shards))
	e.closeMu.RLock()
	if e.closed {
		e.closeMu.RUnlock()
		return 0, anomaly.Errorf(anomaly.CodeUnavailable, "series engine is shut down")
	}
	sent := 0
	for _, sh := range e.shards {
		select {
		case sh.in <- task{sweep: res, noData: noData}:
			sent++
		case <-ctx.Done():
		}
	}
	e.closeMu.RUnlock()
	total := 0
	for range sent {
		select {
		case n := <-res:
			total += n
		case <-ctx.Done():
			return total, ctx.Err()
		}
	}
	return total, ctx.Err()
}

// sweeper asks every shard for an idle sweep each SweepInterval; a shard
// whose queue is full is skipped this round.
func (e *Engine) sweeper() {
	t := time.NewTicker(e.opts.SweepInterval)
	defer t.Stop()
	res := make(chan int, len(e.shards))
	for {
		select {
		case <-e.stop:
			return
		case <-t.C:
		}
		e.closeMu.RLock()
		if e.closed {
			e.closeMu.RUnlock()
			return
		}
		for _, sh := range e.shards {
			if !sh.sweepQueued.CompareAndSwap(false, true) {
				continue // the previous round's sweep is still queued
			}
			select {
			case sh.in <- task{sweep: res, background: true}:
			default:
				sh.sweepQueued.Store(false)
			}
		}
		e.closeMu.RUnlock()
		// Drop the counts; shards never block on res (they send without
		// waiting), and at most one background sweep per shard is queued.
		for len(res) > 0 {
			<-res
		}
	}
}

// NextAnomalyID hands out the next anomaly id from the engine's sequence,
// so that other sources of anomalies (peer outliers) share one id space
// with point anomalies. Safe for concurrent use.
func (e *Engine) NextAnomalyID() anomaly.ID { return anomaly.ID(e.nextID.Add(1)) }
