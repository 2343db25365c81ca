package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/anomalyd/detector/peers"
)

// LoadRules returns the stored peer rules in the order they were saved.
func (s *Store) LoadRules(ctx context.Context) ([]peers.Rule, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var rules []peers.Rule
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketRules).ForEach(func(k, v []byte) error {
			var r peers.Rule
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("%w: peer rule %x: %w", errCorrupt, k, err)
			}
			rules = append(rules, r)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("load peer rules from %s: %w", s.path, err)
	}
	return rules, nil
}

// SaveRules replaces the stored peer rules with rules, in one synced
// transaction: when it returns nil the list is on disk.
func (s *Store) SaveRules(ctx context.Context, rules []peers.Rule) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	vals := make([][]byte, len(rules))
	for i, r := range rules {
		b, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("save peer rule %q: %w", r.Name, err)
		}
		vals[i] = b
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket(bucketRules); err != nil {
			return err
		}
		b, err := tx.CreateBucket(bucketRules)
		if err != nil {
			return err
		}
		for i, v := range vals {
			if err := b.Put(binary.BigEndian.AppendUint32(nil, uint32(i)), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("save peer rules to %s: %w", s.path, err)
	}
	return nil
}
