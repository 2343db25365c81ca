package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/peers"
	"github.com/anomalyd/detector/store"
	"github.com/anomalyd/detector/timeline"
)

// PersistConfig says where and how the service keeps its state across
// restarts. An empty DataDir keeps everything in memory.
type PersistConfig struct {
	DataDir string
	// TimelineRetention is how long a resolved anomaly is kept after it
	// resolved; default 30 days, negative keeps them until the count bound
	// (Config.MaxAnomalies) removes them.
	TimelineRetention time.Duration
}

func bindPersistFlags(fs *flag.FlagSet, c *PersistConfig) {
	fs.StringVar(&c.DataDir, "data-dir", "data", "directory for snapshots, the timeline and configuration (empty: memory only, lost on restart)")
	fs.DurationVar(&c.TimelineRetention, "timeline-retention", store.DefaultRetention,
		"with --data-dir: resolved anomalies are deleted this long after they resolved (negative: only --max-anomalies applies)")
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

var _ timelineBackend = (*store.Store)(nil)

// openTimeline opens the timeline for cfg: in memory without a data
// directory, otherwise the store in <data-dir>/detector.db (created with
// the directory when absent). A second process on the same directory
// fails within a second with an error saying the file is locked.
func openTimeline(cfg *Config, log *slog.Logger, reg prometheus.Registerer) (timelineBackend, error) {
	if cfg.Persist.DataDir == "" {
		return memoryTimeline{timeline.NewMemory(cfg.MaxAnomalies)}, nil
	}
	if err := os.MkdirAll(cfg.Persist.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	s, err := store.Open(filepath.Join(cfg.Persist.DataDir, store.FileName), store.Options{
		Retention:    cfg.Persist.TimelineRetention,
		MaxAnomalies: cfg.MaxAnomalies,
		Logger:       log,
		Registerer:   reg,
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}
