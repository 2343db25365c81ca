package api

import (
	"context"
	"net/http"
	"time"

	"github.com/anomalyd/detector/anomaly"
)

// HistoryReader serves the recent points kept for a series. Implementations
// must be safe for concurrent use. Errors are *anomaly.Error: CodeNotFound
// for an unknown series, CodeInvalidSeries for invalid series text.
type HistoryReader interface {
	// History returns the points of series within [since, until] (zero:
	// no bound), oldest first, and keeps recording the series from now on.
	History(ctx context.Context, series string, since, until time.Time) (anomaly.History, error)
}

// SortedLister lists series in an order other than by key (an optional
// extension of the engine, used for ?sort=).
type SortedLister interface {
	// ListSorted is SeriesReader.List ordered by "score" (descending) or
	// "state" (anomalous first, then by score).
	ListSorted(ctx context.Context, match, by string, limit int, cursor string) (anomaly.SeriesPage, error)
}

// getHistory handles GET /api/v1/series/{series}/history.
func (a *API) getHistory(r *http.Request) (any, error) {
	if a.deps.History == nil {
		return nil, unavailable("recent history")
	}
	s, err := pathVar(r, "series")
	if err != nil {
		return nil, err
	}
	since, err := timeParam(r, "since")
	if err != nil {
		return nil, err
	}
	until, err := timeParam(r, "until")
	if err != nil {
		return nil, err
	}
	h, err := a.deps.History.History(r.Context(), s, since, until)
	if err != nil {
		return nil, err
	}
	if h.Points == nil {
		h.Points = []anomaly.HistoryPoint{}
	}
	return h, nil
}

// listSorted answers GET /api/v1/series?sort=...; ok is false when the
// request has no sort parameter.
func (a *API) listSorted(r *http.Request, limit int) (page anomaly.SeriesPage, ok bool, err error) {
	q := r.URL.Query()
	by := q.Get("sort")
	if by == "" || by == "series" {
		return page, false, nil
	}
	sl := a.deps.Sorted
	if sl == nil {
		sl, _ = a.deps.Engine.(SortedLister)
	}
	if sl == nil {
		return page, true, unavailable("sorting series")
	}
	page, err = sl.ListSorted(r.Context(), q.Get("match"), by, limit, q.Get("cursor"))
	return page, true, err
}
