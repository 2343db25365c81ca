package notify

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// FileName is the name of the notification state file in the data
// directory.
const FileName = "notify.db"

// Buckets of the state file.
const (
	bucketWebhooks   = "webhooks"
	bucketDeliveries = "deliveries"
	bucketSilences   = "silences"
	bucketEvents     = "events"
	bucketIncidents  = "incidents"
	bucketSeries     = "series"
	bucketAM         = "alertmanager"
)

var allBuckets = []string{bucketWebhooks, bucketDeliveries, bucketSilences, bucketEvents, bucketIncidents, bucketSeries, bucketAM}

// kv is the small key-value store the hub persists to. Implementations
// are safe for concurrent use.
type kv interface {
	put(bucket string, kvs map[string][]byte) error // nil value deletes
	each(bucket string, fn func(k string, v []byte) error) error
	close() error
}

// memKV keeps everything in memory.
type memKV struct {
	mu sync.Mutex
	m  map[string]map[string][]byte
}

func newMemKV() *memKV { return &memKV{m: map[string]map[string][]byte{}} }

func (s *memKV) put(bucket string, kvs map[string][]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.m[bucket]
	if b == nil {
		b = map[string][]byte{}
		s.m[bucket] = b
	}
	for k, v := range kvs {
		if v == nil {
			delete(b, k)
		} else {
			b[k] = append([]byte(nil), v...)
		}
	}
	return nil
}

func (s *memKV) each(bucket string, fn func(string, []byte) error) error {
	s.mu.Lock()
	b := s.m[bucket]
	keys := make([]string, 0, len(b))
	for k := range b {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	vals := make([][]byte, len(keys))
	for i, k := range keys {
		vals[i] = b[k]
	}
	s.mu.Unlock()
	for i, k := range keys {
		if err := fn(k, vals[i]); err != nil {
			return err
		}
	}
	return nil
}

func (s *memKV) close() error { return nil }

// boltKV is the state file: one bbolt database, fsynced on every commit,
// so a write that returned survives a crash.
type boltKV struct{ db *bolt.DB }

func openBolt(dir string) (*boltKV, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("notify: data dir: %w", err)
	}
	db, err := bolt.Open(filepath.Join(dir, FileName), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("notify: %s is locked by another process", filepath.Join(dir, FileName))
		}
		return nil, fmt.Errorf("notify: open %s: %w", FileName, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists([]byte(b)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("notify: create buckets: %w", err)
	}
	return &boltKV{db: db}, nil
}

func (s *boltKV) put(bucket string, kvs map[string][]byte) error {
	if len(kvs) == 0 {
		return nil
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucket))
		for k, v := range kvs {
			var err error
			if v == nil {
				err = b.Delete([]byte(k))
			} else {
				err = b.Put([]byte(k), v)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *boltKV) each(bucket string, fn func(string, []byte) error) error {
	return s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bucket)).ForEach(func(k, v []byte) error {
			return fn(string(k), append([]byte(nil), v...))
		})
	})
}

func (s *boltKV) close() error { return s.db.Close() }
