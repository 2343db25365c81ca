package service

import (
	"context"
	"fmt"

	"github.com/anomalyd/detector/anomaly"
)

// reconcileOpen resolves the anomalies the timeline holds open but nothing
// will ever resolve after a restart: point anomalies whose series is not
// open under that id in the restored baselines (opened in the window a
// crash lost, or whose series was not restored), and peer outliers, whose
// groups are judged afresh. Each gets a resolved event at the time of the
// restart, appended to the event log like every other event.
func (s *Service) reconcileOpen(ctx context.Context) error {
	now := s.cfg.Now().UTC()
	var stale []anomaly.Anomaly
	q := anomaly.TimelineQuery{State: "open", Limit: 1000}
	for {
		page, err := s.feed.Query(ctx, q)
		if err != nil {
			return fmt.Errorf("reconcile open anomalies: %w", err)
		}
		for _, a := range page.Anomalies {
			if a.Kind == anomaly.KindPoint {
				if d, err := s.engine.Get(ctx, a.Series); err == nil && d.AnomalyID == a.ID {
					continue // still open in the restored baseline
				}
			}
			stale = append(stale, a)
		}
		if page.NextCursor == "" {
			break
		}
		q.Cursor = page.NextCursor
	}
	for _, a := range stale {
		s.recorder.Record(anomaly.Event{Kind: anomaly.EventResolved, AnomalyID: a.ID, AnomalyKind: a.Kind,
			Series: a.Series, At: now, Verdict: anomaly.Verdict{Series: a.Series, Timestamp: now, State: anomaly.StateNormal}})
	}
	if len(stale) > 0 {
		s.log.Info("resolved anomalies left open by the previous run", "anomalies", len(stale))
	}
	return nil
}
