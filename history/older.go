package history

import (
	"context"
	"time"

	"github.com/anomalyd/detector/anomaly"
)

// OlderHistory serves the points of a series older than its ring, from
// long-term storage (package influx implements it from the verdict sink's
// measurement). Implementations must be safe for concurrent use.
type OlderHistory interface {
	// OlderHistory returns at most max points of series (canonical text)
	// with since <= timestamp < until, oldest first; when there are more,
	// the most recent max.
	OlderHistory(ctx context.Context, series string, since, until time.Time, max int) ([]anomaly.HistoryPoint, error)
}

// Defaults of the Reader's older-history bounds.
const (
	DefaultOlderMax     = 10_000
	DefaultOlderTimeout = 5 * time.Second
	// DefaultOlderRange is how far back before the ring a request without
	// since reads.
	DefaultOlderRange = 7 * 24 * time.Hour
)

// older fills in front of ring (the ring's points of the request range,
// oldest first) the points of [since, until] older than oldest (the ring's
// oldest kept point; zero when it has none), from r.Older. A failure does
// not fail the request: it answers ring with the note in h.Older.
func (r Reader) older(ctx context.Context, h *anomaly.History, since, until, oldest time.Time) {
	if r.Older == nil {
		return
	}
	stop := oldest
	if stop.IsZero() {
		stop = until
		if stop.IsZero() {
			stop = time.Now()
		}
		stop = stop.Add(time.Millisecond) // until is inclusive
	} else if !until.IsZero() && until.Before(stop) {
		stop = until.Add(time.Millisecond)
	}
	start := since
	if start.IsZero() {
		if len(h.Points) > 0 {
			return // no since: the ring's recent points are the answer
		}
		start = stop.Add(-r.olderRange())
	}
	if !start.Before(stop) {
		return // the ring covers the range
	}
	maxPts := r.OlderMax
	if maxPts <= 0 {
		maxPts = DefaultOlderMax
	}
	timeout := r.OlderTimeout
	if timeout <= 0 {
		timeout = DefaultOlderTimeout
	}
	qctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	pts, err := r.Older.OlderHistory(qctx, h.Series, start, stop, maxPts)
	if err != nil {
		h.Older = "unavailable: " + err.Error()
		return
	}
	h.Points = Merge(pts, h.Points, stop)
	if len(pts) >= maxPts {
		h.Older = "truncated: only the most recent older points"
	}
}

func (r Reader) olderRange() time.Duration {
	if r.OlderRange > 0 {
		return r.OlderRange
	}
	return DefaultOlderRange
}

// Merge puts the older points (those before stop, in time order) in front
// of ring's, oldest first. Older points out of order or at or after stop
// are dropped.
func Merge(older, ring []anomaly.HistoryPoint, stop time.Time) []anomaly.HistoryPoint {
	out := make([]anomaly.HistoryPoint, 0, len(older)+len(ring))
	for _, p := range older {
		if !p.Timestamp.Before(stop) {
			continue
		}
		if n := len(out); n > 0 && !out[n-1].Timestamp.Before(p.Timestamp) {
			continue
		}
		out = append(out, p)
	}
	return append(out, ring...)
}
