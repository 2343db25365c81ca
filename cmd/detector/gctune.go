package main

import (
	"context"
	"log/slog"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// The collector's headroom: how far the heap may grow past the live heap
// before the next collection. Go's default (GOGC=100) lets it grow by the
// live heap itself, so that with a million series the per-request garbage
// fills the memory limit derived from --max-series (series.MemoryLimit,
// which holds 10% spare series and a generous estimate per series): the
// resident set then sits at that limit, not at what the series need. The
// series state is pointer-free (a collection does not scan it), so
// collecting more often costs little; gcTuner sets GOGC after each look at
// the live heap so that the headroom is gcHeadroomMin or gcHeadroomShare of
// the live heap, whichever is more, and never more than GOGC=100 gives.
//
// With --ingest-nice the minimum is gcHeadroomNice. A collection's
// stop-the-world phases wait for every thread running Go code to stop,
// and the ingest threads then run at a low kernel priority: while verdict
// reads and other processes hold the cores, the collector waits for them
// to be given a core, and the reads wait for the collector. Fewer
// collections, fewer such waits. At a million series with --ingest-nice
// idle the collector ran about every 200 ms with 16 MiB (JSON ingest's
// per-request garbage is some 70 MB/s), and the read p99 during ingest was
// 3.3-3.8 ms with 16 MiB against 2.4-2.9 ms with 64 MiB in three pairs of
// harness runs (docs/operations.md), for about 50 bytes more RSS per
// series at a million series (666-672 B against 619). Without
// --ingest-nice the same change did not move the tail (two pairs).
const (
	gcHeadroomMin   = 16 << 20
	gcHeadroomNice  = 64 << 20
	gcHeadroomShare = 0.01
	gcTuneEvery     = 250 * time.Millisecond
	gcPercentMin    = 1
	gcPercentMax    = 100
)

// gcHeadroomFor returns the minimum headroom for a service whose ingest
// threads run at nice value nice (--ingest-nice; 0 when off).
func gcHeadroomFor(nice int) uint64 {
	if nice != 0 {
		return gcHeadroomNice
	}
	return gcHeadroomMin
}

// gcPercentFor returns the GOGC that gives a heap of live bytes its
// headroom, at least minHead bytes.
func gcPercentFor(live, minHead uint64) int {
	if live == 0 {
		return gcPercentMax
	}
	head := max(float64(minHead), gcHeadroomShare*float64(live))
	p := int(100*head/float64(live) + 0.999)
	return min(max(p, gcPercentMin), gcPercentMax)
}

// startGCTuner keeps GOGC at gcPercentFor of the live heap, with at least
// minHead bytes of headroom, until ctx ends, when the memory limit was
// derived from the series cap (limit > 0) and GOGC is not set in the
// environment (then the user's GOGC stands). It returns whether it
// started.
func startGCTuner(ctx context.Context, limit int64, minHead uint64, log *slog.Logger) bool {
	if limit <= 0 || os.Getenv("GOGC") != "" {
		return false
	}
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	cur := -1
	tune := func() {
		metrics.Read(sample)
		if sample[0].Value.Kind() != metrics.KindUint64 {
			return
		}
		p := gcPercentFor(sample[0].Value.Uint64(), minHead)
		// A change of a few percent of the headroom is not worth a
		// change of the pacer's goal.
		if cur < 0 || p*10 < cur*9 || p*10 > cur*11 {
			debug.SetGCPercent(p)
			cur = p
		}
	}
	tune()
	log.Info("collector headroom follows the live heap", "min_bytes", minHead, "share", gcHeadroomShare)
	go func() {
		t := time.NewTicker(gcTuneEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				tune()
			}
		}
	}()
	return true
}
