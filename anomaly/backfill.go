package anomaly

import "time"

// BackfillRequest asks for history to be read and learned. Query is a Flux
// query (empty: the configured one); it may use v.timeRangeStart and
// v.timeRangeStop, which cover the last Range. Match, when set, keeps only
// the series it selects: a series text or a label selector such as
// {host="a"}.
type BackfillRequest struct {
	Query string        `json:"query,omitempty"`
	Range time.Duration `json:"-"`
	Match string        `json:"match,omitempty"`
}

// BackfillStatus is the progress of one backfill job.
type BackfillStatus struct {
	ID         int        `json:"id"`
	State      string     `json:"state"` // running, done or failed
	Match      string     `json:"match,omitempty"`
	Start      time.Time  `json:"range_start"`
	Stop       time.Time  `json:"range_stop"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
	Rows       int64      `json:"rows"`     // records read from the query
	Series     int        `json:"series"`   // distinct series fed
	Accepted   int64      `json:"accepted"` // points learned
	Rejected   int64      `json:"rejected"` // points the engine refused (e.g. older than the series' last point)
	Skipped    int64      `json:"skipped"`  // records without a numeric value or outside Match
	Error      string     `json:"error,omitempty"`
}
