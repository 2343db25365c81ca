package timeline

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/anomalyd/detector/anomaly"
)

// Recorder takes anomaly events. Implementations must be safe for
// concurrent use and cheap: Record is called from the engine's shard
// goroutines in the middle of processing points. Record never fails; a
// store that cannot keep an event drops it and counts the drop.
type Recorder = anomaly.Recorder

// Reader answers timeline queries. Implementations must be safe for
// concurrent use, also with Record.
type Reader interface {
	// Query returns one page of anomalies, newest first (see the package
	// doc for the order and the cursor). A malformed query or cursor gives
	// an *anomaly.Error with CodeInvalidArgument naming the field.
	Query(ctx context.Context, q anomaly.TimelineQuery) (anomaly.AnomalyPage, error)
	// Get returns one anomaly, or an *anomaly.Error with CodeNotFound.
	Get(ctx context.Context, id anomaly.ID) (anomaly.Anomaly, error)
}

// Page sizes of Query.
const (
	DefaultLimit = anomaly.DefaultPageLimit // used when TimelineQuery.Limit is 0 or less
	MaxLimit     = anomaly.MaxPageLimit     // larger limits are lowered to this
)

// DefaultMaxAnomalies is the bound NewMemory uses when given 0 or less.
const DefaultMaxAnomalies = 100_000

// entry is one anomaly of a Memory store.
type entry struct {
	State
	dead bool // removed, still in order until compaction
}

// Memory is the in-memory timeline. It holds at most max anomalies; when a
// new one would exceed that, the oldest resolved anomaly (by start time) is
// dropped, or the oldest open one when none is resolved. Events about an
// anomaly it does not hold (dropped, or opened before the store existed)
// are ignored.
//
// A Memory is safe for concurrent use. Record takes one mutex and does a
// map lookup; an open inserts into a slice kept sorted by start time, which
// is an append for anomalies that open in time order.
type Memory struct {
	max int

	mu      sync.RWMutex
	byID    map[anomaly.ID]*entry
	order   []*entry // ascending by (StartedAt, ID); holds dead entries until compaction
	dead    int      // dead entries in order
	dropped uint64   // anomalies dropped to stay within max
	orphans uint64   // updated/resolved events for anomalies not held
	maxID   anomaly.ID
}

// NewMemory returns an empty store bounded to maxAnomalies entries
// (DefaultMaxAnomalies when maxAnomalies <= 0).
func NewMemory(maxAnomalies int) *Memory {
	if maxAnomalies <= 0 {
		maxAnomalies = DefaultMaxAnomalies
	}
	return &Memory{max: maxAnomalies, byID: make(map[anomaly.ID]*entry)}
}

var _ Timeline = (*Memory)(nil)

// MaxID implements Timeline.
func (m *Memory) MaxID() anomaly.ID {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.maxID
}

// Close implements Timeline; a Memory holds nothing to release.
func (m *Memory) Close() error { return nil }

// PointTime is the timestamp of the point that caused ev: the verdict's
// timestamp, or ev.At when the verdict carries none. Every timeline backend
// dates events by it.
func PointTime(ev *anomaly.Event) time.Time {
	if !ev.Verdict.Timestamp.IsZero() {
		return ev.Verdict.Timestamp.UTC()
	}
	return ev.At.UTC()
}

// Record folds one event into the timeline with Opened and State.Fold.
// Events with a zero AnomalyID, a repeated open and events for anomalies
// the store does not hold are ignored.
func (m *Memory) Record(ev anomaly.Event) {
	if ev.AnomalyID == 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.maxID = max(m.maxID, ev.AnomalyID)
	e := m.byID[ev.AnomalyID]
	if ev.Kind == anomaly.EventOpened {
		if e != nil {
			return
		}
		e = &entry{State: Opened(&ev)}
		m.insert(e)
		m.byID[e.A.ID] = e
		for len(m.byID) > m.max {
			m.dropOne()
		}
		return
	}
	if e == nil || !e.Fold(&ev) {
		m.orphans++
	}
}

// less orders entries by (StartedAt, ID), ascending.
func less(aT time.Time, aID anomaly.ID, bT time.Time, bID anomaly.ID) bool {
	if !aT.Equal(bT) {
		return aT.Before(bT)
	}
	return aID < bID
}

// insert puts e into order at its sorted position. Called with mu held.
func (m *Memory) insert(e *entry) {
	n := len(m.order)
	if n == 0 || less(m.order[n-1].A.StartedAt, m.order[n-1].A.ID, e.A.StartedAt, e.A.ID) {
		m.order = append(m.order, e)
		return
	}
	i := sort.Search(n, func(i int) bool {
		return !less(m.order[i].A.StartedAt, m.order[i].A.ID, e.A.StartedAt, e.A.ID)
	})
	m.order = append(m.order, nil)
	copy(m.order[i+1:], m.order[i:])
	m.order[i] = e
}

// dropOne removes the oldest resolved entry, or the oldest entry when all
// are open. Called with mu held and at least one live entry.
func (m *Memory) dropOne() {
	// Leading dead entries cost nothing to pop.
	for len(m.order) > 0 && m.order[0].dead {
		m.order[0] = nil
		m.order = m.order[1:]
		m.dead--
	}
	victim := 0
	for i, e := range m.order {
		if !e.dead && !e.Open() {
			victim = i
			break
		}
	}
	e := m.order[victim]
	delete(m.byID, e.A.ID)
	m.dropped++
	if victim == 0 {
		m.order[0] = nil
		m.order = m.order[1:]
		return
	}
	e.dead = true
	m.dead++
	if m.dead > 64 && m.dead > len(m.order)/2 {
		live := make([]*entry, 0, len(m.order)-m.dead+m.max/8)
		for _, e := range m.order {
			if !e.dead {
				live = append(live, e)
			}
		}
		m.order, m.dead = live, 0
	}
}

// Len returns the number of anomalies held.
func (m *Memory) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.byID)
}

// Dropped returns how many anomalies were dropped to stay within the bound.
func (m *Memory) Dropped() uint64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.dropped
}

// Get returns the anomaly with the given id.
func (m *Memory) Get(_ context.Context, id anomaly.ID) (anomaly.Anomaly, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	e := m.byID[id]
	if e == nil {
		return anomaly.Anomaly{}, anomaly.Errorf(anomaly.CodeNotFound, "anomaly %s is not on the timeline", id)
	}
	return e.Anomaly(), nil
}

// Query returns the anomalies that match q, newest first. Filters:
//
//   - Series: exact match on the series text the engine recorded (its
//     canonical form);
//   - Since, Until: the anomaly's interval overlaps [Since, Until): it
//     started before Until, and it is still open or ended at or after
//     Since;
//   - State: "open" or "resolved".
//
// Limit defaults to DefaultLimit and is capped at MaxLimit. NextCursor is
// empty when no further anomaly matches.
func (m *Memory) Query(ctx context.Context, q anomaly.TimelineQuery) (anomaly.AnomalyPage, error) {
	if err := ctx.Err(); err != nil {
		return anomaly.AnomalyPage{}, err
	}
	wantOpen, wantResolved, limit, err := CheckQuery(q)
	if err != nil {
		return anomaly.AnomalyPage{}, err
	}
	var (
		curT  time.Time
		curID anomaly.ID
		hasC  bool
	)
	if q.Cursor != "" {
		if curT, curID, err = DecodeCursor(q.Cursor); err != nil {
			return anomaly.AnomalyPage{}, err
		}
		hasC = true
	}

	page := anomaly.AnomalyPage{Anomalies: []anomaly.Anomaly{}}
	m.mu.RLock()
	defer m.mu.RUnlock()
	// Entries at or after hi are excluded by the cursor or by Until.
	hi := len(m.order)
	if hasC {
		hi = sort.Search(hi, func(i int) bool {
			return !less(m.order[i].A.StartedAt, m.order[i].A.ID, curT, curID)
		})
	}
	if !q.Until.IsZero() {
		hi = min(hi, sort.Search(len(m.order), func(i int) bool {
			return !m.order[i].A.StartedAt.Before(q.Until)
		}))
	}
	for i := hi - 1; i >= 0; i-- {
		e := m.order[i]
		if e.dead || (q.Series != "" && e.A.Series != q.Series) {
			continue
		}
		if open := e.Open(); (open && !wantOpen) || (!open && !wantResolved) {
			continue
		}
		if !q.Since.IsZero() && !e.Open() && e.End.Before(q.Since) {
			continue
		}
		if len(page.Anomalies) == limit {
			last := page.Anomalies[limit-1]
			page.NextCursor = EncodeCursor(last.StartedAt, last.ID)
			break
		}
		page.Anomalies = append(page.Anomalies, e.Anomaly())
	}
	return page, nil
}

// CheckQuery validates q the way every timeline backend does and returns
// which states it selects and the page size (DefaultLimit when unset,
// capped at MaxLimit). Errors are *anomaly.Error with CodeInvalidArgument
// naming the field.
func CheckQuery(q anomaly.TimelineQuery) (wantOpen, wantResolved bool, limit int, err error) {
	if wantOpen, wantResolved, err = stateFilter(q.State); err != nil {
		return false, false, 0, err
	}
	if !q.Since.IsZero() && !q.Until.IsZero() && !q.Since.Before(q.Until) {
		return false, false, 0, &anomaly.Error{Code: anomaly.CodeInvalidArgument, Field: "since", Index: -1,
			Message: "since must be before until"}
	}
	limit = q.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	return wantOpen, wantResolved, min(limit, MaxLimit), nil
}

func stateFilter(s string) (open, resolved bool, err error) {
	switch s {
	case "":
		return true, true, nil
	case "open":
		return true, false, nil
	case "resolved":
		return false, true, nil
	}
	return false, false, &anomaly.Error{Code: anomaly.CodeInvalidArgument, Field: "state", Index: -1,
		Message: `state must be "open" or "resolved", got "` + s + `"`}
}
