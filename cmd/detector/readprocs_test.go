package main

import (
	"io"
	"log/slog"
	"runtime"
	"testing"
)

func TestReadProcsFlag(t *testing.T) {
	cfg, _, err := parseServe(nil, io.Discard)
	if err != nil || cfg.ReadProcs != 1 {
		t.Fatalf("default read procs = %d, %v; want 1", cfg.ReadProcs, err)
	}
	// The service is sized before the extra P is added: the shards and
	// the ingest slots follow the cores, not the raised GOMAXPROCS.
	if cfg.Shards != runtime.GOMAXPROCS(0) {
		t.Errorf("default shards = %d, want GOMAXPROCS %d", cfg.Shards, runtime.GOMAXPROCS(0))
	}
	if cfg, _, err = parseServe([]string{"--read-procs", "0"}, io.Discard); err != nil || cfg.ReadProcs != 0 {
		t.Fatalf("--read-procs 0 = %d, %v", cfg.ReadProcs, err)
	}
}

func TestAddReadProcs(t *testing.T) {
	p := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(p)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if got := addReadProcs(0, log); got != p || runtime.GOMAXPROCS(0) != p {
		t.Fatalf("addReadProcs(0) = %d, GOMAXPROCS %d; want %d unchanged", got, runtime.GOMAXPROCS(0), p)
	}
	if got := addReadProcs(1, log); got != p+1 || runtime.GOMAXPROCS(0) != p+1 {
		t.Fatalf("addReadProcs(1) = %d, GOMAXPROCS %d; want %d", got, runtime.GOMAXPROCS(0), p+1)
	}
	runtime.GOMAXPROCS(p)
	if got := addReadProcs(3, log); got != p+3 || runtime.GOMAXPROCS(0) != p+3 {
		t.Fatalf("addReadProcs(3) = %d, GOMAXPROCS %d; want %d", got, runtime.GOMAXPROCS(0), p+3)
	}
}
