package anomaly

import "time"

// HistoryPoint is one recent point of a series with its verdict, as kept for
// drawing. Expected, Lower, Upper and Score are kept in single precision.
type HistoryPoint struct {
	Timestamp time.Time `json:"timestamp"`
	Value     float64   `json:"value"`
	Expected  float64   `json:"expected"`
	Lower     float64   `json:"lower"`
	Upper     float64   `json:"upper"`
	Score     float64   `json:"score"`
	State     State     `json:"state"`
	Detector  string    `json:"detector"`
	AnomalyID ID        `json:"anomaly_id"`
}

// History is the answer of GET /api/v1/series/{series}/history: the points
// kept for the series, oldest first. Watched says the series is now being
// recorded (it may have no point yet when it was not recorded before).
// Older, when set, says how the points older than the ring were served:
// "unavailable: <reason>" (only the ring's points are in Points) or
// "truncated: ..." (only the most recent older points are in Points).
type History struct {
	Series  string         `json:"series"`
	Watched bool           `json:"watched"`
	Points  []HistoryPoint `json:"points"`
	Older   string         `json:"older,omitempty"`
}
