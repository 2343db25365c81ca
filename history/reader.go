package history

import (
	"context"
	"time"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/series"
)

// Reader serves the history of live series: it checks the series with the
// engine (an unknown series gets no ring), then reads and watches it.
type Reader struct {
	Store  *Store
	Engine *series.Engine
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
	pts := r.Store.Watch(k.Canonical(), k.Hash(), sinceMs, untilMs)
	return anomaly.History{Series: k.Canonical(), Watched: true, Points: pts}, nil
}
