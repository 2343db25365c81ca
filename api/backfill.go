package api

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/anomalyd/detector/anomaly"
)

// Backfiller runs backfills of history (from InfluxDB). Implementations
// must be safe for concurrent use. Start returns at once with the new
// job's status; CodeConflict while another job runs, CodeMissingField
// without a query, CodeInvalidArgument for a bad match.
type Backfiller interface {
	Start(ctx context.Context, req anomaly.BackfillRequest) (anomaly.BackfillStatus, error)
	Jobs() []anomaly.BackfillStatus
}

// BackfillJobs is the answer of GET /api/v1/backfill.
type BackfillJobs struct {
	Jobs []anomaly.BackfillStatus `json:"jobs"`
}

func (a *API) backfillRoutes(r *mux.Router) {
	r.Handle("/api/v1/backfill", a.wrap(a.startBackfill)).Methods(http.MethodPost)
	r.Handle("/api/v1/backfill", a.wrap(a.listBackfills)).Methods(http.MethodGet)
}

// startBackfill handles POST /api/v1/backfill
// {"match":"<series or selector>","range":"14d","query":"<flux>"}, every
// field optional; 202 with the job's status.
func (a *API) startBackfill(r *http.Request) (any, error) {
	if a.deps.Backfill == nil {
		return nil, unavailable("backfill from InfluxDB (--influx-url)")
	}
	b, err := readBody(r, "match", "range", "query")
	if err != nil {
		return nil, err
	}
	var req anomaly.BackfillRequest
	if s, err := b.str("match"); err != nil {
		return nil, err
	} else if s != nil {
		req.Match = *s
	}
	if s, err := b.str("query"); err != nil {
		return nil, err
	} else if s != nil {
		req.Query = *s
	}
	if s, err := b.str("range"); err != nil {
		return nil, err
	} else if s != nil {
		if req.Range, err = ParseRange(*s); err != nil {
			return nil, &anomaly.Error{Code: anomaly.CodeInvalidArgument, Field: "range", Index: -1, Message: err.Error()}
		}
	}
	st, err := a.deps.Backfill.Start(r.Context(), req)
	if err != nil {
		return nil, err
	}
	return withStatus{status: http.StatusAccepted, body: st}, nil
}

// listBackfills handles GET /api/v1/backfill: recent jobs, newest first.
func (a *API) listBackfills(*http.Request) (any, error) {
	if a.deps.Backfill == nil {
		return nil, unavailable("backfill from InfluxDB (--influx-url)")
	}
	jobs := a.deps.Backfill.Jobs()
	if jobs == nil {
		jobs = []anomaly.BackfillStatus{}
	}
	return BackfillJobs{Jobs: jobs}, nil
}

// ParseRange parses a duration with an optional day suffix: "14d", "36h",
// "90m", "1d12h".
func ParseRange(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	var days time.Duration
	if i := strings.IndexByte(s, 'd'); i > 0 {
		n, err := strconv.Atoi(s[:i])
		if err != nil || n < 0 || n > 36500 {
			return 0, &rangeError{s}
		}
		days, s = time.Duration(n)*24*time.Hour, s[i+1:]
	}
	var rest time.Duration
	if s != "" {
		var err error
		if rest, err = time.ParseDuration(s); err != nil || rest < 0 {
			return 0, &rangeError{s}
		}
	}
	if days+rest <= 0 {
		return 0, &rangeError{s}
	}
	return days + rest, nil
}

type rangeError struct{ s string }

func (e *rangeError) Error() string {
	return "invalid range " + strconv.Quote(e.s) + ": want a positive duration such as 14d, 36h or 1d12h"
}
