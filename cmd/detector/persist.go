package main

import (
	"flag"
	"time"

	"github.com/anomalyd/detector/service"
	"github.com/anomalyd/detector/store"
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

// snapshotDir is where the snapshots live under --data-dir.
const snapshotDir = service.SnapshotDir
