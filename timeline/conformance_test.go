package timeline_test

import (
	"testing"

	"github.com/anomalyd/detector/timeline"
	"github.com/anomalyd/detector/timeline/timelinetest"
)

func TestConformance(t *testing.T) {
	timelinetest.Run(t, timelinetest.Backend{
		New: func(*testing.T) timeline.Timeline { return timeline.NewMemory(10_000) },
	})
}
