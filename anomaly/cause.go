package anomaly

import "time"

// Cause is a change event (a deploy, a config push, a failover) recorded
// shortly before an anomaly on a series sharing its labels: a possible
// cause, listed beside the anomaly.
type Cause struct {
	EventID string            `json:"event_id"`
	Type    string            `json:"type"`
	Desc    string            `json:"desc,omitempty"`
	At      time.Time         `json:"at"`
	Labels  map[string]string `json:"labels"`
}
