package history

import (
	"context"
	"time"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/series"
)

// Reader serves the history of live series: it checks the series with the
// engine (an unknown series gets no ring), then reads and watches it.
//
// With Older set, the part of a request's range older than the ring's
// oldest kept point (all of it when the ring has none) comes from Older,
// at most OlderMax points (default DefaultOlderMax) within OlderTimeout
// (default DefaultOlderTimeout). A request without since asks Older only
// when the ring has no point in range, for the most recent points of
// OlderRange (default DefaultOlderRange).
type Reader struct {
	Store        *Store
	Engine       *series.Engine
	Older        OlderHistory
	OlderMax     int
	OlderTimeout time.Duration
	OlderRange   time.Duration
}

// History returns the kept points of a live series within [since, until]
// (zero times: no bound) and makes sure it is recorded from now on. Errors
// are those of Engine.Latest: CodeInvalidSeries, CodeLimit, CodeNotFound.
func (r Reader) History(ctx context.Context, s string, since, until time.Time) (anomaly.History, error) {
	k, err := series.Parse(s, r.Engine.Limits())
	if err != nil {
		return anomaly.History{}, err
	}
	if _, err := r.Engine.Latest(ctx, k.Canonical()); err != nil {
		return anomaly.History{}, err
	}
	var sinceMs, untilMs int64
	if !since.IsZero() {
		sinceMs = since.UnixMilli()
	}
	if !until.IsZero() {
		untilMs = until.UnixMilli()
	}
	if r.Older == nil {
		pts := r.Store.Watch(k.Canonical(), k.Hash(), sinceMs, untilMs)
		return anomaly.History{Series: k.Canonical(), Watched: true, Points: pts}, nil
	}
	all := r.Store.Watch(k.Canonical(), k.Hash(), 0, 0)
	var oldest time.Time
	if len(all) > 0 {
		oldest = all[0].Timestamp
	}
	pts := make([]anomaly.HistoryPoint, 0, len(all))
	for _, p := range all {
		ms := p.Timestamp.UnixMilli()
		if (sinceMs != 0 && ms < sinceMs) || (untilMs != 0 && ms > untilMs) {
			continue
		}
		pts = append(pts, p)
	}
	h := anomaly.History{Series: k.Canonical(), Watched: true, Points: pts}
	r.older(ctx, &h, since, until, oldest)
	return h, nil
}
