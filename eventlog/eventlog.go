package eventlog

import (
	"context"
	"sync"

	"github.com/anomalyd/detector/anomaly"
)

// Entry is one event of the log with its sequence number.
type Entry struct {
	Seq   uint64        `json:"seq"`
	Event anomaly.Event `json:"event"`
}

// Log is the event log. Implementations are safe for concurrent use.
type Log interface {
	// Append adds ev and returns its sequence number. It never blocks on
	// disk or on readers.
	Append(ev anomaly.Event) uint64
	// Read returns at most max entries whose Seq is greater than after, in
	// sequence order; an empty slice when there are none yet.
	Read(ctx context.Context, after uint64, max int) ([]Entry, error)
	// Wait returns once an entry with Seq greater than after exists, or
	// with ctx's error when ctx ends first.
	Wait(ctx context.Context, after uint64) error
	// Last returns the sequence number of the newest entry, 0 when empty.
	Last() uint64
}

// Cursors keeps each subscriber's position: the Seq of the last entry it
// has handled. Implementations are safe for concurrent use.
type Cursors interface {
	// Load returns the saved cursor of name, 0 when none was saved.
	Load(name string) (uint64, error)
	// Save records that name has handled every entry up to seq.
	Save(name string, seq uint64) error
}

// DefaultRetention is the number of entries a Memory log keeps when given
// 0 or less.
const DefaultRetention = 1_000_000

// Memory is a Log held in memory: a ring of the newest entries. It is the
// log of a service without a data directory, and the in-memory tail of a
// durable one.
type Memory struct {
	mu      sync.Mutex
	ring    []Entry
	limit   int    // entries kept at most; ring grows up to it
	start   int    // index of the oldest entry in ring
	n       int    // entries held
	last    uint64 // Seq of the newest entry
	changed chan struct{}
}

// NewMemory returns an empty log keeping the newest retention entries.
// first is the Seq the first appended entry gets minus one (0 for a new
// log; a durable log passes the last Seq it restored).
func NewMemory(retention int, last uint64) *Memory {
	if retention <= 0 {
		retention = DefaultRetention
	}
	return &Memory{ring: make([]Entry, 0, min(retention, 4096)), limit: retention, last: last, changed: make(chan struct{})}
}

// Append implements Log.
func (m *Memory) Append(ev anomaly.Event) uint64 {
	m.mu.Lock()
	m.last++
	e := Entry{Seq: m.last, Event: ev}
	m.put(e)
	ch := m.changed
	m.changed = make(chan struct{})
	m.mu.Unlock()
	close(ch)
	return e.Seq
}

// Restore adds an entry read back from disk; entries must come in
// increasing Seq order. It does not wake waiters.
func (m *Memory) Restore(e Entry) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e.Seq <= m.last && m.n > 0 {
		return
	}
	m.put(e)
	m.last = e.Seq
}

// put stores e, dropping the oldest entry when the ring is full. m.mu held.
func (m *Memory) put(e Entry) {
	limit := m.limit
	if m.n < limit {
		if len(m.ring) < limit {
			m.ring = append(m.ring, e)
		} else {
			m.ring[(m.start+m.n)%limit] = e
		}
		m.n++
		return
	}
	m.ring[m.start] = e
	m.start = (m.start + 1) % limit
}

// Read implements Log.
func (m *Memory) Read(ctx context.Context, after uint64, max int) ([]Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.n == 0 || after >= m.last || max <= 0 {
		return []Entry{}, nil
	}
	oldest := m.ring[m.start].Seq
	skip := 0
	if after >= oldest {
		skip = int(after - oldest + 1)
	}
	k := min(m.n-skip, max)
	out := make([]Entry, k)
	for i := range out {
		out[i] = m.ring[(m.start+skip+i)%len(m.ring)]
	}
	return out, nil
}

// Wait implements Log.
func (m *Memory) Wait(ctx context.Context, after uint64) error {
	for {
		m.mu.Lock()
		if m.last > after {
			m.mu.Unlock()
			return nil
		}
		ch := m.changed
		m.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Last implements Log.
func (m *Memory) Last() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.last
}

// MemoryCursors is a Cursors held in memory.
type MemoryCursors struct {
	mu sync.Mutex
	m  map[string]uint64
}

// NewMemoryCursors returns an empty cursor table.
func NewMemoryCursors() *MemoryCursors { return &MemoryCursors{m: map[string]uint64{}} }

// Load implements Cursors.
func (c *MemoryCursors) Load(name string) (uint64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[name], nil
}

// Save implements Cursors.
func (c *MemoryCursors) Save(name string, seq uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[name] = seq
	return nil
}
