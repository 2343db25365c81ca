package main

import (
	"context"
	"io"
	"log/slog"
	"runtime/debug"
	"testing"
)

func TestGCPercentFor(t *testing.T) {
	for _, c := range []struct {
		live, min uint64
		want      int
	}{
		{0, gcHeadroomMin, 100},
		{1 << 20, gcHeadroomMin, 100},  // a small heap keeps Go's default
		{16 << 20, gcHeadroomMin, 100}, // the minimum headroom is the live heap itself
		{160 << 20, gcHeadroomMin, 10}, // 16 MiB over 160
		{690 << 20, gcHeadroomMin, 3},  // a million series: about 16 MiB over 690 (23 MiB)
		{7 << 30, gcHeadroomMin, 1},    // ten million: 1% of the live heap
		{1 << 40, gcHeadroomMin, 1},    // never below the share
		// --ingest-nice: 64 MiB
		{64 << 20, gcHeadroomNice, 100},
		{530 << 20, gcHeadroomNice, 13}, // a million series: 64 MiB over 530 (69 MiB)
		{7 << 30, gcHeadroomNice, 1},    // ten million: the share is more
	} {
		if got := gcPercentFor(c.live, c.min); got != c.want {
			t.Errorf("gcPercentFor(%d MiB, min %d MiB) = %d, want %d", c.live>>20, c.min>>20, got, c.want)
		}
	}
}

func TestGCHeadroomFollowsIngestNice(t *testing.T) {
	for _, c := range []struct {
		args []string
		want uint64
	}{
		{nil, gcHeadroomMin},
		{[]string{"--ingest-nice", "10"}, gcHeadroomNice},
		{[]string{"--ingest-nice", "idle"}, gcHeadroomNice},
	} {
		cfg, _, err := parseServe(c.args, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if got := gcHeadroomFor(cfg.IngestNice); got != c.want {
			t.Errorf("%v: headroom %d MiB, want %d", c.args, got>>20, c.want>>20)
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
	if startGCTuner(ctx, 0, gcHeadroomMin, log) {
		t.Error("tuner started without a memory limit")
	}
	t.Setenv("GOGC", "200")
	if startGCTuner(ctx, 1<<30, gcHeadroomMin, log) {
		t.Error("tuner started although GOGC is set")
	}
	t.Setenv("GOGC", "")
	if !startGCTuner(ctx, 1<<30, gcHeadroomMin, log) {
		t.Fatal("tuner did not start with a derived limit")
	}
	// The first setting is made before startGCTuner returns.
	if got := debug.SetGCPercent(100); got < gcPercentMin || got > gcPercentMax {
		t.Errorf("GOGC after start = %d, want within [%d, %d]", got, gcPercentMin, gcPercentMax)
	}
}
