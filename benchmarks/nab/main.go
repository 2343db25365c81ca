// Command nab runs a detector over the NAB corpus, scores it the way NAB
// does and writes a Markdown report.
//
//	go run ./benchmarks/nab                      # the service's default model
//	go run ./benchmarks/nab --detector null      # reference: scores 0
//	go run ./benchmarks/nab --results /tmp/res   # also write NAB's result files
//
// The detector path (packages corpus and run) never reads the labels; only
// the scoring step (package score) does.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/anomalyd/detector/benchmarks/nab/corpus"
	"github.com/anomalyd/detector/benchmarks/nab/run"
	"github.com/anomalyd/detector/benchmarks/nab/score"
	"github.com/anomalyd/detector/models"
)

// detectors are the detectors the command can run, by name. Each entry
// returns a fresh detector for one series.
var detectors = map[string]func() run.Detector{
	// default: the service's default model, one fresh model per file.
	"default": func() run.Detector {
		cfg := models.DefaultConfig()
		m := new(models.Model)
		return func(tsMs int64, v float64) float64 { return m.Update(&cfg, tsMs, v).Score }
	},
	// null: a constant score; NAB's reference for 0.
	"null": func() run.Detector {
		return func(int64, float64) float64 { return 0.5 }
	},
	// gaussian: NAB's windowed Gaussian reference detector.
	"gaussian": newWindowedGaussian,
	// random: uniform random scores, NAB's reference for chance.
	"random": newRandom,
}

func detectorNames() string {
	var names []string
	for n := range detectors {
		names = append(names, n)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := cli(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// corpusSet is a corpus with what scoring it needs.
type corpusSet struct {
	root     string
	files    []corpus.File
	windows  map[string][]score.Window
	profiles map[string]score.Profile
}

// loadSet reads the data (from dataDir, default <root>/data), windows and
// profiles of the NAB folder root, keeping only the files whose keys are listed (all when keys is empty).
func loadSet(root, dataDir string, keys []string) (corpusSet, error) {
	if dataDir == "" {
		dataDir = filepath.Join(root, "data")
	}
	files, err := corpus.Load(dataDir)
	if err != nil {
		return corpusSet{}, err
	}
	if len(keys) > 0 {
		var kept []corpus.File
		for _, k := range keys {
			i := slices.IndexFunc(files, func(f corpus.File) bool { return f.Key() == k })
			if i < 0 {
				return corpusSet{}, fmt.Errorf("file %s not in %s", k, root)
			}
			kept = append(kept, files[i])
		}
		files = kept
	}
	windows, err := score.LoadWindows(filepath.Join(root, "labels", "combined_windows.json"), files)
	if err != nil {
		return corpusSet{}, err
	}
	profiles, err := score.LoadProfiles(filepath.Join(root, "profiles.json"))
	if err != nil {
		return corpusSet{}, err
	}
	return corpusSet{root: root, files: files, windows: windows, profiles: profiles}, nil
}

func cli(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("nab", flag.ContinueOnError)
	fs.SetOutput(stderr)
	nabDir := fs.String("nab", "", "NAB folder with data/, labels/combined_windows.json and profiles.json (default: ../shared/nab next to the repository root)")
	detName := fs.String("detector", "default", "detector to run: "+detectorNames())
	results := fs.String("results", "", "if set, write NAB's result files under this directory (<dir>/<detector>/<category>/<detector>_<file>.csv)")
	dataDir := fs.String("data", "", "data folder (default <nab>/data)")
	reportPath := fs.String("report", "", "Markdown report path (default benchmarks/nab/REPORT.md in the repository; \"-\" for none)")
	workers := fs.Int("workers", run.Workers(), "files run in parallel")
	filesFlag := fs.String("files", "", "comma-separated file keys (<category>/<name>.csv) to run instead of the whole corpus")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	newDet, ok := detectors[*detName]
	if !ok {
		fmt.Fprintf(stderr, "nab: unknown detector %q (have %s)\n", *detName, detectorNames())
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "nab: %v\n", err)
		return 1
	}
	root := *nabDir
	if root == "" {
		var err error
		if root, err = corpus.DefaultRoot(); err != nil {
			return fail(err)
		}
	}
	if *reportPath == "" {
		repo, err := corpus.RepoRoot()
		if err != nil {
			return fail(err)
		}
		*reportPath = filepath.Join(repo, "benchmarks", "nab", "REPORT.md")
	}
	t0 := time.Now()
	var keys []string
	if *filesFlag != "" {
		keys = strings.Split(*filesFlag, ",")
	}
	set, err := loadSet(root, *dataDir, keys)
	if err != nil {
		return fail(err)
	}
	rows := 0
	for i := range set.files {
		rows += set.files[i].Len()
	}
	fmt.Fprintf(stderr, "nab: %d files, %d rows, detector %s, %d workers\n", len(set.files), rows, *detName, *workers)

	start := time.Now()
	scores := run.Run(ctx, set.files, newDet, *workers, func(done, total int) {
		fmt.Fprintf(stderr, "nab: %d/%d files (%.1fs)\n", done, total, time.Since(start).Seconds())
	})
	runTime := time.Since(start)
	if err := ctx.Err(); err != nil {
		return fail(fmt.Errorf("interrupted: %w", err))
	}
	if *results != "" {
		if err := run.WriteResults(*results, *detName, set.files, scores, run.LabelFunc(score.InWindow(set.windows))); err != nil {
			return fail(err)
		}
	}
	start = time.Now()
	rep := score.Evaluate(set.files, scores, set.windows, set.profiles)
	scoreTime := time.Since(start)

	for _, p := range rep.Profiles {
		fmt.Fprintf(stdout, "%-20s %6.1f  (threshold %s, raw %.3f)\n", p.Name, p.Score, thresholdText(p.Threshold), p.Raw)
	}
	total := time.Since(t0)
	fmt.Fprintf(stderr, "nab: detector %.1fs, scoring %.2fs, total %.1fs\n", runTime.Seconds(), scoreTime.Seconds(), total.Seconds())

	if *reportPath != "-" {
		var b strings.Builder
		fmt.Fprintf(&b, "# NAB report: detector `%s`\n\n", *detName)
		cmd := "go run ./benchmarks/nab"
		if *detName != "default" {
			cmd += " --detector " + *detName
		}
		if *filesFlag != "" {
			cmd += " --files " + *filesFlag
		}
		// No timings here (they are on stderr): the same corpus and model
		// give the same report, so a run leaves the checkout unchanged.
		fmt.Fprintf(&b, "Command: `%s` (corpus `%s`).\n\n", cmd, displayRoot(root))
		b.WriteString(rep.Markdown())
		if err := os.WriteFile(*reportPath, []byte(b.String()), 0o644); err != nil {
			return fail(fmt.Errorf("write report: %w", err))
		}
		fmt.Fprintf(stderr, "nab: report written to %s\n", *reportPath)
	}
	return 0
}

func thresholdText(t float64) string {
	if t == score.NoDetection {
		return "1.1, nothing detected"
	}
	return score.ThresholdText(t)
}

// displayRoot shows the default NAB folder as ../shared/nab so reports do
// not depend on where the checkout lives.
func displayRoot(root string) string {
	if def, err := corpus.DefaultRoot(); err == nil && filepath.Clean(def) == filepath.Clean(root) {
		return "../shared/nab"
	}
	return root
}
