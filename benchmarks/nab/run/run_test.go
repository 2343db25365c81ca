package run

import (
	"context"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/anomalyd/detector/benchmarks/nab/corpus"
)

func testFiles(t *testing.T) []corpus.File {
	t.Helper()
	var files []corpus.File
	for i, content := range []string{
		// A repeated and a backwards timestamp, CRLF, no final newline.
		"timestamp,value\r\n2014-01-01 00:00:00,1\r\n2014-01-01 00:05:00,2\r\n2014-01-01 00:05:00,3\r\n2014-01-01 00:01:00,4",
		"timestamp,value\n2014-01-01 00:00:00,10\n2014-01-01 00:05:00,20\n",
		"timestamp,value\n2014-01-01 00:00:00,-5\n",
	} {
		f, err := corpus.Parse("cat", string(rune('a'+i)), []byte(content))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	return files
}

// echo is a detector whose score encodes what it was given: the row's
// position in its own stream and the value, so the test can check order.
func echo() Detector {
	n := 0
	return func(tsMs int64, v float64) float64 {
		n++
		return float64(n)/100 + v/1000
	}
}

func TestRunKeepsEveryRowInOrder(t *testing.T) {
	files := testFiles(t)
	var calls, last atomic.Int64
	got := Run(context.Background(), files, echo, 2, func(done, total int) {
		calls.Add(1)
		last.Store(int64(done*100 + total))
	})
	for i, f := range files {
		if len(got[i]) != f.Len() {
			t.Fatalf("file %s: %d scores, want %d", f.Key(), len(got[i]), f.Len())
		}
		for j, v := range f.Values {
			want := float64(j+1)/100 + v/1000
			if want < 0 {
				want = 0
			}
			if math.Abs(got[i][j]-want) > 1e-12 {
				t.Errorf("file %s row %d: score %g, want %g", f.Key(), j, got[i][j], want)
			}
		}
	}
	if calls.Load() != 3 || last.Load() != 303 {
		t.Errorf("progress calls = %d, last (done*100+total) = %d, want 3 and 303", calls.Load(), last.Load())
	}
}

func TestRunCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	got := Run(ctx, testFiles(t), echo, 1, nil)
	ran := 0
	for _, s := range got {
		if s != nil {
			ran++
		}
	}
	if len(got) != 3 || ran != 0 {
		t.Errorf("Run(cancelled) ran %d of %d files, want 0", ran, len(got))
	}
}

func TestClamp(t *testing.T) {
	for _, c := range []struct{ in, want float64 }{
		{-1, 0}, {0, 0}, {0.25, 0.25}, {1, 1}, {7, 1}, {math.NaN(), 0}, {math.Inf(1), 1}, {math.Inf(-1), 0},
	} {
		if got := Clamp(c.in); got != c.want {
			t.Errorf("Clamp(%g) = %g, want %g", c.in, got, c.want)
		}
	}
}

func TestWriteResults(t *testing.T) {
	files := testFiles(t)
	scores := [][]float64{{0, 0.5, 1, 0.125}, {0.25, 0.75}, nil}
	dir := t.TempDir()
	label := func(f corpus.File) []bool {
		in := make([]bool, f.Len())
		if f.Name == "a" {
			in[1], in[2] = true, true
		}
		return in
	}
	if err := WriteResults(dir, "det", files, scores, label); err != nil {
		t.Fatalf("WriteResults: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "det", "cat", "det_a.csv"))
	if err != nil {
		t.Fatal(err)
	}
	want := "timestamp,value,anomaly_score,label\n" +
		"2014-01-01 00:00:00,1,0,0\n2014-01-01 00:05:00,2,0.5,1\n2014-01-01 00:05:00,3,1,1\n2014-01-01 00:01:00,4,0.125,0\n"
	if string(b) != want {
		t.Errorf("det_a.csv =\n%s\nwant\n%s", b, want)
	}
	if err := WriteResults(dir, "nolabel", files, scores, nil); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(filepath.Join(dir, "nolabel", "cat", "nolabel_b.csv"))
	if want := "timestamp,value,anomaly_score,label\n2014-01-01 00:00:00,10,0.25,0\n2014-01-01 00:05:00,20,0.75,0\n"; string(b) != want {
		t.Errorf("nolabel_b.csv =\n%s\nwant\n%s", b, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "det", "cat", "det_c.csv")); !os.IsNotExist(err) {
		t.Errorf("det_c.csv (file not run) exists or stat failed: %v", err)
	}
	if err := WriteResults(dir, "det", files, scores[:2], nil); err == nil {
		t.Errorf("WriteResults(mismatched lengths) succeeded, want an error")
	}
}

// The detector path must not see the labels: neither this package nor the
// corpus package may depend on the score package, and no file of theirs
// may name the labels files.
func TestDetectorPathCannotSeeLabels(t *testing.T) {
	gobin := filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	if _, err := os.Stat(gobin); err != nil {
		gobin = "go"
	}
	out, err := exec.Command(gobin, "list", "-deps", "-test", ".", "../corpus").CombinedOutput()
	if err != nil {
		if _, lookErr := exec.LookPath(gobin); lookErr != nil && gobin == "go" {
			t.Skipf("go tool not found: %v", lookErr)
		}
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := string(out)
	if !strings.Contains(deps, "github.com/anomalyd/detector/benchmarks/nab/corpus") {
		t.Fatalf("go list -deps output lacks the corpus package, check the command:\n%s", deps)
	}
	for _, line := range strings.Split(deps, "\n") {
		if strings.Contains(line, "benchmarks/nab/score") {
			t.Errorf("detector path depends on %s", line)
		}
	}
	for _, dir := range []string{".", "../corpus"} {
		paths, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		if len(paths) == 0 {
			t.Fatalf("no Go files in %s", dir)
		}
		for _, p := range paths {
			if strings.HasSuffix(p, "run_test.go") {
				continue // this file names what it forbids
			}
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			for _, bad := range []string{"combined_windows", "combined_labels", "labels/"} {
				if strings.Contains(string(b), bad) {
					t.Errorf("%s mentions %q", p, bad)
				}
			}
		}
	}
}
