// Package feedback takes people's labels on anomalies, applies them to the
// series' model and keeps the counts: per detector and label, and a running
// precision per detector.
//
// Labels: "anomaly" (a real incident), "expected" (real, but planned or
// known: maintenance, a deploy), "new_normal" (real, and the series stays
// at its new level: the model is rebased at once), "not_anomaly" (a false
// alarm: the series becomes less sensitive to the same kind of excursion).
// Precision per detector is the share of labels other than not_anomaly.
// An anomaly labelled again counts with its latest label (the model change
// of every label is applied, though); detector_feedback_total counts every
// label given. Counts live in memory (they restart at zero with the
// process).
package feedback

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/anomalyd/detector/anomaly"
)

// Labels are the accepted labels.
var Labels = []string{"anomaly", "not_anomaly", "expected", "new_normal"}

// Applier changes a series' model for a label (series.Engine.Feedback).
type Applier interface {
	Feedback(ctx context.Context, series, label, detector string) error
}

// Store applies and counts feedback. It is safe for concurrent use.
type Store struct {
	apply  Applier
	metric *prometheus.CounterVec
	mu     sync.Mutex
	counts map[string]map[string]int // detector -> label -> count
	latest map[anomaly.ID]string     // the label each anomaly has now (at most maxTracked)
}

// maxTracked bounds the anomalies whose label is remembered, so that a
// relabel replaces the earlier label in the counts; beyond it, labels on
// new anomalies are counted without being remembered.
const maxTracked = 100_000

// New returns a Store applying labels with apply; reg (optional) gets
// detector_feedback_total{detector,label}.
func New(apply Applier, reg prometheus.Registerer) (*Store, error) {
	s := &Store{apply: apply, counts: map[string]map[string]int{}, latest: map[anomaly.ID]string{},
		metric: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "detector_feedback_total",
			Help: "Feedback labels on anomalies, by the detector that fired and the label.",
		}, []string{"detector", "label"})}
	if reg != nil {
		if err := reg.Register(s.metric); err != nil {
			return nil, fmt.Errorf("feedback: metrics: %w", err)
		}
	}
	return s, nil
}

// DetectorCounts and Summary are the vocabulary's feedback counts.
type (
	DetectorCounts = anomaly.FeedbackCounts
	Summary        = anomaly.FeedbackSummary
)

// Record applies label to the series of anomaly a and counts it. Errors:
// CodeInvalidArgument for an unknown label or a peer-group anomaly,
// the Applier's, except CodeNotFound (the series is no longer live): the
// label is then counted all the same, since the verdict on the alert stands.
func (s *Store) Record(ctx context.Context, a anomaly.Anomaly, label string) (DetectorCounts, error) {
	if !slices.Contains(Labels, label) {
		return DetectorCounts{}, &anomaly.Error{Code: anomaly.CodeInvalidArgument, Field: "label", Index: -1,
			Message: fmt.Sprintf("label must be one of anomaly, not_anomaly, expected, new_normal; got %q", label)}
	}
	if a.Kind != anomaly.KindPoint {
		return DetectorCounts{}, anomaly.Errorf(anomaly.CodeInvalidArgument, "feedback is for point anomalies, this one is %s", a.Kind)
	}
	det := a.Detector
	if det == "" {
		det = "none"
	}
	if err := s.apply.Feedback(ctx, a.Series, label, det); err != nil && anomaly.ErrorCode(err) != anomaly.CodeNotFound {
		return DetectorCounts{}, err
	}
	s.mu.Lock()
	if s.counts[det] == nil {
		s.counts[det] = map[string]int{}
	}
	if prev, ok := s.latest[a.ID]; ok {
		s.counts[det][prev]-- // relabelled: the latest label counts
	}
	if _, ok := s.latest[a.ID]; ok || len(s.latest) < maxTracked {
		s.latest[a.ID] = label
	}
	s.counts[det][label]++
	c := s.countsLocked(det)
	s.mu.Unlock()
	s.metric.WithLabelValues(det, label).Inc()
	return c, nil
}

func (s *Store) countsLocked(det string) DetectorCounts {
	c := DetectorCounts{Detector: det, Labels: map[string]int{}}
	for _, l := range Labels {
		n := s.counts[det][l]
		c.Labels[l] = n
		c.Total += n
	}
	if c.Total > 0 {
		c.Precision = float64(c.Total-c.Labels["not_anomaly"]) / float64(c.Total)
	}
	return c
}

// Summary returns the counts of every detector that got feedback, by name.
func (s *Store) Summary() Summary {
	s.mu.Lock()
	defer s.mu.Unlock()
	sum := Summary{Detectors: []DetectorCounts{}}
	for det := range s.counts {
		sum.Detectors = append(sum.Detectors, s.countsLocked(det))
	}
	sort.Slice(sum.Detectors, func(i, j int) bool { return sum.Detectors[i].Detector < sum.Detectors[j].Detector })
	return sum
}
