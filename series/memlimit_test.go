package series

import (
	"testing"
	"unsafe"
)

// benchMemoryLimit is the memory limit BenchmarkEngineMemory runs with for
// a server sized for maxSeries series.
func benchMemoryLimit(maxSeries int) int64 { return MemoryLimit(maxSeries) }

func TestMemoryLimit(t *testing.T) {
	if got := MemoryLimit(0); got != 0 {
		t.Errorf("MemoryLimit(0) = %d, want 0 (no cap, no limit)", got)
	}
	if got := MemoryLimit(-1); got != 0 {
		t.Errorf("MemoryLimit(-1) = %d, want 0", got)
	}
	slot := int64(unsafe.Sizeof(slot{}))
	a, b := MemoryLimit(1_000_000), MemoryLimit(2_000_000)
	if per := (b - a) / 1_000_000; per != slot+memPerSeriesExtra {
		t.Errorf("MemoryLimit grows by %d bytes per series, want slot %d + %d", per, slot, memPerSeriesExtra)
	}
	if a <= 1_000_000*slot {
		t.Errorf("MemoryLimit(1e6) = %d, below the slots alone", a)
	}
}
