package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/peers"
	"github.com/anomalyd/detector/timeline"
)

// Defaults of Options.
const (
	DefaultRetention         = 30 * 24 * time.Hour
	DefaultFlushInterval     = 100 * time.Millisecond
	DefaultFlushAnomalies    = 1024
	DefaultMaxPending        = 1 << 16
	DefaultRetentionInterval = time.Minute
	DefaultOpenTimeout       = time.Second
)

// FileName is the name of the database file in the data directory.
const FileName = "detector.db"

// schemaVersion is the layout of the buckets; Open refuses other versions.
const schemaVersion = 1

// Bucket and meta key names.
var (
	bucketAnomalies  = []byte("anomalies")
	bucketByStart    = []byte("by_start")
	bucketBySeries   = []byte("by_series")
	bucketByResolved = []byte("by_resolved")
	bucketMeta       = []byte("meta")
	bucketRules      = []byte("peer_rules")

	metaSchema = []byte("schema")
	metaMaxID  = []byte("max_id")
)

// Options configures a Store. Zero fields take the defaults named.
type Options struct {
	// Retention is how long a resolved anomaly is kept after its
	// resolution was recorded; default DefaultRetention, negative keeps
	// resolved anomalies until the count bound removes them.
	Retention time.Duration
	// MaxAnomalies bounds the anomalies stored; beyond it the oldest
	// resolved ones (by start time) are deleted. Open anomalies are never
	// deleted. Default timeline.DefaultMaxAnomalies; negative: no bound.
	MaxAnomalies int
	// FlushInterval is the longest an event waits in memory before it is
	// written and synced; default DefaultFlushInterval. It is the loss
	// window of a crash.
	FlushInterval time.Duration
	// FlushAnomalies starts a write early when this many anomalies have
	// unwritten changes; default DefaultFlushAnomalies.
	FlushAnomalies int
	// MaxPending bounds the anomalies with unwritten changes. When it is
	// reached (the disk is slow or failing), events that would open a new
	// anomaly are dropped and counted; changes to anomalies already held
	// are always kept. Default DefaultMaxPending.
	MaxPending int
	// RetentionInterval is how often retention runs; default
	// DefaultRetentionInterval. It also runs on Open.
	RetentionInterval time.Duration
	// OpenTimeout is how long Open waits for the file lock held by another
	// process; default DefaultOpenTimeout.
	OpenTimeout time.Duration
	// Logger; default slog.Default().
	Logger *slog.Logger
	// Registerer for the store's metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// Now is the wall clock, for retention; default time.Now.
	Now func() time.Time
}

func (o *Options) defaults() {
	if o.Retention == 0 {
		o.Retention = DefaultRetention
	}
	if o.MaxAnomalies == 0 {
		o.MaxAnomalies = timeline.DefaultMaxAnomalies
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = DefaultFlushInterval
	}
	if o.FlushAnomalies <= 0 {
		o.FlushAnomalies = DefaultFlushAnomalies
	}
	if o.MaxPending <= 0 {
		o.MaxPending = DefaultMaxPending
	}
	if o.RetentionInterval <= 0 {
		o.RetentionInterval = DefaultRetentionInterval
	}
	if o.OpenTimeout <= 0 {
		o.OpenTimeout = DefaultOpenTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// entry is an anomaly held in memory: open, or with changes not yet
// written.
type entry struct {
	record
	ver    uint64 // bumped by every change
	dirty  bool   // in Store.dirty
	stored bool   // some version of it is in the database
}

// Store is the persistent anomaly timeline and the peer rule list, kept in
// one bbolt file. It implements timeline.Recorder, timeline.Reader and
// peers.RuleStore, and is safe for concurrent use.
//
// Record folds the event into memory under one mutex and returns: open
// anomalies and anomalies with unwritten changes live in memory; one
// background goroutine writes the changed ones every FlushInterval (or
// sooner when FlushAnomalies are pending) in one transaction, synced to
// disk, and then forgets the resolved ones. Query and Get read the
// database and overlay the in-memory entries, so they see every event
// recorded before the call.
type Store struct {
	db   *bolt.DB
	path string
	opts Options
	log  *slog.Logger

	mu   sync.RWMutex
	live map[anomaly.ID]*entry
	// livePeak is the largest len(live) since live was last rebuilt: Go
	// maps do not shrink, and Query walks the whole map.
	livePeak int
	dirty    []*entry
	spare    []*entry // the other buffer of dirty
	maxID    anomaly.ID
	closed   bool

	kick      chan struct{}
	syncReq   chan chan error
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error

	// Owned by the writer goroutine (and Open before it starts).
	stored      int // records in the anomalies bucket
	storedMaxID anomaly.ID
	buf         []byte
	// Reports of dropped events, at most one per 10 s.
	droppedLogged uint64
	dropLoggedAt  time.Time

	// maxDur is the longest duration (end - start, nanoseconds) of any
	// resolved anomaly written; Query uses it to stop early with Since.
	// Stored by the writer before the commit that makes such an anomaly
	// visible.
	maxDur atomic.Int64

	stats stats
}

var (
	_ timeline.Timeline = (*Store)(nil)
	_ peers.RuleStore   = (*Store)(nil)
)

// Open opens (creating when absent) the store in the file at path, loads
// the open anomalies, enforces retention and starts the writer. A file
// locked by another process gives an error after opts.OpenTimeout; a file
// that is not a readable store gives an error naming it, never a panic.
func Open(path string, opts Options) (*Store, error) {
	opts.defaults()
	db, err := openBolt(path, &bolt.Options{Timeout: opts.OpenTimeout, FreelistType: bolt.FreelistMapType})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("open timeline %s: the file is locked, is another detector running on this data directory? (waited %s): %w",
				path, opts.OpenTimeout, err)
		}
		return nil, fmt.Errorf("open timeline %s: not a readable timeline database (move the file aside to start empty): %w", path, err)
	}
	s := &Store{
		db:      db,
		path:    path,
		opts:    opts,
		log:     opts.Logger,
		live:    make(map[anomaly.ID]*entry),
		kick:    make(chan struct{}, 1),
		syncReq: make(chan chan error),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		stats:   stats{},
	}
	if err := s.load(); err != nil {
		db.Close()
		if errors.Is(err, errCorrupt) {
			return nil, fmt.Errorf("open timeline %s (move the file aside to start empty): %w", path, err)
		}
		return nil, fmt.Errorf("open timeline %s: %w", path, err)
	}
	start := time.Now()
	if err := s.enforceRetention(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open timeline %s: retention: %w", path, err)
	}
	s.stats.register(opts.Registerer, s)
	s.log.Info("timeline opened", "path", path, "anomalies", s.stored, "open", len(s.live),
		"max_id", s.maxID, "retention_took", time.Since(start).Round(time.Millisecond))
	go s.run()
	return s, nil
}

// openBolt is bolt.Open with its panics on a damaged file (bbolt panics
// on some invalid pages, and a page beyond the end of a truncated file
// faults) turned into an error. After such a panic the file handle bbolt
// opened is not closed: the caller is expected to stop.
func openBolt(path string, o *bolt.Options) (db *bolt.DB, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			db, err = nil, fmt.Errorf("%w: %v", errCorrupt, p)
		}
	}()
	return bolt.Open(path, 0o600, o)
}

// check walks every page of the file once at start (bbolt's consistency
// check), so that a partly damaged file is refused at start, naming the
// damage, instead of answering 500 on the queries that reach the bad
// pages later. It costs one read of the file.
func (s *Store) check() error {
	return s.db.View(func(tx *bolt.Tx) error {
		var first error
		for err := range tx.Check() { // drained whole: the walk runs in its own goroutine
			if first == nil {
				first = err
			}
		}
		if first != nil {
			return fmt.Errorf("%w: %v", errCorrupt, first)
		}
		return nil
	})
}

// errCorrupt wraps the failures that mean the file's content is damaged.
var errCorrupt = errors.New("damaged timeline database")

// load creates the buckets, checks the schema and the file size, counts
// the stored anomalies and loads the open ones. A fault on the mapped file
// (truncated or damaged pages) becomes an error.
func (s *Store) load() (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v", errCorrupt, p)
		}
	}()
	fi, err := os.Stat(s.path)
	if err != nil {
		return err
	}
	if err := s.check(); err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		if tx.Size() > fi.Size() {
			return fmt.Errorf("%w: file is %d bytes, its pages need %d (truncated?)", errCorrupt, fi.Size(), tx.Size())
		}
		for _, name := range [][]byte{bucketAnomalies, bucketByStart, bucketBySeries, bucketByResolved, bucketMeta, bucketRules} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("bucket %s: %w", name, err)
			}
		}
		meta := tx.Bucket(bucketMeta)
		if v := meta.Get(metaSchema); v == nil {
			if err := meta.Put(metaSchema, []byte{schemaVersion}); err != nil {
				return err
			}
		} else if len(v) != 1 || v[0] != schemaVersion {
			return fmt.Errorf("schema version %v, this build reads %d", v, schemaVersion)
		}
		if v := meta.Get(metaMaxID); v != nil {
			if len(v) != 8 {
				return fmt.Errorf("%w: max_id is %d bytes", errCorrupt, len(v))
			}
			s.storedMaxID = anomaly.ID(binary.BigEndian.Uint64(v))
		}
		recs := tx.Bucket(bucketAnomalies)
		c := tx.Bucket(bucketByStart).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			resolved, endNs, _, ok := parseIndexValue(v)
			if len(k) != len(orderKey{}) || !ok {
				return fmt.Errorf("%w: by_start entry %x", errCorrupt, k)
			}
			s.stored++
			id := orderKey(k).id()
			s.storedMaxID = max(s.storedMaxID, id)
			if resolved {
				startNs := int64(binary.BigEndian.Uint64(k) ^ (1 << 63))
				s.maxDur.Store(max(s.maxDur.Load(), endNs-startNs))
				continue
			}
			r, err := loadRecord(recs, id)
			if err != nil {
				return err
			}
			s.live[id] = &entry{record: r, stored: true}
		}
		s.maxID = s.storedMaxID
		return nil
	})
}

// loadRecord reads the record of an indexed anomaly; a missing or
// undecodable one is errCorrupt.
func loadRecord(recs *bolt.Bucket, id anomaly.ID) (record, error) {
	b := recs.Get(idKey(id))
	if b == nil {
		return record{}, fmt.Errorf("%w: anomaly %s is indexed but not stored", errCorrupt, id)
	}
	r, err := decodeRecord(id, b)
	if err != nil {
		return record{}, fmt.Errorf("%w: %w", errCorrupt, err)
	}
	return r, nil
}

// Record folds one event into the timeline with timeline.Opened and
// timeline.State.Fold (opened, updated, resolved; zero ids, repeated
// opens and events for anomalies not held are ignored). It never blocks
// on the disk: it takes one mutex, changes the entry in memory and marks
// it for the writer. When MaxPending anomalies already wait for the
// writer, an event that opens a new anomaly is dropped and counted in
// detector_timeline_dropped_events_total.
func (s *Store) Record(ev anomaly.Event) {
	if ev.AnomalyID == 0 {
		return
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.stats.dropped.Add(1)
		return
	}
	s.maxID = max(s.maxID, ev.AnomalyID)
	e := s.live[ev.AnomalyID]
	if ev.Kind == anomaly.EventOpened {
		if e != nil {
			s.mu.Unlock()
			return
		}
		if len(s.dirty) >= s.opts.MaxPending {
			s.mu.Unlock()
			if s.stats.dropped.Add(1) == 1 {
				s.log.Warn("timeline write queue full: dropping new anomalies", "max_pending", s.opts.MaxPending)
			}
			return
		}
		e = &entry{record: record{State: timeline.Opened(&ev)}}
		s.live[ev.AnomalyID] = e
		s.livePeak = max(s.livePeak, len(s.live))
	} else {
		if e == nil || !e.Fold(&ev) {
			s.mu.Unlock()
			if ev.Kind == anomaly.EventUpdated || ev.Kind == anomaly.EventResolved {
				s.stats.orphans.Add(1)
			}
			return
		}
		if !e.Open() {
			e.resolvedAt = s.opts.Now().UTC()
		}
	}
	e.ver++
	if !e.dirty {
		e.dirty = true
		s.dirty = append(s.dirty, e)
	}
	full := len(s.dirty) >= s.opts.FlushAnomalies
	s.mu.Unlock()
	s.stats.events.Add(1)
	if full {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
}

// MaxID returns the highest anomaly id the store has seen: stored, pending
// or deleted by retention since. Ids handed out after a restart should
// start above it.
func (s *Store) MaxID() anomaly.ID {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.maxID
}

// Rules returns the store as the peers' rule store.
func (s *Store) Rules() peers.RuleStore { return s }

// Close writes every pending change, stops the writer and closes the file.
// Events recorded after Close are dropped. Close is idempotent.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		// Refuse new events first, so that the final write holds them all.
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		close(s.stop)
		<-s.done
		s.mu.RLock()
		pending := len(s.dirty)
		s.mu.RUnlock()
		if pending > 0 {
			// The final flush failed; it was logged.
			s.closeErr = fmt.Errorf("close timeline %s: %d anomalies could not be written", s.path, pending)
		}
		if err := s.db.Close(); err != nil && s.closeErr == nil {
			s.closeErr = fmt.Errorf("close timeline %s: %w", s.path, err)
		}
	})
	return s.closeErr
}

// run is the writer goroutine.
func (s *Store) run() {
	defer close(s.done)
	flush := time.NewTicker(s.opts.FlushInterval)
	defer flush.Stop()
	retain := time.NewTicker(s.opts.RetentionInterval)
	defer retain.Stop()
	for {
		select {
		case <-s.stop:
			s.flush()
			return
		case <-flush.C:
			s.flush()
		case <-s.kick:
			s.flush()
		case reply := <-s.syncReq:
			reply <- s.flush()
		case <-retain.C:
			if err := s.enforceRetention(); err != nil {
				s.log.Error("timeline retention failed", "err", err)
			}
		}
	}
}

// Sync writes every event recorded before the call and returns when they
// are on disk, or with the write's error, or with ctx's error.
func (s *Store) Sync(ctx context.Context) error {
	reply := make(chan error, 1)
	select {
	case s.syncReq <- reply:
	case <-s.done:
		return errClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// item is one entry's state taken for a write.
type item struct {
	e   *entry
	r   record
	ver uint64
	new bool
}

// flush writes the entries with unwritten changes in one synced
// transaction. On failure they stay pending and the next flush retries.
func (s *Store) flush() error {
	s.mu.Lock()
	batch := s.dirty
	s.dirty, s.spare = s.spare[:0], nil
	maxID := s.maxID
	items := make([]item, len(batch))
	for i, e := range batch {
		items[i] = item{e: e, r: e.record, ver: e.ver, new: !e.stored}
		e.dirty = false
	}
	s.mu.Unlock()
	clear(batch)
	if dropped := s.stats.dropped.Load(); dropped != s.droppedLogged && time.Since(s.dropLoggedAt) >= 10*time.Second {
		s.droppedLogged, s.dropLoggedAt = dropped, time.Now()
		s.log.Warn("timeline dropped events (write queue full or closed)", "dropped_total", dropped)
	}
	if len(items) == 0 && maxID == s.storedMaxID {
		s.spare = batch[:0]
		return nil
	}
	for i := range items {
		if r := &items[i].r; !r.Open() {
			if d := r.End.Sub(r.A.StartedAt).Nanoseconds(); d > s.maxDur.Load() {
				s.maxDur.Store(d)
			}
		}
	}
	start := time.Now()
	added := 0
	dup := make([]bool, len(items))
	err := s.db.Update(func(tx *bolt.Tx) error {
		added = 0
		arena := s.buf[:0]
		defer func() { s.buf = arena[:0] }()
		recs := tx.Bucket(bucketAnomalies)
		byStart, bySeries, byResolved := tx.Bucket(bucketByStart), tx.Bucket(bucketBySeries), tx.Bucket(bucketByResolved)
		for i := range items {
			it := &items[i]
			id := it.r.A.ID
			key := idKey(id)
			if it.new && recs.Get(key) != nil {
				dup[i] = true // a repeated open of an anomaly already stored
				continue
			}
			// bbolt keeps the slices until the commit: each value gets
			// its own bytes of the arena, never overwritten in this
			// transaction.
			n := len(arena)
			arena = appendRecord(arena, &it.r)
			if err := recs.Put(key, arena[n:len(arena):len(arena)]); err != nil {
				return err
			}
			ok := makeOrderKey(it.r.A.StartedAt, id)
			iv := makeIndexValue(&it.r)
			if err := byStart.Put(ok[:], iv[:]); err != nil {
				return err
			}
			n = len(arena)
			arena = append(seriesPrefix(arena, it.r.A.Series), ok[:]...)
			sk := arena[n:len(arena):len(arena)]
			if err := bySeries.Put(sk, iv[:]); err != nil {
				return err
			}
			if !it.r.Open() {
				rk := makeOrderKey(it.r.resolvedAt, id)
				if err := byResolved.Put(rk[:], nil); err != nil {
					return err
				}
			}
			if it.new {
				added++
			}
		}
		if maxID > s.storedMaxID {
			if err := tx.Bucket(bucketMeta).Put(metaMaxID, binary.BigEndian.AppendUint64(nil, uint64(maxID))); err != nil {
				return err
			}
		}
		return nil
	})
	s.stats.flushSeconds.Observe(time.Since(start).Seconds())
	s.mu.Lock()
	if err != nil {
		// Keep them pending; later changes may have queued some already.
		for _, it := range items {
			if !it.e.dirty && s.live[it.r.A.ID] == it.e {
				it.e.dirty = true
				s.dirty = append(s.dirty, it.e)
			}
		}
	} else {
		for i, it := range items {
			if dup[i] {
				if s.live[it.r.A.ID] == it.e {
					delete(s.live, it.r.A.ID)
				}
				continue
			}
			it.e.stored = true
			if !it.r.Open() && it.e.ver == it.ver && s.live[it.r.A.ID] == it.e {
				delete(s.live, it.r.A.ID)
			}
		}
		if s.livePeak > 4096 && len(s.live) < s.livePeak/4 {
			s.live = maps.Clone(s.live)
			s.livePeak = len(s.live)
		}
	}
	s.mu.Unlock()
	s.spare = batch[:0]
	if err != nil {
		s.stats.batchErrors.Add(1)
		s.log.Error("timeline write failed; will retry", "anomalies", len(items), "err", err)
		return fmt.Errorf("write timeline %s: %w", s.path, err)
	}
	s.stats.batches.Add(1)
	s.stats.written.Add(uint64(len(items)))
	s.storedMaxID = max(s.storedMaxID, maxID)
	s.stored += added
	s.stats.stored.Store(int64(s.stored))
	if s.opts.MaxAnomalies > 0 && s.stored > s.opts.MaxAnomalies {
		if err := s.enforceCount(); err != nil {
			s.log.Error("timeline retention failed", "err", err)
		}
	}
	return nil
}

// Get returns the anomaly with the given id, or an *anomaly.Error with
// CodeNotFound.
func (s *Store) Get(ctx context.Context, id anomaly.ID) (a anomaly.Anomaly, err error) {
	if err := ctx.Err(); err != nil {
		return anomaly.Anomaly{}, err
	}
	s.mu.RLock()
	if e := s.live[id]; e != nil {
		a = e.Anomaly()
		s.mu.RUnlock()
		return a, nil
	}
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return anomaly.Anomaly{}, errClosed
	}
	found := false
	err = s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAnomalies).Get(idKey(id))
		if b == nil {
			return nil
		}
		r, err := decodeRecord(id, b)
		if err != nil {
			return err
		}
		a, found = r.Anomaly(), true
		return nil
	})
	if err != nil {
		return anomaly.Anomaly{}, err
	}
	if !found {
		return anomaly.Anomaly{}, anomaly.Errorf(anomaly.CodeNotFound, "anomaly %s is not on the timeline", id)
	}
	return a, nil
}

var errClosed = &anomaly.Error{Code: anomaly.CodeUnavailable, Index: -1, Message: "the timeline is closed"}

// view runs fn in a read transaction; a failure, or a fault on a damaged
// file, becomes an internal error.
func (s *Store) view(fn func(tx *bolt.Tx) error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			err = &anomaly.Error{Code: anomaly.CodeInternal, Index: -1, Message: "reading the timeline failed",
				Err: fmt.Errorf("%w: %v", errCorrupt, p)}
		}
	}()
	if err := s.db.View(fn); err != nil {
		var ae *anomaly.Error
		if errors.As(err, &ae) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		return &anomaly.Error{Code: anomaly.CodeInternal, Index: -1, Message: "reading the timeline failed", Err: err}
	}
	return nil
}
