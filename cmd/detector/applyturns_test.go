package main

import (
	"io"
	"testing"
)

func TestApplyTurnsFlag(t *testing.T) {
	cfg, _, err := parseServe(nil, io.Discard)
	if err != nil || cfg.ApplyTurns != 0 {
		t.Fatalf("default apply turns = %d, %v; want 0 (every shard applies)", cfg.ApplyTurns, err)
	}
	if cfg, _, err = parseServe([]string{"--apply-turns", "1"}, io.Discard); err != nil || cfg.ApplyTurns != 1 {
		t.Fatalf("--apply-turns 1 = %d, %v", cfg.ApplyTurns, err)
	}
}
