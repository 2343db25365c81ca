package main

import (
	"context"
	"log/slog"
	"runtime/debug"
	"testing"
)

func TestGCPercentFor(t *testing.T) {
	for _, c := range []struct {
		live uint64
		want int
	}{
		{0, 100},
		{1 << 20, 100},  // a small heap keeps Go's default
		{16 << 20, 100}, // the minimum headroom is the live heap itself
		{160 << 20, 10}, // 16 MiB over 160
		{690 << 20, 3},  // a million series: about 16 MiB over 690 (23 MiB)
		{7 << 30, 1},    // ten million: 1% of the live heap
		{1 << 40, 1},    // never below the share
	} {
		if got := gcPercentFor(c.live); got != c.want {
			t.Errorf("gcPercentFor(%d MiB) = %d, want %d", c.live>>20, got, c.want)
		}
	}
}

func TestGCTunerStartsOnlyWithADerivedLimit(t *testing.T) {
	old := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(old) })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	log := slog.New(slog.DiscardHandler)

	t.Setenv("GOGC", "")
	if startGCTuner(ctx, 0, log) {
		t.Error("tuner started without a memory limit")
	}
	t.Setenv("GOGC", "200")
	if startGCTuner(ctx, 1<<30, log) {
		t.Error("tuner started although GOGC is set")
	}
	t.Setenv("GOGC", "")
	if !startGCTuner(ctx, 1<<30, log) {
		t.Fatal("tuner did not start with a derived limit")
	}
	// The first setting is made before startGCTuner returns.
	if got := debug.SetGCPercent(100); got < gcPercentMin || got > gcPercentMax {
		t.Errorf("GOGC after start = %d, want within [%d, %d]", got, gcPercentMin, gcPercentMax)
	}
}
