package notify

import (
	"context"
	"encoding/json"
	"sort"
	"strings"
	"time"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/series"
)

// Silence mutes the notifications of the series its matchers select
// between StartsAt and EndsAt (judged on the events' own times). A
// silenced anomaly is still recorded on the timeline, marked silenced.
// With SkipLearning, the points of those series inside the window are
// scored but do not train the baselines (a maintenance window).
type Silence struct {
	ID           string    `json:"id"`
	Matchers     string    `json:"matchers"`
	StartsAt     time.Time `json:"starts_at"`
	EndsAt       time.Time `json:"ends_at"`
	Comment      string    `json:"comment"`
	Author       string    `json:"author"`
	SkipLearning bool      `json:"skip_learning"`
	CreatedAt    time.Time `json:"created_at"`

	ms series.Matchers
}

// LearningFilter is the write path's hook for maintenance windows: points
// it reports true for are scored but not learned. *Hub implements it.
// Safe for concurrent use; Active is cheap and lets the write path skip
// the per-point check when no window is set.
type LearningFilter interface {
	// Active reports whether any skip_learning silence exists.
	Active() bool
	// SkipLearning reports whether the point of the series (as a client
	// wrote it) at t falls in a skip_learning silence.
	SkipLearning(series string, t time.Time) bool
}

var _ LearningFilter = (*Hub)(nil)

func invalid(field, format string, args ...any) error {
	e := anomaly.Errorf(anomaly.CodeInvalidArgument, format, args...)
	e.Field = field
	return e
}

// MaxSilences is the most silences that have not ended, kept at once:
// every event (and, while a skip_learning silence is active, every point)
// is checked against them.
const MaxSilences = 10_000

// AddSilence validates and stores s; StartsAt defaults to now, ID and
// CreatedAt are set.
func (h *Hub) AddSilence(_ context.Context, s Silence) (Silence, error) {
	if strings.TrimSpace(s.Matchers) == "" || strings.TrimSpace(s.Matchers) == "{}" {
		return Silence{}, invalid("matchers", "a silence needs at least one matcher")
	}
	ms, err := series.ParseMatchers(s.Matchers)
	if err != nil {
		return Silence{}, err
	}
	now := h.opt.Now().UTC()
	if s.StartsAt.IsZero() {
		s.StartsAt = now
	}
	if s.EndsAt.IsZero() || !s.EndsAt.After(s.StartsAt) {
		return Silence{}, invalid("ends_at", "ends_at must be after starts_at")
	}
	h.mu.Lock()
	current := 0
	for _, sl := range h.silences {
		if sl.EndsAt.After(now) {
			current++
		}
	}
	h.mu.Unlock()
	if current >= MaxSilences {
		return Silence{}, invalid("matchers", "%d silences have not ended yet, the most kept at once: delete some first", current)
	}
	s.ID, s.CreatedAt, s.ms = newID("sil_"), now, ms
	b, _ := json.Marshal(s)
	if err := h.kv.put(bucketSilences, map[string][]byte{s.ID: b}); err != nil {
		return Silence{}, err
	}
	h.mu.Lock()
	h.silences[s.ID] = &s
	h.countSkipLocked()
	h.mu.Unlock()
	return s, nil
}

// Silences lists the silences, newest first.
func (h *Hub) Silences() []Silence {
	h.mu.Lock()
	out := make([]Silence, 0, len(h.silences))
	for _, s := range h.silences {
		out = append(out, *s)
	}
	h.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.After(out[j].CreatedAt) })
	return out
}

// DeleteSilence removes a silence; CodeNotFound when there is none.
func (h *Hub) DeleteSilence(_ context.Context, id string) error {
	h.mu.Lock()
	_, ok := h.silences[id]
	h.mu.Unlock()
	if !ok {
		return anomaly.Errorf(anomaly.CodeNotFound, "no silence %q", id)
	}
	if err := h.kv.put(bucketSilences, map[string][]byte{id: nil}); err != nil {
		return err
	}
	h.mu.Lock()
	delete(h.silences, id)
	h.countSkipLocked()
	h.mu.Unlock()
	return nil
}

func (h *Hub) countSkipLocked() {
	n := int32(0)
	for _, s := range h.silences {
		if s.SkipLearning {
			n++
		}
	}
	h.skipSilences.Store(n)
}

func (h *Hub) restoreSilences() error {
	return h.kv.each(bucketSilences, func(k string, v []byte) error {
		var s Silence
		if err := json.Unmarshal(v, &s); err != nil {
			return err
		}
		ms, err := series.ParseMatchers(s.Matchers)
		if err != nil {
			return err
		}
		s.ms = ms
		h.silences[s.ID] = &s
		h.countSkipLocked()
		return nil
	})
}

// matching returns the silences active at t whose matchers select the
// series; onlySkip keeps those with SkipLearning.
func (h *Hub) matching(s string, t time.Time, onlySkip bool) bool {
	h.mu.Lock()
	var cand []*Silence
	for _, sl := range h.silences {
		if (!onlySkip || sl.SkipLearning) && !t.Before(sl.StartsAt) && t.Before(sl.EndsAt) {
			cand = append(cand, sl)
		}
	}
	h.mu.Unlock()
	if len(cand) == 0 {
		return false
	}
	k, err := series.Parse(s, h.opt.Limits)
	if err != nil {
		return false
	}
	for _, sl := range cand {
		if sl.ms.Matches(k) {
			return true
		}
	}
	return false
}

// silencedAt reports whether an active silence at t selects the series.
func (h *Hub) silencedAt(s string, t time.Time) bool { return h.matching(s, t, false) }

// Active implements LearningFilter.
func (h *Hub) Active() bool { return h.skipSilences.Load() > 0 }

// SkipLearning implements LearningFilter.
func (h *Hub) SkipLearning(s string, t time.Time) bool {
	if !h.Active() {
		return false
	}
	return h.matching(s, t, true)
}
