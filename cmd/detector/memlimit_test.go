package main

import (
	"log/slog"
	"math"
	"runtime/debug"
	"testing"

	"github.com/anomalyd/detector/history"
	"github.com/anomalyd/detector/series"
)

func TestSetMemoryLimit(t *testing.T) {
	old := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(old) })
	log := slog.New(slog.DiscardHandler)

	t.Setenv("GOMEMLIMIT", "")
	cfg := Config{MaxSeries: 200_000}
	want := series.MemoryLimit(200_000) + history.DefaultBytes
	if got := setMemoryLimit(&cfg, log); got != want {
		t.Errorf("setMemoryLimit(max-series 200000) = %d, want %d", got, want)
	}
	if got := debug.SetMemoryLimit(-1); got != want {
		t.Errorf("runtime memory limit = %d, want %d", got, want)
	}

	debug.SetMemoryLimit(math.MaxInt64)
	cfg = Config{MaxSeries: -1}
	if got := setMemoryLimit(&cfg, log); got != 0 || debug.SetMemoryLimit(-1) != math.MaxInt64 {
		t.Errorf("setMemoryLimit(no cap) = %d, limit %d; want none set", got, debug.SetMemoryLimit(-1))
	}

	t.Setenv("GOMEMLIMIT", "3GiB")
	cfg = Config{MaxSeries: 200_000}
	if got := setMemoryLimit(&cfg, log); got != 0 || debug.SetMemoryLimit(-1) != math.MaxInt64 {
		t.Errorf("setMemoryLimit with GOMEMLIMIT set = %d, limit %d; want the user's limit kept", got, debug.SetMemoryLimit(-1))
	}
}
