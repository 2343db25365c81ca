package cluster

import (
	"slices"
	"sync"
)

// StaticDirectory is a Directory with a fixed assignment, for tests and
// for deployments whose partitions never move. Set changes it (a
// rebalance); it is safe for concurrent use.
type StaticDirectory struct {
	mu     sync.RWMutex
	self   string
	owners []string
}

// NewStaticDirectory returns the directory of the node self where
// partition p is owned by owners[p] ("" for no owner yet); there are
// len(owners) partitions.
func NewStaticDirectory(self string, owners []string) *StaticDirectory {
	d := &StaticDirectory{self: self}
	d.Set(owners)
	return d
}

// Set replaces the assignment.
func (d *StaticDirectory) Set(owners []string) {
	d.mu.Lock()
	d.owners = slices.Clone(owners)
	d.mu.Unlock()
}

func (d *StaticDirectory) Self() string { return d.self }

func (d *StaticDirectory) Partitions() int32 {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return int32(len(d.owners))
}

func (d *StaticDirectory) Owner(p int32) (string, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if p < 0 || int(p) >= len(d.owners) || d.owners[p] == "" {
		return "", false
	}
	return d.owners[p], true
}

func (d *StaticDirectory) Members() []string {
	d.mu.RLock()
	defer d.mu.RUnlock()
	ms := []string{d.self}
	for _, o := range d.owners {
		if o != "" && !slices.Contains(ms, o) {
			ms = append(ms, o)
		}
	}
	slices.Sort(ms)
	return ms
}
