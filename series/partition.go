package series

import (
	"context"
)

// ExportMatching is Export restricted to the series whose canonical key
// keep accepts: the scaled-out service checkpoints one Kafka partition's
// series with it. keep runs under a shard's read lock and must be cheap
// and must not call the engine. The slice passed to fn is reused.
func (e *Engine) ExportMatching(ctx context.Context, keep func(key string) bool, fn func([]SeriesState) error) (ExportStats, error) {
	var out []SeriesState
	return e.Export(ctx, 0, func(states []SeriesState) error {
		out = out[:0]
		for i := range states {
			if keep(states[i].Key) {
				out = append(out, states[i])
			}
		}
		if len(out) == 0 {
			return nil
		}
		return fn(out)
	})
}

// Drop removes the series whose canonical key drop accepts, without
// resolving their open anomalies or counting an eviction: the series did
// not end, it moved to another node (a Kafka partition handed over),
// which restores it with its open anomaly. drop runs under the shard's
// lock and must be cheap and must not call the engine. It returns the
// number of series removed. Safe for concurrent use with ingest.
func (e *Engine) Drop(drop func(key string) bool) int {
	n := 0
	for _, sh := range e.shards {
		sh.lockAll() // readpath.go
		for i := range sh.nslots {
			if !sh.used(i) || !drop(sh.key(i)) {
				continue
			}
			sh.remove(i)
			n++
		}
		sh.unlockAll()
	}
	return n
}
