package series

import "unsafe"

// Memory budget of a capped engine, for MemoryLimit.
const (
	// memBase covers what does not grow with the series: request buffers
	// and batches in flight, the runtime, the other packages' fixed parts.
	memBase = 64 << 20
	// memPerSeriesExtra is what a series costs beside its slot: an index
	// entry (8 bytes in a table at most 3/4 full, 16 at worst) and its
	// key in the arena with slack: about 144 bytes.
	memPerSeriesExtra = 160
)

// MemoryLimit returns a soft memory limit (runtime/debug.SetMemoryLimit,
// the GOMEMLIMIT of the Go runtime) for a process whose engine holds up to
// maxSeries series: a fixed 64 MiB plus maxSeries times the slot size and
// 160 bytes (index entry, a key of up to about 144 bytes).
// Without such a limit the collector lets the heap grow to twice the live
// series state (GOGC=100) before it collects the per-request garbage, so
// the resident set is about twice what the series need; with it the
// collector runs more often as the heap nears the limit, which is cheap
// here because the series state is pointer-free and is not scanned. It
// returns 0 (no limit) for maxSeries <= 0 (no cap). Series with much longer
// keys, or large peer windows and history budgets on top, need a higher
// limit: set GOMEMLIMIT.
func MemoryLimit(maxSeries int) int64 {
	if maxSeries <= 0 {
		return 0
	}
	return memBase + int64(maxSeries)*(int64(unsafe.Sizeof(slot{}))+memPerSeriesExtra)
}
