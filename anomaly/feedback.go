package anomaly

// FeedbackCounts is the feedback people gave on one detector's anomalies:
// the count per label ("anomaly", "not_anomaly", "expected",
// "new_normal"), the total and the running precision (the share of labels
// other than not_anomaly).
type FeedbackCounts struct {
	Detector  string         `json:"detector"`
	Labels    map[string]int `json:"labels"`
	Total     int            `json:"total"`
	Precision float64        `json:"precision"`
}

// FeedbackSummary is every detector's counts, by detector name.
type FeedbackSummary struct {
	Detectors []FeedbackCounts `json:"detectors"`
}
