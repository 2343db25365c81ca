package store

import (
	"bytes"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/anomalyd/detector/anomaly"
)

// retentionChunk bounds the deletions of one transaction, so that a large
// backlog does not build one huge write.
const retentionChunk = 10_000

// enforceRetention deletes resolved anomalies whose resolution was recorded
// more than Retention ago, then the oldest resolved ones beyond
// MaxAnomalies. Called by Open and by the writer goroutine only.
func (s *Store) enforceRetention() error {
	if s.opts.Retention > 0 {
		cutoff := makeOrderKey(s.opts.Now().Add(-s.opts.Retention), 0)
		for {
			n, err := s.deleteWhere(func(tx *bolt.Tx) []anomaly.ID {
				var ids []anomaly.ID
				c := tx.Bucket(bucketByResolved).Cursor()
				for k, _ := c.First(); k != nil && len(ids) < retentionChunk; k, _ = c.Next() {
					if len(k) != len(orderKey{}) || bytes.Compare(k, cutoff[:]) >= 0 {
						break
					}
					ids = append(ids, orderKey(k).id())
				}
				return ids
			})
			s.stats.deletedAge.Add(uint64(n))
			if err != nil {
				return err
			}
			if n < retentionChunk {
				break
			}
		}
	}
	return s.enforceCount()
}

// enforceCount deletes the oldest resolved anomalies (by start time) until
// at most MaxAnomalies are stored or only open ones are left over.
func (s *Store) enforceCount() error {
	for s.opts.MaxAnomalies > 0 && s.stored > s.opts.MaxAnomalies {
		excess := min(s.stored-s.opts.MaxAnomalies, retentionChunk)
		n, err := s.deleteWhere(func(tx *bolt.Tx) []anomaly.ID {
			var ids []anomaly.ID
			c := tx.Bucket(bucketByStart).Cursor()
			for k, v := c.First(); k != nil && len(ids) < excess; k, v = c.Next() {
				if resolved, _, _, ok := parseIndexValue(v); ok && resolved && len(k) == len(orderKey{}) {
					ids = append(ids, orderKey(k).id())
				}
			}
			return ids
		})
		s.stats.deletedCount.Add(uint64(n))
		if err != nil {
			return err
		}
		if n < excess {
			break // the rest are open
		}
	}
	return nil
}

// deleteWhere deletes, in one transaction, the anomalies collect returns
// (read first, so that no cursor moves over deleted keys) with their index
// entries, and returns how many it deleted.
func (s *Store) deleteWhere(collect func(tx *bolt.Tx) []anomaly.ID) (int, error) {
	deleted := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		deleted = 0
		ids := collect(tx)
		recs := tx.Bucket(bucketAnomalies)
		byStart, bySeries, byResolved := tx.Bucket(bucketByStart), tx.Bucket(bucketBySeries), tx.Bucket(bucketByResolved)
		for _, id := range ids {
			key := idKey(id)
			b := recs.Get(key)
			if b == nil {
				continue
			}
			r, err := decodeRecord(id, b)
			if err != nil {
				return fmt.Errorf("%w: %w", errCorrupt, err)
			}
			ok := makeOrderKey(r.A.StartedAt, id)
			for _, del := range []struct {
				b *bolt.Bucket
				k []byte
			}{
				{recs, key},
				{byStart, ok[:]},
				{bySeries, append(seriesPrefix(nil, r.A.Series), ok[:]...)},
			} {
				if err := del.b.Delete(del.k); err != nil {
					return err
				}
			}
			if !r.Open() {
				rk := makeOrderKey(r.resolvedAt, id)
				if err := byResolved.Delete(rk[:]); err != nil {
					return err
				}
			}
			deleted++
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	s.stored -= deleted
	s.stats.stored.Store(int64(s.stored))
	return deleted, nil
}
