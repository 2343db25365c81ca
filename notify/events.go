package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/series"
)

// ChangeEvent is something that changed (a deploy, a config push, a
// failover), posted so that an anomaly can be read next to what changed
// just before it.
type ChangeEvent struct {
	ID     string            `json:"id"`
	Type   string            `json:"type"`
	Labels map[string]string `json:"labels"`
	Desc   string            `json:"desc,omitempty"`
	Fields map[string]any    `json:"fields,omitempty"`
	// At is when the change happened; default: when it was posted.
	At time.Time `json:"at"`
}

// EventQuery selects change events. Zero fields select everything.
type EventQuery struct {
	Match        string // a selector over the event's labels
	Since, Until time.Time
	Type         string
	Limit        int // default 100
}

// MaxCauses is the most possible causes listed for one anomaly.
const MaxCauses = 10

// CauseSkew is how far after an anomaly's start a change event still
// counts as before it: the clocks of a deploy system and of the metrics
// seldom agree to the second.
const CauseSkew = 30 * time.Second

// maxEvents bounds the change events kept, beside the retention.
const maxEvents = 100_000

// MaxEventBytes bounds one change event, encoded as JSON: an event is
// kept for weeks and copied into the possible causes of every anomaly it
// precedes, so its labels, description and fields must stay small.
const MaxEventBytes = 16 << 10

func eventKey(e ChangeEvent) string { return fmt.Sprintf("%020d-%s", e.At.UnixNano(), e.ID) }

// AddEvent validates and stores a change event.
func (h *Hub) AddEvent(_ context.Context, e ChangeEvent) (ChangeEvent, error) {
	if strings.TrimSpace(e.Type) == "" {
		return ChangeEvent{}, invalid("type", "a change event needs a type")
	}
	for n := range e.Labels {
		if n == "" {
			return ChangeEvent{}, invalid("labels", "empty label name")
		}
	}
	if e.Labels == nil {
		e.Labels = map[string]string{}
	}
	if e.At.IsZero() {
		e.At = h.opt.Now()
	}
	e.At = e.At.UTC()
	e.ID = newID("evt_")
	b, err := json.Marshal(e)
	if err != nil {
		return ChangeEvent{}, invalid("fields", "fields cannot be stored: %v", err)
	}
	if len(b) > MaxEventBytes {
		return ChangeEvent{}, invalid("fields", "a change event is at most %d bytes as JSON, this one is %d: shorten desc, fields or labels", MaxEventBytes, len(b))
	}
	if err := h.kv.put(bucketEvents, map[string][]byte{eventKey(e): b}); err != nil {
		return ChangeEvent{}, err
	}
	h.mu.Lock()
	i := sort.Search(len(h.events), func(i int) bool { return h.events[i].At.After(e.At) })
	h.events = append(h.events, ChangeEvent{})
	copy(h.events[i+1:], h.events[i:])
	h.events[i] = e
	drop := h.pruneEventsLocked()
	h.mu.Unlock()
	if len(drop) > 0 {
		h.kv.put(bucketEvents, drop)
	}
	h.m.changeEvents.Inc()
	return e, nil
}

// pruneEventsLocked drops events past the retention or the count bound and
// returns their keys for deletion.
func (h *Hub) pruneEventsLocked() map[string][]byte {
	cutoff := h.opt.Now().Add(-h.opt.EventRetention)
	n := 0
	for n < len(h.events) && (h.events[n].At.Before(cutoff) || len(h.events)-n > maxEvents) {
		n++
	}
	if n == 0 {
		return nil
	}
	drop := make(map[string][]byte, n)
	for _, e := range h.events[:n] {
		drop[eventKey(e)] = nil
	}
	h.events = append(h.events[:0], h.events[n:]...)
	return drop
}

func (h *Hub) restoreEvents() error {
	err := h.kv.each(bucketEvents, func(_ string, v []byte) error {
		var e ChangeEvent
		if err := json.Unmarshal(v, &e); err != nil {
			return err
		}
		h.events = append(h.events, e)
		return nil
	})
	sort.SliceStable(h.events, func(i, j int) bool { return h.events[i].At.Before(h.events[j].At) })
	if drop := h.pruneEventsLocked(); len(drop) > 0 {
		h.kv.put(bucketEvents, drop)
	}
	return err
}

// matchLabels reports whether labels satisfy every matcher.
func matchLabels(ms series.Matchers, labels map[string]string) bool {
	for _, m := range ms {
		if !m.Matches(labels[m.Name]) {
			return false
		}
	}
	return true
}

// Events returns the change events q selects, newest first.
func (h *Hub) Events(_ context.Context, q EventQuery) ([]ChangeEvent, error) {
	ms, err := series.ParseMatchers(q.Match)
	if err != nil {
		return nil, err
	}
	if q.Limit <= 0 {
		q.Limit = 100
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	out := []ChangeEvent{}
	for i := len(h.events) - 1; i >= 0 && len(out) < q.Limit; i-- {
		e := h.events[i]
		if !q.Until.IsZero() && !e.At.Before(q.Until) {
			continue
		}
		if !q.Since.IsZero() && e.At.Before(q.Since) {
			break
		}
		if (q.Type == "" || q.Type == e.Type) && matchLabels(ms, e.Labels) {
			out = append(out, e)
		}
	}
	return out, nil
}

// Causes returns the change events that may have caused an anomaly of the
// series starting at start: those of the CauseWindow before start (start
// included) whose labels, at least one, all appear on the series with the
// same values. Events up to CauseSkew after start count too. Newest
// first, at most MaxCauses.
func (h *Hub) Causes(s string, start time.Time) []anomaly.Cause {
	h.mu.Lock()
	if len(h.events) == 0 {
		h.mu.Unlock()
		return nil
	}
	h.mu.Unlock()
	_, labels, ok := h.labelsOf(s)
	if !ok {
		return nil
	}
	from := start.Add(-h.opt.CauseWindow)
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []anomaly.Cause
	until := start.Add(CauseSkew)
	i := sort.Search(len(h.events), func(i int) bool { return h.events[i].At.After(until) })
	for i--; i >= 0 && len(out) < MaxCauses; i-- {
		e := h.events[i]
		if e.At.Before(from) {
			break
		}
		if len(e.Labels) == 0 {
			continue
		}
		shared := true
		for n, v := range e.Labels {
			if lv, ok := labels[n]; !ok || lv != v {
				shared = false
				break
			}
		}
		if shared {
			out = append(out, anomaly.Cause{EventID: e.ID, Type: e.Type, Desc: e.Desc, At: e.At, Labels: e.Labels})
		}
	}
	return out
}
