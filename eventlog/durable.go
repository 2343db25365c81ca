package eventlog

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/anomalyd/detector/anomaly"
)

// FileName is the durable log's file in the data directory.
const FileName = "events.db"

// Defaults of DurableOptions.
const (
	DefaultDurableRetention = 100_000
	DefaultFlushInterval    = 100 * time.Millisecond
)

// Buckets of the durable log's file.
var (
	bucketEntries = []byte("entries") // seq (8 bytes, big endian) -> event JSON
	bucketCursors = []byte("cursors") // subscriber name -> seq (8 bytes)
	bucketMeta    = []byte("meta")    // "last" -> the newest seq written (8 bytes)
	metaLast      = []byte("last")
)

// DurableOptions configure OpenDurable. Zero fields take the defaults.
type DurableOptions struct {
	// Retention is the number of newest entries kept, on disk and in
	// memory; default DefaultDurableRetention.
	Retention int
	// FlushInterval is the longest an appended entry or a saved cursor
	// waits in memory before it is written and synced (the loss window of
	// a crash); default DefaultFlushInterval.
	FlushInterval time.Duration
	// OpenTimeout is how long OpenDurable waits for a file locked by
	// another process; default 1s.
	OpenTimeout time.Duration
	// Logger; default discards.
	Logger *slog.Logger
}

// Durable is a Log kept in a bbolt file, with the subscribers' cursors
// beside it. The newest Retention entries live in a Memory ring, which
// answers Read and Wait; Append adds to the ring and to a pending list
// under one mutex and returns, and one writer goroutine writes the pending
// entries and the changed cursors every FlushInterval in one synced
// transaction, deleting entries beyond Retention. Safe for concurrent use.
//
// A clean Close loses nothing. A crash loses at most the last
// FlushInterval of entries and cursor moves; a saved cursor is never
// written beyond the newest entry written with it, so after a crash a
// subscriber sees the entries appended after the restart (whose sequence
// numbers continue from the newest written entry) and, at worst, the
// entries it handled in the lost window again.
type Durable struct {
	mem  *Memory
	db   *bolt.DB
	path string
	opts DurableOptions

	mu           sync.Mutex
	pending      []Entry
	cursors      map[string]uint64
	cursorsDirty bool
	closed       bool

	written atomic.Uint64 // newest seq on disk
	dropped atomic.Uint64 // pending entries dropped while the disk failed
	kick    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
	err     error
}

var (
	_ Log     = (*Durable)(nil)
	_ Cursors = durableCursors{}
)

// OpenDurable opens (creating when absent) the log in the file at path
// and loads its newest entries and the saved cursors.
func OpenDurable(path string, o DurableOptions) (*Durable, error) {
	if o.Retention <= 0 {
		o.Retention = DefaultDurableRetention
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = DefaultFlushInterval
	}
	if o.OpenTimeout <= 0 {
		o.OpenTimeout = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: o.OpenTimeout, FreelistType: bolt.FreelistMapType})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("open event log %s: the file is locked, is another detector running on this data directory? (waited %s): %w",
				path, o.OpenTimeout, err)
		}
		return nil, fmt.Errorf("open event log %s (move the file aside to start empty): %w", path, err)
	}
	d := &Durable{db: db, path: path, opts: o, cursors: map[string]uint64{},
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	if err := d.load(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open event log %s (move the file aside to start empty): %w", path, err)
	}
	go d.run()
	return d, nil
}

func (d *Durable) load() error {
	return d.db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketEntries, bucketCursors, bucketMeta} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		var last uint64
		if v := tx.Bucket(bucketMeta).Get(metaLast); v != nil {
			if len(v) != 8 {
				return fmt.Errorf("damaged event log: last is %d bytes", len(v))
			}
			last = binary.BigEndian.Uint64(v)
		}
		if err := tx.Bucket(bucketCursors).ForEach(func(k, v []byte) error {
			if len(v) != 8 {
				return fmt.Errorf("damaged event log: cursor %q is %d bytes", k, len(v))
			}
			d.cursors[string(k)] = binary.BigEndian.Uint64(v)
			return nil
		}); err != nil {
			return err
		}
		from := uint64(1)
		if last > uint64(d.opts.Retention) {
			from = last - uint64(d.opts.Retention) + 1
		}
		d.mem = NewMemory(d.opts.Retention, 0)
		c := tx.Bucket(bucketEntries).Cursor()
		for k, v := c.Seek(seqKey(from)); k != nil; k, v = c.Next() {
			if len(k) != 8 {
				return fmt.Errorf("damaged event log: key %x", k)
			}
			e := Entry{Seq: binary.BigEndian.Uint64(k)}
			if err := json.Unmarshal(v, &e.Event); err != nil {
				return fmt.Errorf("damaged event log: entry %d: %w", e.Seq, err)
			}
			d.mem.Restore(e)
			last = max(last, e.Seq)
		}
		d.mem.mu.Lock()
		d.mem.last = max(d.mem.last, last)
		d.mem.mu.Unlock()
		d.written.Store(last)
		return nil
	})
}

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(make([]byte, 0, 8), seq) }

// Append implements Log: the entry is in memory (readable) when it
// returns and on disk within FlushInterval.
func (d *Durable) Append(ev anomaly.Event) uint64 {
	d.mu.Lock()
	seq := d.mem.Append(ev)
	if !d.closed {
		if len(d.pending) >= d.opts.Retention {
			// The disk has failed for a long time: the oldest would be
			// deleted by retention anyway.
			d.pending = d.pending[1:]
			d.dropped.Add(1)
		}
		d.pending = append(d.pending, Entry{Seq: seq, Event: ev})
	}
	d.mu.Unlock()
	return seq
}

// Read implements Log.
func (d *Durable) Read(ctx context.Context, after uint64, max int) ([]Entry, error) {
	return d.mem.Read(ctx, after, max)
}

// Wait implements Log.
func (d *Durable) Wait(ctx context.Context, after uint64) error { return d.mem.Wait(ctx, after) }

// Last implements Log.
func (d *Durable) Last() uint64 { return d.mem.Last() }

// Written is the newest sequence number on disk.
func (d *Durable) Written() uint64 { return d.written.Load() }

// Cursors returns the subscribers' cursors kept in the log's file.
func (d *Durable) Cursors() Cursors { return durableCursors{d} }

type durableCursors struct{ d *Durable }

// Load implements Cursors.
func (c durableCursors) Load(name string) (uint64, error) {
	c.d.mu.Lock()
	defer c.d.mu.Unlock()
	return c.d.cursors[name], nil
}

// Save implements Cursors: the cursor is written with the next flush.
func (c durableCursors) Save(name string, seq uint64) error {
	c.d.mu.Lock()
	defer c.d.mu.Unlock()
	if c.d.cursors[name] != seq {
		c.d.cursors[name] = seq
		c.d.cursorsDirty = true
	}
	return nil
}

// All returns every saved cursor by name.
func (c durableCursors) All() map[string]uint64 {
	c.d.mu.Lock()
	defer c.d.mu.Unlock()
	return maps.Clone(c.d.cursors)
}

func (d *Durable) run() {
	defer close(d.done)
	t := time.NewTicker(d.opts.FlushInterval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-d.stop:
			d.flush()
			return
		case <-t.C:
		}
		if err := d.flush(); err != nil {
			if !failing {
				d.opts.Logger.Error("event log write failed; will retry", "path", d.path, "err", err)
			}
			failing = true
		} else {
			failing = false
		}
	}
}

// flush writes the pending entries and the changed cursors in one synced
// transaction and enforces retention. On failure they stay pending.
func (d *Durable) flush() error {
	d.mu.Lock()
	batch := d.pending
	d.pending = nil
	var cursors map[string]uint64
	if d.cursorsDirty {
		cursors = maps.Clone(d.cursors)
		d.cursorsDirty = false
	}
	d.mu.Unlock()
	if len(batch) == 0 && cursors == nil {
		return nil
	}
	last := d.written.Load()
	if len(batch) > 0 {
		last = batch[len(batch)-1].Seq
	}
	err := d.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketEntries)
		for i := range batch {
			v, err := json.Marshal(&batch[i].Event)
			if err != nil {
				return err
			}
			if err := b.Put(seqKey(batch[i].Seq), v); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bucketMeta).Put(metaLast, seqKey(last)); err != nil {
			return err
		}
		cb := tx.Bucket(bucketCursors)
		for name, seq := range cursors {
			// Never beyond what is on disk with it.
			if err := cb.Put([]byte(name), seqKey(min(seq, last))); err != nil {
				return err
			}
		}
		if last > uint64(d.opts.Retention) {
			floor := seqKey(last - uint64(d.opts.Retention) + 1)
			c := b.Cursor()
			for k, _ := c.First(); k != nil && string(k) < string(floor); k, _ = c.First() {
				if err := c.Delete(); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		d.mu.Lock()
		d.pending = append(batch, d.pending...)
		if cursors != nil {
			d.cursorsDirty = true
		}
		d.mu.Unlock()
		return fmt.Errorf("write event log %s: %w", d.path, err)
	}
	d.written.Store(last)
	return nil
}

// Close writes everything pending and closes the file. Entries appended
// after Close stay in memory only. Idempotent.
func (d *Durable) Close() error {
	d.once.Do(func() {
		d.mu.Lock()
		d.closed = true
		d.mu.Unlock()
		close(d.stop)
		<-d.done // the final flush
		d.mu.Lock()
		left := len(d.pending)
		d.mu.Unlock()
		if left > 0 {
			d.err = fmt.Errorf("close event log %s: %d entries could not be written", d.path, left)
		}
		if err := d.db.Close(); err != nil && d.err == nil {
			d.err = fmt.Errorf("close event log %s: %w", d.path, err)
		}
	})
	return d.err
}
