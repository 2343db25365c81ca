// Package bounds keeps the user-set rules judged next to the learned
// baselines (static floors and ceilings, ratio-to-limit rules, per-series
// time zones: anomaly.BoundRule, applied by series.Engine.SetRules), in
// memory or in a file of the data directory.
//
// The file, bounds.json, is written atomically (a temporary file, fsync,
// rename, fsync of the directory) and carries the SHA-256 of its rules, so
// that a torn or edited file is refused at start-up instead of silently
// dropping rules.
package bounds

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/series"
)

// FileName is the rules file in the data directory.
const FileName = "bounds.json"

// Engine applies rules; *series.Engine is one.
type Engine interface {
	SetRules([]anomaly.BoundRule) error
}

// Store keeps the rules and hands every change to the engine. It is safe
// for concurrent use.
type Store struct {
	mu    sync.Mutex
	path  string // "" keeps the rules in memory
	eng   Engine
	next  uint64
	rules []anomaly.BoundRule
}

type file struct {
	Version int             `json:"version"`
	SHA256  string          `json:"sha256"`
	Data    json.RawMessage `json:"data"`
}

type data struct {
	NextID uint64              `json:"next_id"`
	Rules  []anomaly.BoundRule `json:"rules"`
}

// Open loads the rules of dataDir ("" for none: in memory) and applies
// them to eng. A file whose checksum does not match, or whose rules the
// engine refuses, is an error.
func Open(dataDir string, eng Engine) (*Store, error) {
	s := &Store{eng: eng, next: 1}
	if dataDir == "" {
		return s, nil
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("bounds: %w", err)
	}
	s.path = filepath.Join(dataDir, FileName)
	raw, err := os.ReadFile(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("bounds: %w", err)
	}
	var f file
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("bounds: %s: %w", s.path, err)
	}
	if f.Version != 1 {
		return nil, fmt.Errorf("bounds: %s: unknown version %d", s.path, f.Version)
	}
	if sum := sha256.Sum256(f.Data); hex.EncodeToString(sum[:]) != f.SHA256 {
		return nil, fmt.Errorf("bounds: %s: checksum mismatch (torn or edited file; restore it or remove it to start without rules)", s.path)
	}
	var d data
	if err := json.Unmarshal(f.Data, &d); err != nil {
		return nil, fmt.Errorf("bounds: %s: %w", s.path, err)
	}
	if err := eng.SetRules(d.Rules); err != nil {
		return nil, fmt.Errorf("bounds: %s: %w", s.path, err)
	}
	s.rules, s.next = d.Rules, max(d.NextID, 1)
	return s, nil
}

// List returns the rules in the order they apply.
func (s *Store) List() []anomaly.BoundRule {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.rules)
}

// Get returns one rule; CodeNotFound when there is none with that id.
func (s *Store) Get(id string) (anomaly.BoundRule, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.rules {
		if r.ID == id {
			return r, nil
		}
	}
	return anomaly.BoundRule{}, anomaly.Errorf(anomaly.CodeNotFound, "no bound rule %q", id)
}

// Add validates r, gives it an id, applies it after the rules already
// there and persists the set. Errors: CodeInvalidArgument for a bad rule,
// CodeLimit beyond series.MaxRules; the rules are then unchanged.
func (s *Store) Add(_ context.Context, r anomaly.BoundRule) (anomaly.BoundRule, error) {
	r, err := series.CheckRule(r)
	if err != nil {
		return anomaly.BoundRule{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.rules) >= series.MaxRules {
		return anomaly.BoundRule{}, anomaly.Errorf(anomaly.CodeLimit, "at most %d bound rules", series.MaxRules)
	}
	r.ID = "b" + strconv.FormatUint(s.next, 10)
	r.On = slices.Clone(r.On)
	next := append(slices.Clone(s.rules), r)
	if err := s.commit(next, s.next+1); err != nil {
		return anomaly.BoundRule{}, err
	}
	return r, nil
}

// Delete removes a rule; CodeNotFound when there is none with that id.
func (s *Store) Delete(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.IndexFunc(s.rules, func(r anomaly.BoundRule) bool { return r.ID == id })
	if i < 0 {
		return anomaly.Errorf(anomaly.CodeNotFound, "no bound rule %q", id)
	}
	return s.commit(slices.Delete(slices.Clone(s.rules), i, i+1), s.next)
}

// commit persists rules, then applies them; on a failure to apply, the
// previous file is written back. Call with mu held.
func (s *Store) commit(rules []anomaly.BoundRule, next uint64) error {
	if err := s.write(rules, next); err != nil {
		return err
	}
	if err := s.eng.SetRules(rules); err != nil {
		if werr := s.write(s.rules, s.next); werr != nil {
			return errors.Join(err, werr)
		}
		var ae *anomaly.Error
		if errors.As(err, &ae) {
			ae.Index = -1
		}
		return err
	}
	s.rules, s.next = rules, next
	return nil
}

// write stores the rules atomically (no-op in memory).
func (s *Store) write(rules []anomaly.BoundRule, next uint64) error {
	if s.path == "" {
		return nil
	}
	if rules == nil {
		rules = []anomaly.BoundRule{}
	}
	d, err := json.Marshal(data{NextID: next, Rules: rules})
	if err != nil {
		return fmt.Errorf("bounds: %w", err)
	}
	sum := sha256.Sum256(d)
	raw, err := json.Marshal(file{Version: 1, SHA256: hex.EncodeToString(sum[:]), Data: d})
	if err != nil {
		return fmt.Errorf("bounds: %w", err)
	}
	dir := filepath.Dir(s.path)
	tmp, err := os.CreateTemp(dir, FileName+".*.tmp")
	if err != nil {
		return fmt.Errorf("bounds: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename: a no-op
	_, err = tmp.Write(append(raw, '\n'))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), s.path)
	}
	if err != nil {
		return fmt.Errorf("bounds: writing %s: %w", s.path, err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
