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
	logged, err := s.resolvedInLog(ctx, stale)
	if err != nil {
		return fmt.Errorf("reconcile open anomalies: %w", err)
	}
	for _, a := range stale {
		if ev, ok := logged[a.ID]; ok {
			// The log holds its resolution already, and the timeline
			// lost it in a crash (its records and its cursor are
			// written apart): fold that event again and append nothing,
			// so subscribers are not told of a second resolution.
			s.timeline.Record(ev)
			continue
		}
		s.recorder.Record(anomaly.Event{Kind: anomaly.EventResolved, AnomalyID: a.ID, AnomalyKind: a.Kind,
			Series: a.Series, At: now, Verdict: anomaly.Verdict{Series: a.Series, Timestamp: now, State: anomaly.StateNormal}})
	}
	if len(stale) > 0 {
		s.log.Info("resolved anomalies left open by the previous run", "anomalies", len(stale), "refolded", len(logged))
	}
	return nil
}

// resolvedInLog returns the resolved events the event log still holds for
// the anomalies of stale, by id. It reads the retained log once, and only
// when there is something to reconcile.
func (s *Service) resolvedInLog(ctx context.Context, stale []anomaly.Anomaly) (map[anomaly.ID]anomaly.Event, error) {
	found := map[anomaly.ID]anomaly.Event{}
	if len(stale) == 0 {
		return found, nil
	}
	want := make(map[anomaly.ID]bool, len(stale))
	for _, a := range stale {
		want[a.ID] = true
	}
	for after, last := uint64(0), s.events.Last(); after < last; {
		batch, err := s.events.Read(ctx, after, 4096)
		if err != nil {
			return nil, err
		}
		if len(batch) == 0 {
			break
		}
		for _, e := range batch {
			if e.Event.Kind == anomaly.EventResolved && want[e.Event.AnomalyID] {
				found[e.Event.AnomalyID] = e.Event
			}
		}
		after = batch[len(batch)-1].Seq
	}
	return found, nil
}
