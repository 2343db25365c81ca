package anomaly

import "time"

// IngestResult is the outcome of one ingested batch. Errors lists the
// rejected items in index order; Anomalies the verdicts of accepted points
// whose state is anomalous, in batch order.
type IngestResult struct {
	Accepted int         `json:"accepted"`
	Rejected int         `json:"rejected"`
	Errors   []ItemError `json:"errors"`
	// ErrorsOmitted counts the item errors beyond the ones listed (an
	// answer lists the first ones only, so that it stays small).
	ErrorsOmitted int       `json:"errors_omitted,omitempty"`
	Anomalies     []Verdict `json:"anomalies"`
}

// SeriesSummary is one row of a series listing.
type SeriesSummary struct {
	Series        string    `json:"series"`
	State         State     `json:"state"`
	Points        uint64    `json:"points"`
	LastTimestamp time.Time `json:"last_timestamp"`
	LastValue     float64   `json:"last_value"`
	Expected      float64   `json:"expected"`
	Score         float64   `json:"score"`
	AnomalyID     ID        `json:"anomaly_id"`
}

// SeriesPage is one page of a series listing. NextCursor is empty on the
// last page.
type SeriesPage struct {
	Series     []SeriesSummary `json:"series"`
	NextCursor string          `json:"next_cursor"`
}

// Baseline describes what a series has learned, for people to read. Its
// fields are model-independent; Components carries model-specific named
// numbers (for example "trend_per_hour").
type Baseline struct {
	Level    float64 `json:"level"`
	Scale    float64 `json:"scale"`
	Expected float64 `json:"expected"`
	Lower    float64 `json:"lower"`
	Upper    float64 `json:"upper"`
	// PeriodSeconds is the detected cycle (86400 daily, 604800 weekly) or 0.
	PeriodSeconds int64 `json:"period_seconds"`
	// Seasonal is the additive seasonal profile over one period, in
	// equally sized buckets starting at the period's origin (midnight UTC,
	// Monday for weekly). Empty when no cycle was found.
	Seasonal   []float64          `json:"seasonal"`
	Components map[string]float64 `json:"components,omitempty"`
}

// SeriesDetail is everything the service knows about one series.
type SeriesDetail struct {
	SeriesSummary
	Model          string    `json:"model"`
	Baseline       Baseline  `json:"baseline"`
	RecentVerdicts []Verdict `json:"recent_verdicts"`
}

// TimelineQuery selects anomalies on the timeline. Zero values mean "no
// filter"; State is "", "open" or "resolved".
type TimelineQuery struct {
	Series string
	Since  time.Time
	Until  time.Time
	State  string
	Limit  int
	Cursor string
}

// AnomalyPage is one page of the timeline, newest first.
type AnomalyPage struct {
	Anomalies  []Anomaly `json:"anomalies"`
	NextCursor string    `json:"next_cursor"`
}

// BatchResult is the answer of stateless detection over a series the caller
// supplies: the cycle used (0 when none) and one verdict per input point, in
// input order.
type BatchResult struct {
	PeriodSeconds int64     `json:"period_seconds"`
	Anomalies     int       `json:"anomalies"`
	Verdicts      []Verdict `json:"verdicts"`
}

// Page sizes of every listing (series, timeline): the page a request
// without a limit gets, and the largest it may ask for (larger limits are
// lowered to it). Defined once here for the API and every backend.
const (
	DefaultPageLimit = 100
	MaxPageLimit     = 1000
)
