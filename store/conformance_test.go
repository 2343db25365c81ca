package store

import (
	"testing"
	"time"

	"github.com/anomalyd/detector/timeline"
	"github.com/anomalyd/detector/timeline/timelinetest"
)

// TestConformance runs the timeline suite against the store, with events
// written to the file (Sync) at the suite's flush points, so that both the
// in-memory overlay and the file answer.
func TestConformance(t *testing.T) {
	timelinetest.Run(t, timelinetest.Backend{
		New:   func(t *testing.T) timeline.Timeline { return openStore(t, t.TempDir(), Options{MaxAnomalies: -1}) },
		Flush: func(t *testing.T, tl timeline.Timeline) { syncStore(t, tl.(*Store)) },
	})
}

// TestConformanceFlushing runs the suite with the writer flushing every
// millisecond, concurrently with the suite's records and queries.
func TestConformanceFlushing(t *testing.T) {
	timelinetest.Run(t, timelinetest.Backend{
		New: func(t *testing.T) timeline.Timeline {
			return openStore(t, t.TempDir(), Options{MaxAnomalies: -1, FlushInterval: time.Millisecond, FlushAnomalies: 16})
		},
	})
}
