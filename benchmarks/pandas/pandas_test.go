package main

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestSmoke runs the comparison on a small frame and checks that both
// pandas forms ran and flagged the same points, and that both ratios are
// printed. Without Debian's python3-pandas it skips, except under CI=true.
func TestSmoke(t *testing.T) {
	needPandas(t)
	var out bytes.Buffer
	if err := run(&out, 200, 120, 30, "/usr/bin/python3", "robustz.py"); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	text := out.String()
	t.Logf("\n%s", text)
	for _, want := range []string{"points: 24000 (200 series x 120)", "wide frame", "groupby", "detector rolling median/MAD z", "the same points as pandas' wide frame", "detector engine",
		"same workload, ratio vs wide frame: ", "same workload, ratio vs groupby: ", "full engine, ratio vs wide frame: ", "full engine, ratio vs groupby: "} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	// Both pandas forms and the streaming Go form compute the same
	// z-scores: they flag the same count (run also fails when the points
	// differ).
	if m := regexp.MustCompile(`(\d+) flagged`).FindAllStringSubmatch(text, -1); len(m) != 3 || m[0][1] != m[1][1] || m[1][1] != m[2][1] {
		t.Errorf("flagged counts %v, want three equal ones", m)
	}
}

// TestSameFlagsAsPandasAdversarial feeds robustz.py and rollingRun points
// that stress the order statistics: ties (values on a coarse grid),
// constant runs (MAD 0: ±Inf and 0/0 z-scores), NaN and ±Inf gaps and
// spikes, and checks that they flag exactly the same points.
func TestSameFlagsAsPandasAdversarial(t *testing.T) {
	needPandas(t)
	const nSeries, nPoints, window = 40, 300, 20
	rng := rand.New(rand.NewPCG(3, 5))
	vals := make([]float64, nSeries*nPoints)
	for tt := range nPoints {
		for s := range nSeries {
			var v float64
			switch s % 5 {
			case 0: // ties
				v = float64(rng.IntN(4))
			case 1: // constant runs with rare steps
				v = float64((tt / 37) % 3)
			case 2: // gaps
				v = rng.NormFloat64()
				switch rng.IntN(12) {
				case 0:
					v = math.NaN()
				case 1:
					v = math.Inf(1)
				case 2:
					v = math.Inf(-1)
				}
			case 3: // spikes on a grid
				v = math.Round(rng.NormFloat64() * 4)
				if rng.IntN(25) == 0 {
					v += 1e6
				}
			default:
				v = 100 + rng.NormFloat64()
			}
			vals[tt*nSeries+s] = v
		}
	}
	dir := t.TempDir()
	path, flaggedPath := filepath.Join(dir, "points.f64"), filepath.Join(dir, "flagged.i64")
	buf := make([]byte, 8*len(vals))
	for i, v := range vals {
		binary.LittleEndian.PutUint64(buf[8*i:], math.Float64bits(v))
	}
	if err := os.WriteFile(path, buf, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("/usr/bin/python3", "robustz.py", path, strconv.Itoa(nSeries), strconv.Itoa(nPoints), strconv.Itoa(window), flaggedPath).CombinedOutput()
	if err != nil {
		t.Fatalf("robustz.py: %v\n%s", err, out)
	}
	want, err := readIndices(flaggedPath)
	if err != nil {
		t.Fatal(err)
	}
	got := rollingRun(vals, nSeries, nPoints, window).flagged
	if len(want) < 100 {
		t.Fatalf("pandas flagged only %d points; the input should stress more", len(want))
	}
	if onlyGo, onlyPandas := diffSorted(got, want); onlyGo+onlyPandas > 0 || len(got) != len(want) {
		t.Fatalf("flagged %d points, pandas %d: %d only here, %d only in pandas'", len(got), len(want), onlyGo, onlyPandas)
	}
	t.Logf("%d points flagged by both", len(got))
}

// needPandas skips without Debian's python3-pandas, except under CI=true.
func needPandas(t *testing.T) {
	t.Helper()
	if err := exec.Command("/usr/bin/python3", "-c", "import pandas").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("python3-pandas is missing (.ci/run installs it): %v", err)
		}
		t.Skipf("python3-pandas is missing: %v", err)
	}
}
