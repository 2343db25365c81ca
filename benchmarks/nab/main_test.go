package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anomalyd/detector/benchmarks/nab/score"
)

// The null detector prints 0 for every profile, end to end through the CLI,
// and the report lists every file.
func TestCLINullScoresZero(t *testing.T) {
	root := nabRoot(t)
	report := filepath.Join(t.TempDir(), "report.md")
	results := filepath.Join(t.TempDir(), "results")
	var stdout, stderr bytes.Buffer
	code := cli(context.Background(), []string{"--nab", root, "--detector", "null", "--report", report, "--results", results, "--workers", "2"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("cli exit %d, stderr:\n%s", code, stderr.String())
	}
	for _, p := range []string{score.Standard, score.LowFP, score.LowFN} {
		found := false
		for _, line := range strings.Split(stdout.String(), "\n") {
			f := strings.Fields(line)
			if len(f) >= 2 && f[0] == p {
				found = true
				if f[1] != "0.0" {
					t.Errorf("null detector %s score = %s, want 0.0", p, f[1])
				}
			}
		}
		if !found {
			t.Errorf("output lacks profile %s:\n%s", p, stdout.String())
		}
	}
	md, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"# NAB report: detector `null`", "realTweets/Twitter_volume_AAPL.csv", "## reward_low_FN_rate"} {
		if !bytes.Contains(md, []byte(want)) {
			t.Errorf("report lacks %q", want)
		}
	}
	if !strings.Contains(stderr.String(), "29/29 files") {
		t.Errorf("stderr lacks the final progress line:\n%s", stderr.String())
	}
	b, err := os.ReadFile(filepath.Join(results, "null", "realKnownCause", "null_nyc_taxi.csv"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if lines[0] != "timestamp,value,anomaly_score,label" || len(lines) != 10321 || lines[1] != "2014-07-01 00:00:00,10844,0.5,0" {
		t.Errorf("null_nyc_taxi.csv: header %q, %d lines, first row %q; want NAB's header, 10321 lines, \"2014-07-01 00:00:00,10844,0.5,0\"",
			lines[0], len(lines), lines[1])
	}
}

// Scores derived from the windows (a detection at each window's left edge)
// score 100 on the whole shared corpus; a constant scores 0. This detector
// lives here only: the command's detector path never sees the labels.
func TestPerfectAndNullOnCorpus(t *testing.T) {
	set, err := loadSet(nabRoot(t), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	perfect := make([][]float64, len(set.files))
	null := make([][]float64, len(set.files))
	for i := range set.files {
		f := &set.files[i]
		perfect[i] = make([]float64, f.Len())
		null[i] = make([]float64, f.Len())
		for j := range null[i] {
			null[i][j] = 0.5
		}
		for _, w := range set.windows[f.Key()] {
			perfect[i][w.L] = 1
		}
	}
	for _, c := range []struct {
		name   string
		scores [][]float64
		want   float64
	}{{"perfect", perfect, 100}, {"null", null, 0}} {
		rep := score.Evaluate(set.files, c.scores, set.windows, set.profiles)
		if rep.Windows != 61 {
			t.Errorf("%s: scored windows = %d, want 61", c.name, rep.Windows)
		}
		for _, p := range rep.Profiles {
			if d := p.Score - c.want; d > 1e-9 || d < -1e-9 {
				t.Errorf("%s detector on the corpus, %s = %.12f, want %g", c.name, p.Name, p.Score, c.want)
			}
		}
	}
}

func TestCLIUnknownDetector(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := cli(context.Background(), []string{"--detector", "nope"}, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), "unknown detector") {
		t.Errorf("cli(--detector nope) = %d, stderr %q; want 2 and an unknown detector message", code, stderr.String())
	}
}
