package series

import (
	"context"
	"time"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/models"
)

// No data: a series that stops reporting while its own cadence says it
// should is an anomaly, found by a sweep rather than by the next point
// (which may never come). A series that has learned MinPoints points and
// has sent nothing for more than Options.NoDataAfter times its typical step
// (models.Model.StepMs), by the engine clock, gets an anomaly opened with
// detector "no_data" and the last value it sent; its next point resolves it
// (and is then judged as usual). A series already in an anomaly is left
// alone. Open no-data anomalies are not kept in snapshots.

// SweepNoData opens a no-data anomaly for every series silent for more
// than factor times its step now, and returns how many it opened. The
// background sweep (Options.NoDataAfter) calls it every NoDataInterval; it
// is exported for tests and tools. It waits for the shards (behind their
// queued batches) or for ctx.
func (e *Engine) SweepNoData(ctx context.Context, factor float64) (int, error) {
	if !(factor > 0) {
		return 0, anomaly.Errorf(anomaly.CodeInvalidArgument, "no-data multiple must be positive")
	}
	return e.sweepShards(ctx, factor)
}

// startNoData starts the background no-data sweep when configured.
func (e *Engine) startNoData() {
	if e.opts.NoDataAfter <= 0 {
		return
	}
	e.workers.Add(1)
	go func() {
		defer e.workers.Done()
		t := time.NewTicker(e.opts.NoDataInterval)
		defer t.Stop()
		for {
			select {
			case <-e.stop:
				return
			case <-t.C:
			}
			ctx, cancel := context.WithTimeout(context.Background(), e.opts.NoDataInterval)
			if _, err := e.SweepNoData(ctx, e.opts.NoDataAfter); err != nil && ctx.Err() == nil {
				cancel()
				return // shut down
			}
			cancel()
		}
	}()
}

// sweepNoData is the shard's part of SweepNoData.
func (sh *shard) sweepNoData(factor float64) int {
	now := sh.e.now()
	cfg := &sh.e.cfg
	opened := 0
	sh.lockAll() // readpath.go
	for idx := range sh.nslots {
		sl := sh.slot(idx)
		if sl.keyLen == 0 || sl.anomalyID != 0 || sl.model.Points() == 0 || !sl.model.Cadenced(cfg) {
			continue
		}
		silent := time.Duration(now.UnixNano() - sl.lastUpdate)
		due := time.Duration(factor * sl.model.StepMs() * float64(time.Millisecond))
		if silent <= due {
			continue
		}
		_, v, last := sl.model.Last()
		r := models.Result{Expected: last.Expected, Lower: last.Lower, Upper: last.Upper, Score: 1,
			State: anomaly.StateAnomalous, Detector: models.DetectorNoData}
		sl.anomalyID = sh.e.newAnomalyID(sh.key(idx))
		sl.noData = true
		sh.event(anomaly.EventOpened, sl.anomalyID, idx, now.UnixMilli(), v, &r)
		opened++
	}
	sh.unlockAll()
	sh.flushEvents()
	return opened
}

// endNoData resolves the no-data anomaly of slot idx: the point (ts, v)
// with verdict r has arrived.
func (sh *shard) endNoData(idx int32, sl *slot, ts int64, v float64, r *models.Result) {
	sh.event(anomaly.EventResolved, sl.anomalyID, idx, ts, v, r)
	sl.anomalyID, sl.noData = 0, false
}
