package main

import (
	"log/slog"
	"os"
	"runtime/debug"

	"github.com/anomalyd/detector/history"
	"github.com/anomalyd/detector/series"
)

// setMemoryLimit sets the Go runtime's soft memory limit from the series
// cap (series.MemoryLimit) plus the recent-history budget, so that the
// collector keeps the heap near what the series need instead of letting
// per-request garbage double it (GOGC=100). A GOMEMLIMIT in the environment
// wins, and so does no cap (--max-series -1): then nothing is set. It
// returns the limit set, 0 for none.
func setMemoryLimit(cfg *Config, log *slog.Logger) int64 {
	if v := os.Getenv("GOMEMLIMIT"); v != "" {
		log.Info("memory limit from GOMEMLIMIT", "gomemlimit", v)
		return 0
	}
	lim := series.MemoryLimit(cfg.MaxSeries)
	if lim <= 0 {
		log.Info("no memory limit: the series are not capped (set GOMEMLIMIT)")
		return 0
	}
	hist := cfg.Console.HistoryBytes
	if hist <= 0 {
		hist = history.DefaultBytes
	}
	lim += hist
	debug.SetMemoryLimit(lim)
	log.Info("memory limit derived from --max-series", "max_series", cfg.MaxSeries, "bytes", lim)
	return lim
}
