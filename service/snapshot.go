package service

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

// SnapshotDir is the directory under the data directory that holds the
// snapshot generations.
const SnapshotDir = "snapshots"

// restoreBatch is the number of series decoded before they are handed to
// the engine in one Import.
const restoreBatch = 4096

// Snapshots writes the engine's series to the data directory on an
// interval and at shutdown. With no data directory it does nothing. The
// Service calls restore, then start, then stop, each once; Write is safe
// for concurrent use.
type Snapshots struct {
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

func (s *Snapshots) register(reg prometheus.Registerer) error {
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
// Models of an older encoding version are migrated as they load. A
// generation that is damaged (checksum, truncation, undecodable model) is
// reported, set aside with a .corrupt suffix, and the next older one is
// tried; with none usable the engine starts empty. A data directory that
// cannot be opened, and a snapshot written by a newer release (file
// layout or model encoding), are errors: the service does not start.
func (sv *Service) restore() error {
	s := &sv.snaps
	s.interval = sv.cfg.SnapshotInterval
	s.log = sv.log.With("component", "snapshot")
	s.engine = sv.engine
	if sv.cfg.DataDir == "" {
		s.log.Info("no data directory: baselines are kept in memory only and lost on restart")
		return nil
	}
	if err := s.register(sv.reg); err != nil {
		return err
	}
	store, err := snapshot.OpenStore(filepath.Join(sv.cfg.DataDir, SnapshotDir), snapshot.DefaultKeep)
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
		if errors.Is(err, models.ErrNewerEncoding) || errors.Is(err, snapshot.ErrNewerFormat) {
			// Not damaged: starting empty would overwrite the newer
			// release's baselines with nothing.
			return fmt.Errorf("snapshot %s was written by a newer release of the detector (%w); run that release, "+
				"or move %s aside to start with empty baselines", g.Path, err, store.Dir())
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
func (s *Snapshots) load(g snapshot.Generation) error {
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
	if err == nil {
		err = models.CheckVersion(h.ModelVersion)
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
func (sv *Service) startSnapshots() {
	s := &sv.snaps
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
			_, _ = s.Write(context.Background(), false)
		}
	}()
	s.log.Info("periodic snapshots", "interval", s.interval, "dir", s.store.Dir())
}

// stopSnapshots stops the periodic snapshots and writes the final one. It
// is called once the engine has drained its queues, so the final snapshot
// holds every acknowledged point. A second call does nothing.
func (sv *Service) stopSnapshots(ctx context.Context) error {
	s := &sv.snaps
	if s.store == nil || s.stopped {
		return nil
	}
	s.stopped = true
	if s.stop != nil {
		close(s.stop)
		<-s.done
	}
	_, err := s.Write(ctx, true)
	return err
}

// SnapshotResult describes one written snapshot.
type SnapshotResult struct {
	Gen      snapshot.Generation
	Series   uint64
	Took     time.Duration
	MaxPause time.Duration
}

// Off turns the snapshots off: no periodic and no final snapshot (for a
// copy of a service that must not write to its data directory).
func (s *Snapshots) Off() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.store = nil
}

// Write takes one snapshot of the engine and commits it as the newest
// generation; final only changes the log level of its report.
func (s *Snapshots) Write(ctx context.Context, final bool) (SnapshotResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	res, err := s.writeLocked(ctx)
	if err != nil {
		s.failures.Inc()
		s.log.Warn("snapshot failed; the previous one stays the newest", "reason", err.Error())
		return res, err
	}
	s.duration.Observe(res.Took.Seconds())
	s.size.Set(float64(res.Gen.Size))
	s.series.Set(float64(res.Series))
	s.pause.Set(res.MaxPause.Seconds())
	s.lastSuccess.Set(float64(time.Now().UnixNano()) / 1e9)
	level := slog.LevelDebug
	if final {
		level = slog.LevelInfo
	}
	s.log.Log(ctx, level, "snapshot written", "file", res.Gen.Path, "series", res.Series, "bytes", res.Gen.Size,
		"took", res.Took.Round(time.Millisecond), "max_pause", res.MaxPause, "final", final)
	return res, nil
}

func (s *Snapshots) writeLocked(ctx context.Context) (SnapshotResult, error) {
	if s.store == nil {
		return SnapshotResult{}, errors.New("snapshots are off (no data directory)")
	}
	start := time.Now()
	w, err := s.store.Create(snapshot.Header{ModelVersion: models.EncodingVersion, Created: start})
	if err != nil {
		return SnapshotResult{}, err
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
		return SnapshotResult{}, err
	}
	if st.Unhealthy > 0 {
		s.log.Error("series left out of the snapshot: their model holds a non-finite value",
			"series", st.Unhealthy, "keys", st.UnhealthyKeys)
	}
	w.SetLastAnomalyID(uint64(s.engine.LastAnomalyID()))
	g, err := w.Commit()
	if err != nil {
		return SnapshotResult{}, err
	}
	return SnapshotResult{Gen: g, Series: w.Series(), Took: time.Since(start), MaxPause: st.MaxPause}, nil
}
