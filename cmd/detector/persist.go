package main

import (
	"context"
	"flag"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/peers"
	"github.com/anomalyd/detector/timeline"
)

// PersistConfig says where and how the service keeps its state across
// restarts. An empty DataDir keeps everything in memory.
type PersistConfig struct {
	DataDir string
}

func bindPersistFlags(fs *flag.FlagSet, c *PersistConfig) {
	fs.StringVar(&c.DataDir, "data-dir", "", "directory for snapshots, the timeline and configuration (empty: memory only)")
}

// timelineBackend is the anomaly timeline the service records to and reads
// from, with the peer rules kept beside it. Safe for concurrent use.
type timelineBackend interface {
	Record(anomaly.Event)
	Query(ctx context.Context, q anomaly.TimelineQuery) (anomaly.AnomalyPage, error)
	Get(ctx context.Context, id anomaly.ID) (anomaly.Anomaly, error)
	// MaxID is the highest anomaly id recorded, so that ids continue after
	// a restart.
	MaxID() anomaly.ID
	// Rules persists the peer rules; nil keeps them in memory.
	Rules() peers.RuleStore
	Close() error
}

// memoryTimeline is the in-memory timeline with nothing to persist.
type memoryTimeline struct{ *timeline.Memory }

func (memoryTimeline) MaxID() anomaly.ID      { return 0 }
func (memoryTimeline) Rules() peers.RuleStore { return nil }
func (memoryTimeline) Close() error           { return nil }

// openTimeline opens the timeline for cfg.
func openTimeline(cfg *Config, log *slog.Logger, reg prometheus.Registerer) (timelineBackend, error) {
	return memoryTimeline{timeline.NewMemory(cfg.MaxAnomalies)}, nil
}
