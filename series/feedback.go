package series

import (
	"context"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/models"
)

// Feedback applies a person's label on an anomaly of series to its model:
// "new_normal" rebases it on its new level (models.Model.Rebase),
// "not_anomaly" makes it less sensitive to alerts of the detector named
// (models.Model.Desensitise); "anomaly" and "expected" change nothing. It
// takes the shard's lock like the shard goroutine does, so it is ordered
// with the points around it. CodeNotFound when the series is not live.
func (e *Engine) Feedback(ctx context.Context, series, label, detector string) error {
	k, sh, err := e.lookup(series)
	if err != nil {
		return err
	}
	sh.lockAll() // readpath.go
	defer sh.unlockAll()
	idx, ok := sh.find(k)
	if !ok {
		return notFound(k)
	}
	m := &sh.slot(idx).model
	c, _ := sh.readCfg(idx)
	switch label {
	case "new_normal":
		m.Rebase(c)
	case "not_anomaly":
		m.Desensitise(c, models.ParseDetector(detector))
	case "anomaly", "expected":
	default:
		return anomaly.Errorf(anomaly.CodeInvalidArgument, "unknown feedback label %q", label)
	}
	return nil
}
