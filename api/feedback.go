package api

import (
	"context"
	"net/http"

	"github.com/anomalyd/detector/anomaly"
)

// Feedback takes labels on anomalies (package feedback implements it). Implementations
// must be safe for concurrent use.
type Feedback interface {
	Record(ctx context.Context, a anomaly.Anomaly, label string) (anomaly.FeedbackCounts, error)
	Summary() anomaly.FeedbackSummary
}

// FeedbackRequest is the body of POST /api/v1/anomalies/{id}/feedback.
type FeedbackRequest struct {
	Label string `json:"label"`
}

// FeedbackAnswer is its answer: the anomaly, the label and the running
// counts of the detector that fired.
type FeedbackAnswer struct {
	AnomalyID anomaly.ID             `json:"anomaly_id"`
	Label     string                 `json:"label"`
	Detector  anomaly.FeedbackCounts `json:"detector"`
}

// postFeedback handles POST /api/v1/anomalies/{id}/feedback.
func (a *API) postFeedback(r *http.Request) (any, error) {
	if a.deps.Feedback == nil || a.deps.Timeline == nil {
		return nil, unavailable("feedback")
	}
	b, err := readBody(r, "label")
	if err != nil {
		return nil, err
	}
	var req FeedbackRequest
	if err := b.decodeInto(&req); err != nil {
		return nil, err
	}
	an, err := a.getAnomaly(r)
	if err != nil {
		return nil, err
	}
	got := an.(anomaly.Anomaly)
	c, err := a.deps.Feedback.Record(r.Context(), got, req.Label)
	if err != nil {
		return nil, err
	}
	return FeedbackAnswer{AnomalyID: got.ID, Label: req.Label, Detector: c}, nil
}

// getFeedback handles GET /api/v1/feedback: counts per detector and label
// with a running precision per detector.
func (a *API) getFeedback(*http.Request) (any, error) {
	if a.deps.Feedback == nil {
		return nil, unavailable("feedback")
	}
	return a.deps.Feedback.Summary(), nil
}
