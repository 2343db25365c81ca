package remediate

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The state file is a bbolt database: every change is one transaction,
// written with fsync before it returns, so a crash keeps either the state
// before a decision or the state after it, and caps hold across restarts.
var (
	bRules   = []byte("rules")
	bAudit   = []byte("audit")
	bActs    = []byte("acts")
	bHandled = []byte("handled")
	bPending = []byte("pending")
	bMeta    = []byte("meta")
	kKill    = []byte("kill_switch")
)

// db persists the remediator's state; a nil *db keeps nothing.
type db struct{ b *bolt.DB }

func openDB(path string) (*db, error) {
	b, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("remediation state %s: %w", path, err)
	}
	err = b.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bRules, bAudit, bActs, bHandled, bPending, bMeta} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("remediation state %s: %w", path, err)
	}
	return &db{b: b}, nil
}

func (d *db) close() error {
	if d == nil {
		return nil
	}
	return d.b.Close()
}

// op is one change of a transaction.
type op struct {
	bucket []byte
	key    []byte
	value  any // nil deletes key
}

func seqKey(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

// apply writes ops in one transaction.
func (d *db) apply(ops ...op) error {
	if d == nil || len(ops) == 0 {
		return nil
	}
	return d.b.Update(func(tx *bolt.Tx) error {
		for _, o := range ops {
			b := tx.Bucket(o.bucket)
			if o.value == nil {
				if err := b.Delete(o.key); err != nil {
					return err
				}
				continue
			}
			v, err := json.Marshal(o.value)
			if err != nil {
				return err
			}
			if err := b.Put(o.key, v); err != nil {
				return err
			}
		}
		return nil
	})
}

// each calls fn for every entry of bucket, in key order.
func (d *db) each(bucket []byte, fn func(k, v []byte) error) error {
	if d == nil {
		return nil
	}
	return d.b.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).ForEach(fn)
	})
}
