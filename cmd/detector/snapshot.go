package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/models"
	"github.com/anomalyd/detector/series"
	"github.com/anomalyd/detector/snapshot"
)

// snapshotDir is the directory under --data-dir that holds the snapshot
// generations.
const snapshotDir = "snapshots"

// restoreBatch is the number of series decoded before they are handed to
// the engine in one Import.
const restoreBatch = 4096

// modelVersion is the encoding version of the models this build writes
// and reads (the first byte of every encoding).
var modelVersion = func() uint8 {
	var m models.Model
	return m.AppendBinary(nil)[0]
}()

// snapshotter writes the engine's series to the data directory on an
// interval and at shutdown. With no data directory it does nothing. Its
// methods are called by Main (restore, then start, then stop, each once);
// write is safe for concurrent use.
type snapshotter struct {
	store    *snapshot.Store // nil: snapshots are off
	interval time.Duration
	log      *slog.Logger
	engine   *series.Engine

	mu      sync.Mutex // one snapshot at a time
	stop    chan struct{}
	done    chan struct{}
	stopped bool

	duration    prometheus.Histogram
	size        prometheus.Gauge
	series      prometheus.Gauge
	pause       prometheus.Gauge
	lastSuccess prometheus.Gauge
	failures    prometheus.Counter
	restored    prometheus.Gauge
	restoreTime prometheus.Gauge
}

func (s *snapshotter) register(reg prometheus.Registerer) error {
	s.duration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "detector_snapshot_duration_seconds",
		Help:    "Time to write one baseline snapshot (export, encode, write, fsync, rename).",
		Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 14), // 1ms .. 2.5min
	})
	s.size = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "detector_snapshot_size_bytes",
		Help: "Size of the last snapshot written.",
	})
	s.series = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "detector_snapshot_series",
		Help: "Series in the last snapshot written.",
	})
	s.pause = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "detector_snapshot_max_pause_seconds",
		Help: "Longest time the last snapshot held one shard's lock (ingest into that shard waited at most this long).",
	})
	s.lastSuccess = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "detector_snapshot_last_success_timestamp_seconds",
		Help: "Unix time at which the last successful snapshot was committed.",
	})
	s.failures = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "detector_snapshot_failures_total",
		Help: "Snapshots that failed (the previous generation stays the newest).",
	})
	s.restored = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "detector_snapshot_restored_series",
		Help: "Series restored from a snapshot at start.",
	})
	s.restoreTime = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "detector_snapshot_restore_seconds",
		Help: "Time taken at start to verify and load the snapshot.",
	})
	for _, c := range []prometheus.Collector{s.duration, s.size, s.series, s.pause, s.lastSuccess, s.failures, s.restored, s.restoreTime} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("snapshot metrics: %w", err)
		}
	}
	return nil
}

// restore loads the newest good snapshot into the engine before serving.
// A generation that is damaged (checksum, truncation, undecodable model) is
// reported, set aside with a .corrupt suffix, and the next older one is
// tried; with none usable the engine starts empty. Only a data directory
// that cannot be opened is an error.
func (m *Main) restore() error {
	s := &m.snaps
	s.interval = m.cfg.SnapshotInterval
	s.log = m.log.With("component", "snapshot")
	s.engine = m.engine
	if m.cfg.Persist.DataDir == "" {
		s.log.Info("no data directory: baselines are kept in memory only and lost on restart")
		return nil
	}
	if err := s.register(m.reg); err != nil {
		return err
	}
	store, err := snapshot.OpenStore(filepath.Join(m.cfg.Persist.DataDir, snapshotDir), snapshot.DefaultKeep)
	if err != nil {
		return err
	}
	s.store = store
	gens, err := store.Generations()
	if err != nil {
		return err
	}
	if len(gens) == 0 {
		s.log.Info("no snapshot found: starting with empty baselines", "dir", store.Dir())
		return nil
	}
	for _, g := range gens {
		err := s.load(g)
		if err == nil {
			return nil
		}
		if errors.Is(err, errPartialRestore) {
			return err
		}
		s.log.Warn("snapshot unusable, trying the previous generation", "file", g.Path, "reason", err.Error())
		if errors.Is(err, snapshot.ErrCorrupt) || errors.Is(err, models.ErrEncoding) {
			if qerr := store.Quarantine(g); qerr != nil {
				s.log.Warn("could not set the damaged snapshot aside", "file", g.Path, "reason", qerr.Error())
			} else {
				s.log.Warn("damaged snapshot set aside", "file", g.Path+snapshot.CorruptSuffix)
			}
		}
	}
	s.log.Warn("no usable snapshot: starting with empty baselines", "generations", len(gens))
	return nil
}

// errPartialRestore marks a failure after series were loaded: the service
// must not start with half a state.
var errPartialRestore = errors.New("snapshot restore failed after loading part of the state")

// load verifies generation g as a whole (checksums, structure, every
// model's encoding), then reads it again and loads it. Both passes read and
// checksum in one goroutine and decode (and import) in another.
func (s *snapshotter) load(g snapshot.Generation) error {
	start := time.Now()
	var scratch models.Model
	n, bad := 0, 0
	var firstBad error
	h, err := readPipelined(g.Path, false, func(b *rawBatch) error {
		for i := range b.states {
			if err := scratch.UnmarshalBinary(b.model(i)); err != nil {
				// One bad model costs its series, not the file.
				if bad++; firstBad == nil {
					firstBad = fmt.Errorf("record %d: %w", n+i, err)
				}
			}
		}
		n += len(b.states)
		return nil
	})
	if err == nil && n > 0 && bad == n {
		err = firstBad
	}
	if err == nil && h.ModelVersion != modelVersion {
		err = fmt.Errorf("%w: model encoding version %d, this build reads %d", models.ErrEncoding, h.ModelVersion, modelVersion)
	}
	if err != nil {
		return err
	}
	verified := time.Since(start)
	s.log.Info("restoring snapshot", "file", g.Path, "series", h.Series, "bytes", g.Size,
		"created", h.Created.Format(time.RFC3339), "verified_in", verified.Round(time.Millisecond))

	var (
		total    series.ImportStats
		done     int
		lastLog  = time.Now()
		loadFrom = time.Now()
	)
	skipped := 0
	_, err = readPipelined(g.Path, true, func(b *rawBatch) error {
		good := b.states[:0]
		for i := range b.states {
			if err := b.states[i].Model.UnmarshalBinary(b.model(i)); err != nil {
				if skipped++; skipped <= series.MaxUnhealthyKeys {
					s.log.Error("snapshot series skipped: its model does not decode", "series", b.states[i].Key, "reason", err.Error())
				}
				continue
			}
			good = append(good, b.states[i])
		}
		st, err := s.engine.Import(good)
		if err != nil {
			return err
		}
		total.Added += st.Added
		total.Replaced += st.Replaced
		total.Dropped += st.Dropped
		done += len(b.states)
		if time.Since(lastLog) >= time.Second {
			lastLog = time.Now()
			s.log.Info("restoring snapshot", "restored", done, "of", h.Series,
				"series_per_second", int(float64(done)/time.Since(loadFrom).Seconds()))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%w: %s: %w", errPartialRestore, g.Path, err)
	}
	s.engine.ReserveAnomalyIDs(anomaly.ID(h.LastAnomalyID))
	took := time.Since(start)
	s.restored.Set(float64(total.Added + total.Replaced))
	s.restoreTime.Set(took.Seconds())
	s.log.Info("snapshot restored", "file", g.Path, "series", total.Added+total.Replaced,
		"dropped", total.Dropped, "took", took.Round(time.Millisecond),
		"series_per_second", int(float64(done)/max(took.Seconds(), 1e-9)),
		"age", time.Since(h.Created).Round(time.Second))
	if skipped > 0 {
		s.log.Error("snapshot series skipped: their model does not decode; every other series was restored", "skipped", skipped)
	}
	if total.Dropped > 0 {
		s.log.Warn("snapshot series not restored: key no longer valid under the key limits, or over the series cap",
			"dropped", total.Dropped)
	}
	return nil
}

// rawBatch is a run of records copied out of a snapshot reader: the
// bookkeeping (and, when asked, the key) in states, the models still
// encoded.
type rawBatch struct {
	states []series.SeriesState
	models []byte
	ends   []int // end of each record's model in models
}

func (b *rawBatch) add(r *snapshot.Record, withKey bool) {
	st := series.SeriesState{
		LastTs:     r.LastTs,
		LastUpdate: r.LastUpdate,
		AnomalyID:  anomaly.ID(r.AnomalyID),
		LastID:     anomaly.ID(r.LastID),
		NeedPoints: r.NeedPoints,
	}
	if withKey {
		st.Key = string(r.Key)
	}
	b.states = append(b.states, st)
	b.models = append(b.models, r.Model...)
	b.ends = append(b.ends, len(b.models))
}

func (b *rawBatch) model(i int) []byte {
	from := 0
	if i > 0 {
		from = b.ends[i-1]
	}
	return b.models[from:b.ends[i]]
}

func (b *rawBatch) reset() {
	clear(b.states) // drop the keys
	b.states, b.models, b.ends = b.states[:0], b.models[:0], b.ends[:0]
}

var errStopped = errors.New("stopped")

// readPipelined reads the snapshot at path in a goroutine, restoreBatch
// records at a time, and calls fn with each batch in the calling
// goroutine, so that reading and checksumming overlap with fn's work. A
// batch is reused once fn returns. It returns the header and the first
// error of either side; the file has been read and checked to its end
// when it returns nil.
func readPipelined(path string, withKeys bool, fn func(*rawBatch) error) (snapshot.Header, error) {
	rd, err := snapshot.Open(path)
	if err != nil {
		return snapshot.Header{}, err
	}
	defer rd.Close()
	const batches = 3
	full := make(chan *rawBatch, batches)
	free := make(chan *rawBatch, batches)
	for range batches {
		free <- &rawBatch{}
	}
	quit := make(chan struct{})
	var readErr error
	go func() {
		defer close(full)
		var b *rawBatch
		send := func() error {
			select {
			case full <- b:
				b = nil
				return nil
			case <-quit:
				return errStopped
			}
		}
		readErr = snapshot.ReadAll(rd, func(r *snapshot.Record) error {
			if b == nil {
				select {
				case b = <-free:
					b.reset()
				case <-quit:
					return errStopped
				}
			}
			b.add(r, withKeys)
			if len(b.states) == restoreBatch {
				return send()
			}
			return nil
		})
		if readErr == nil && b != nil {
			readErr = send()
		}
	}()
	var fnErr error
	for b := range full {
		if fnErr == nil {
			if fnErr = fn(b); fnErr != nil {
				close(quit)
			}
		}
		free <- b
	}
	// full is closed: the reader has returned and set readErr.
	if fnErr != nil {
		return rd.Header(), fnErr
	}
	return rd.Header(), readErr
}

// startSnapshots starts the periodic snapshots.
func (m *Main) startSnapshots() {
	s := &m.snaps
	if s.store == nil || s.stop != nil {
		return
	}
	s.stop, s.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(s.done)
		t := time.NewTicker(s.interval)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
			// Failures are counted and logged by write; the next tick
			// tries again.
			_, _ = s.write(context.Background(), false)
		}
	}()
	s.log.Info("periodic snapshots", "interval", s.interval, "dir", s.store.Dir())
}

// stopSnapshots stops the periodic snapshots and writes the final one. It
// is called once the engine has drained its queues, so the final snapshot
// holds every acknowledged point. A second call does nothing.
func (m *Main) stopSnapshots(ctx context.Context) error {
	s := &m.snaps
	if s.store == nil || s.stopped {
		return nil
	}
	s.stopped = true
	if s.stop != nil {
		close(s.stop)
		<-s.done
	}
	_, err := s.write(ctx, true)
	return err
}

// snapshotResult describes one written snapshot.
type snapshotResult struct {
	gen      snapshot.Generation
	series   uint64
	took     time.Duration
	maxPause time.Duration
}

// write takes one snapshot of the engine and commits it as the newest
// generation.
func (s *snapshotter) write(ctx context.Context, final bool) (snapshotResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	res, err := s.writeLocked(ctx)
	if err != nil {
		s.failures.Inc()
		s.log.Warn("snapshot failed; the previous one stays the newest", "reason", err.Error())
		return res, err
	}
	s.duration.Observe(res.took.Seconds())
	s.size.Set(float64(res.gen.Size))
	s.series.Set(float64(res.series))
	s.pause.Set(res.maxPause.Seconds())
	s.lastSuccess.Set(float64(time.Now().UnixNano()) / 1e9)
	level := slog.LevelDebug
	if final {
		level = slog.LevelInfo
	}
	s.log.Log(ctx, level, "snapshot written", "file", res.gen.Path, "series", res.series, "bytes", res.gen.Size,
		"took", res.took.Round(time.Millisecond), "max_pause", res.maxPause, "final", final)
	return res, nil
}

func (s *snapshotter) writeLocked(ctx context.Context) (snapshotResult, error) {
	start := time.Now()
	w, err := s.store.Create(snapshot.Header{ModelVersion: modelVersion, Created: start})
	if err != nil {
		return snapshotResult{}, err
	}
	var (
		rec   snapshot.Record
		key   []byte
		model []byte
	)
	st, err := s.engine.Export(ctx, 0, func(states []series.SeriesState) error {
		for i := range states {
			ss := &states[i]
			key = append(key[:0], ss.Key...)
			model = ss.Model.AppendBinary(model[:0])
			rec = snapshot.Record{
				Key:        key,
				LastTs:     ss.LastTs,
				LastUpdate: ss.LastUpdate,
				AnomalyID:  uint64(ss.AnomalyID),
				LastID:     uint64(ss.LastID),
				NeedPoints: ss.NeedPoints,
				Model:      model,
			}
			if err := w.Add(&rec); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		w.Abort()
		return snapshotResult{}, err
	}
	if st.Unhealthy > 0 {
		s.log.Error("series left out of the snapshot: their model holds a non-finite value",
			"series", st.Unhealthy, "keys", st.UnhealthyKeys)
	}
	w.SetLastAnomalyID(uint64(s.engine.LastAnomalyID()))
	g, err := w.Commit()
	if err != nil {
		return snapshotResult{}, err
	}
	return snapshotResult{gen: g, series: w.Series(), took: time.Since(start), maxPause: st.MaxPause}, nil
}
