package api

import (
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/gorilla/mux"

	"github.com/anomalyd/detector/anomaly"
)

func unavailable(what string) error {
	return anomaly.Errorf(anomaly.CodeUnavailable, "%s is not configured on this server", what)
}

// points returns the required "points" array of a body read by
// readPointsBody, bounded by Config.MaxPoints.
func (a *API) points(b *body) (*pointBatch, error) {
	v, ok := b.present("points")
	if !ok {
		return nil, &anomaly.Error{Code: anomaly.CodeMissingField, Field: "points", Index: -1,
			Message: "points is required: an array"}
	}
	if b.pts == nil || v[0] != '[' {
		return nil, &anomaly.Error{Code: anomaly.CodeInvalidType, Field: "points", Index: -1,
			Message: fmt.Sprintf("points must be an array, got %s", jsonType(v))}
	}
	if b.pts.n > a.cfg.MaxPoints {
		return nil, &anomaly.Error{Code: anomaly.CodeLimit, Field: "points", Index: -1,
			Message: fmt.Sprintf("%d points in one request; the limit is %d: split the batch", b.pts.n, a.cfg.MaxPoints)}
	}
	return b.pts, nil
}

// ingest handles POST /api/v1/points. Each point is validated on its own;
// the valid ones go to the engine and the answer merges the API's item
// errors with the engine's, indices always into the request's array.
func (a *API) ingest(r *http.Request) (any, error) {
	if a.deps.Engine == nil {
		return nil, unavailable("the series engine")
	}
	shape := pointShape{series: true, checkFuture: true, now: a.deps.Now(), maxFuture: a.cfg.MaxFuture}
	body, err := readPointsBody(r, &shape, a.cfg.MaxPoints, "points")
	if err != nil {
		return nil, err
	}
	defer body.pts.release() // the engine keeps no sample (Ingester)
	pts, err := a.points(body)
	if err != nil {
		return nil, err
	}
	pts.finish(body.raw)
	samples, orig := pts.samples, pts.orig // orig[j] is the request index of samples[j]
	var itemErrs []anomaly.ItemError
	for _, perr := range pts.errs {
		itemErrs = append(itemErrs, perr.Item())
	}
	res := anomaly.IngestResult{}
	if len(samples) > 0 {
		if res, err = a.deps.Engine.Ingest(r.Context(), samples); err != nil {
			return nil, err
		}
	}
	if len(res.Errors) > 0 {
		for _, e := range res.Errors {
			if e.Index >= 0 && e.Index < len(orig) {
				e.Index = orig[e.Index]
			} else {
				a.log.Error("engine reported an item error with an index outside the batch",
					"index", e.Index, "batch", len(orig), "code", e.Code)
				e.Index = -1
			}
			itemErrs = append(itemErrs, e)
		}
		slices.SortStableFunc(itemErrs, func(x, y anomaly.ItemError) int { return x.Index - y.Index })
	}
	res.Rejected += len(itemErrs) - len(res.Errors)
	res.Errors = itemErrs
	if res.Errors == nil {
		res.Errors = []anomaly.ItemError{}
	}
	if res.Anomalies == nil {
		res.Anomalies = []anomaly.Verdict{}
	}
	a.capErrors(&res)
	return res, nil
}

// seriesParam returns the required query parameter "series".
func seriesParam(r *http.Request) (string, error) {
	s := r.URL.Query().Get("series")
	if s == "" {
		return "", &anomaly.Error{Code: anomaly.CodeMissingField, Field: "series", Index: -1,
			Message: `query parameter series is required, e.g. ?series=cpu{host="a"} (URL-escaped)`}
	}
	return s, nil
}

// latest handles GET /api/v1/detect?series=.
func (a *API) latest(r *http.Request) (any, error) {
	if a.deps.Engine == nil {
		return nil, unavailable("the series engine")
	}
	series, err := seriesParam(r)
	if err != nil {
		return nil, err
	}
	return a.deps.Engine.Latest(r.Context(), series)
}

// VerdictList is the answer of POST /api/v1/detect.
type VerdictList struct {
	Verdicts []anomaly.Verdict `json:"verdicts"`
}

// seriesPoints returns the points of a what-if or batch request, all of
// series. Since nothing is stored, the first bad point fails the whole
// request (400, with its index). Timestamps are not checked against the
// clock: scoring a hypothetical future point is a fair question. The batch
// is not released: the samples are the caller's.
func seriesPoints(pts *pointBatch, series string) ([]anomaly.Sample, error) {
	if err := pts.first(); err != nil {
		return nil, err
	}
	samples := pts.samples
	for i := range samples {
		samples[i].Series = series
	}
	return samples, nil
}

// whatIf handles POST /api/v1/detect.
func (a *API) whatIf(r *http.Request) (any, error) {
	if a.deps.Engine == nil {
		return nil, unavailable("the series engine")
	}
	body, err := readPointsBody(r, &pointShape{}, a.cfg.MaxPoints, "series", "points")
	if err != nil {
		return nil, err
	}
	series, err := body.str("series")
	if err != nil {
		return nil, err
	}
	if series == nil {
		return nil, &anomaly.Error{Code: anomaly.CodeMissingField, Field: "series", Index: -1, Message: "series is required"}
	}
	if *series == "" {
		return nil, &anomaly.Error{Code: anomaly.CodeInvalidSeries, Field: "series", Index: -1, Message: "series is empty"}
	}
	pts, err := a.points(body)
	if err != nil {
		return nil, err
	}
	samples, err := seriesPoints(pts, *series)
	if err != nil {
		return nil, err
	}
	vs, err := a.deps.Engine.WhatIf(r.Context(), *series, samples)
	if err != nil {
		return nil, err
	}
	if vs == nil {
		vs = []anomaly.Verdict{}
	}
	return VerdictList{Verdicts: vs}, nil
}

// batch handles POST /api/v1/detect/batch.
func (a *API) batch(r *http.Request) (any, error) {
	if a.deps.Batch == nil {
		return nil, unavailable("batch detection")
	}
	body, err := readPointsBody(r, &pointShape{}, a.cfg.MaxPoints, "series", "points", "period")
	if err != nil {
		return nil, err
	}
	pts, err := a.points(body)
	if err != nil {
		return nil, err
	}
	pp, err := body.number("period")
	if err != nil {
		return nil, err
	}
	var period int64
	if pp != nil {
		p := *pp
		if p < 0 || p != math.Trunc(p) || p > maxUnixSeconds {
			return nil, &anomaly.Error{Code: anomaly.CodeInvalidArgument, Field: "period", Index: -1,
				Message: fmt.Sprintf("period must be a whole number of seconds, 0 or more (0 or absent: detect it), got %v", p)}
		}
		period = int64(p)
	}
	sp, err := body.str("series")
	if err != nil {
		return nil, err
	}
	var series string
	if sp != nil {
		series = *sp
	}
	samples, err := seriesPoints(pts, series)
	if err != nil {
		return nil, err
	}
	res, err := a.deps.Batch(r.Context(), samples, period)
	if err != nil {
		return nil, err
	}
	if res.Verdicts == nil {
		res.Verdicts = []anomaly.Verdict{}
	}
	return res, nil
}

// limitParam returns the page size: the limit parameter, Config.DefaultLimit
// when absent or 0, lowered to Config.MaxLimit.
func (a *API) limitParam(r *http.Request) (int, error) {
	s := r.URL.Query().Get("limit")
	if s == "" {
		return a.cfg.DefaultLimit, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, &anomaly.Error{Code: anomaly.CodeInvalidArgument, Field: "limit", Index: -1, Err: err,
			Message: fmt.Sprintf("limit must be a whole number from 1 to %d, got %q", a.cfg.MaxLimit, s)}
	}
	if n == 0 {
		return a.cfg.DefaultLimit, nil
	}
	return min(n, a.cfg.MaxLimit), nil
}

// listSeries handles GET /api/v1/series?match=&limit=&cursor=.
func (a *API) listSeries(r *http.Request) (any, error) {
	if a.deps.Engine == nil {
		return nil, unavailable("the series engine")
	}
	limit, err := a.limitParam(r)
	if err != nil {
		return nil, err
	}
	q := r.URL.Query()
	page, sorted, err := a.listSorted(r, limit) // history.go
	if !sorted {
		page, err = a.deps.Engine.List(r.Context(), q.Get("match"), limit, q.Get("cursor"))
	}
	if err != nil {
		return nil, err
	}
	if page.Series == nil {
		page.Series = []anomaly.SeriesSummary{}
	}
	return page, nil
}

// pathVar returns a path variable, unescaped (routes match the escaped path).
func pathVar(r *http.Request, name string) (string, error) {
	s, err := url.PathUnescape(mux.Vars(r)[name])
	if err != nil {
		return "", &anomaly.Error{Code: anomaly.CodeInvalidArgument, Field: name, Index: -1, Err: err,
			Message: fmt.Sprintf("%s in the path is not validly URL-escaped", name)}
	}
	return s, nil
}

// getSeries handles GET /api/v1/series/{series}.
func (a *API) getSeries(r *http.Request) (any, error) {
	if a.deps.Engine == nil {
		return nil, unavailable("the series engine")
	}
	series, err := pathVar(r, "series")
	if err != nil {
		return nil, err
	}
	d, err := a.deps.Engine.Get(r.Context(), series)
	if err != nil {
		return nil, err
	}
	if d.RecentVerdicts == nil {
		d.RecentVerdicts = []anomaly.Verdict{}
	}
	if d.Baseline.Seasonal == nil {
		d.Baseline.Seasonal = []float64{}
	}
	return d, nil
}

// timeParam parses an optional time query parameter (RFC 3339 or Unix
// seconds).
func timeParam(r *http.Request, name string) (time.Time, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return time.Time{}, nil
	}
	ms, err := parseTimeText(s)
	if err != nil {
		return time.Time{}, &anomaly.Error{Code: anomaly.CodeInvalidArgument, Field: name, Index: -1, Err: err,
			Message: name + ": " + err.Message}
	}
	return time.UnixMilli(ms).UTC(), nil
}

// listAnomalies handles GET /api/v1/anomalies.
func (a *API) listAnomalies(r *http.Request) (any, error) {
	if a.deps.Timeline == nil {
		return nil, unavailable("the anomaly timeline")
	}
	q := r.URL.Query()
	tq := anomaly.TimelineQuery{Series: q.Get("series"), State: q.Get("state"), Cursor: q.Get("cursor")}
	var err error
	if tq.Since, err = timeParam(r, "since"); err != nil {
		return nil, err
	}
	if tq.Until, err = timeParam(r, "until"); err != nil {
		return nil, err
	}
	if !tq.Since.IsZero() && !tq.Until.IsZero() && !tq.Since.Before(tq.Until) {
		return nil, &anomaly.Error{Code: anomaly.CodeInvalidArgument, Field: "since", Index: -1,
			Message: "since must be before until"}
	}
	switch tq.State {
	case "", "open", "resolved":
	default:
		return nil, &anomaly.Error{Code: anomaly.CodeInvalidArgument, Field: "state", Index: -1,
			Message: fmt.Sprintf(`state must be "open" or "resolved", got %q`, tq.State)}
	}
	if tq.Limit, err = a.limitParam(r); err != nil {
		return nil, err
	}
	if tq.Series != "" && a.deps.Canonical != nil {
		if tq.Series, err = a.deps.Canonical(tq.Series); err != nil {
			return nil, err
		}
	}
	page, err := a.deps.Timeline.Query(r.Context(), tq)
	if err != nil {
		return nil, err
	}
	if page.Anomalies == nil {
		page.Anomalies = []anomaly.Anomaly{}
	}
	a.annotate(page.Anomalies)
	return page, nil
}

// getAnomaly handles GET /api/v1/anomalies/{id}.
func (a *API) getAnomaly(r *http.Request) (any, error) {
	if a.deps.Timeline == nil {
		return nil, unavailable("the anomaly timeline")
	}
	s, err := pathVar(r, "id")
	if err != nil {
		return nil, err
	}
	id, err := anomaly.ParseID(s)
	if err != nil {
		return nil, &anomaly.Error{Code: anomaly.CodeInvalidArgument, Field: "id", Index: -1, Err: err,
			Message: fmt.Sprintf("anomaly id must be a positive whole number, got %q", s)}
	}
	an, err := a.deps.Timeline.Get(r.Context(), id)
	if err == nil {
		as := []anomaly.Anomaly{an}
		a.annotate(as)
		an = as[0]
	}
	return an, err
}

// Status is the answer of /healthz and /readyz.
type Status struct {
	Status string `json:"status"`
}

func (a *API) healthz(*http.Request) (any, error) { return Status{Status: "ok"}, nil }

func (a *API) readyz(*http.Request) (any, error) {
	if a.deps.Ready != nil && !a.deps.Ready() {
		return nil, anomaly.Errorf(anomaly.CodeUnavailable, "not ready: starting or shutting down")
	}
	return Status{Status: "ready"}, nil
}
