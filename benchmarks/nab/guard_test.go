package main

import (
	"context"
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/anomalyd/detector/benchmarks/nab/corpus"
	"github.com/anomalyd/detector/benchmarks/nab/run"
	"github.com/anomalyd/detector/benchmarks/nab/score"
)

var update = flag.Bool("update", false, "rewrite testdata/guard.json with the standard score measured now")

const guardPath = "testdata/guard.json"

// guard is the recorded accuracy of the default model on a few NAB files.
type guard struct {
	Files    []string `json:"files"`
	Standard float64  `json:"standard"`
}

// nabRoot returns the shared NAB folder, skipping the test when it is
// missing, except in CI (CI=true) where a missing corpus is a failure.
func nabRoot(t *testing.T) string {
	t.Helper()
	root, err := corpus.DefaultRoot()
	if err == nil {
		_, err = os.Stat(filepath.Join(root, "data"))
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("NAB corpus not found (CI=true): %v", err)
		}
		t.Skipf("NAB corpus not found: %v", err)
	}
	return root
}

// TestGuardDefaultModel fails when the default model's standard NAB score on
// the guard files drops more than 2 points below the recorded figure.
// Re-record after an intended change with:
//
//	go test ./benchmarks/nab -run TestGuardDefaultModel -update
func TestGuardDefaultModel(t *testing.T) {
	root := nabRoot(t)
	b, err := os.ReadFile(guardPath)
	if err != nil {
		t.Fatal(err)
	}
	var g guard
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatalf("%s: %v", guardPath, err)
	}
	if len(g.Files) == 0 {
		t.Fatalf("%s lists no file", guardPath)
	}
	set, err := loadSet(root, "", g.Files)
	if err != nil {
		t.Fatal(err)
	}
	scores := run.Run(context.Background(), set.files, detectors["default"], 0, nil)
	rep := score.Evaluate(set.files, scores, set.windows, set.profiles)
	got := rep.Score(score.Standard)
	if math.IsNaN(got) {
		t.Fatalf("standard score is NaN: the guard files have no scored window")
	}
	if *update {
		g.Standard = math.Round(got*100) / 100
		out, _ := json.MarshalIndent(g, "", "  ")
		if err := os.WriteFile(guardPath, append(out, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("recorded standard score %.2f in %s", g.Standard, guardPath)
		return
	}
	t.Logf("standard score %.2f on %d files (recorded %.2f)", got, len(g.Files), g.Standard)
	if got < g.Standard-2 {
		t.Errorf("default model's standard NAB score on the guard files = %.2f, want >= %.2f (recorded %.2f minus 2)",
			got, g.Standard-2, g.Standard)
	}
}
