// Command tune evaluates model configurations on the NAB corpus with the
// shared runner's rules and scorer (benchmarks/nab/corpus and
// benchmarks/nab/score): every file is streamed through models.Model (one
// pass, row order, no look-ahead), the three cost profiles are swept over
// the corpus and normalised against the null and perfect detectors. It can
// sweep parameters and cross-validate.
//
//	go run ./benchmarks/nab/tune                        # DefaultConfig
//	go run ./benchmarks/nab/tune -set LevelRate=0.2 -v  # one change, per-file table
//	go run ./benchmarks/nab/tune -grid 'LevelRate=0.05,0.1;ScoreScale=8,10'
//
// Cross-validation: the files of every category are split into two halves
// by alternation (sorted by name: even positions in half A, odd in half B).
// For each direction, the configuration of the grid (the base configuration
// when there is no grid) and its standard-profile threshold are chosen on
// one half and scored on the other; the CV figure is the mean of the two
// held-out scores.
//
// The labels are read only by the scorer; the model sees timestamps and
// values.
package main

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/anomalyd/detector/benchmarks/configset"
	"github.com/anomalyd/detector/benchmarks/nab/corpus"
	"github.com/anomalyd/detector/benchmarks/nab/score"
	"github.com/anomalyd/detector/models"
)

func main() {
	data := flag.String("data", defaultData(), "NAB folder (with data/ and labels/)")
	set := flag.String("set", "", "config overrides: Name=value,Name=value")
	grid := flag.String("grid", "", "parameter grid: Name=v1,v2;Name2=v1,v2 (evaluated on top of -set)")
	verbose := flag.Bool("v", false, "per-file breakdown at the standard threshold")
	random := flag.Int("random", 0, "evaluate this many random points of the grid instead of all of it")
	seed := flag.Uint64("seed", 1, "seed of -random")
	plotDir := flag.String("plot", "", "write a PNG per file to this folder (first configuration)")
	flag.Parse()

	files, err := corpus.Load(filepath.Join(*data, "data"))
	if err != nil {
		fail(err)
	}
	windows, err := score.LoadWindows(filepath.Join(*data, "labels", "combined_windows.json"), files)
	if err != nil {
		fail(err)
	}
	base := models.DefaultConfig()
	if err := configset.Apply(&base, *set); err != nil {
		fail(err)
	}
	cfgs, names := []models.Config{base}, []string{"base"}
	if *grid != "" {
		if cfgs, names, err = expand(base, *grid); err != nil {
			fail(err)
		}
		if *random > 0 && *random < len(cfgs) {
			r := rand.New(rand.NewPCG(*seed, 7))
			r.Shuffle(len(cfgs), func(i, j int) {
				cfgs[i], cfgs[j] = cfgs[j], cfgs[i]
				names[i], names[j] = names[j], names[i]
			})
			cfgs, names = cfgs[:*random], names[:*random]
		}
	}
	var halves [2][]int
	for i := range files {
		h := half(files, i)
		halves[h] = append(halves[h], i)
	}
	profiles := score.StandardProfiles()
	std := profiles[score.Standard]
	nw := 0
	for _, ws := range windows {
		nw += len(ws)
	}
	fmt.Printf("%d files, %d windows, model %d bytes\n", len(files), nw, unsafe.Sizeof(models.Model{}))

	type result struct {
		scores [][]float64
		half   [2]score.ProfileResult
	}
	results := make([]result, len(cfgs))
	for ci, c := range cfgs {
		if err := c.Validate(); err != nil {
			fail(fmt.Errorf("%s: %w", names[ci], err))
		}
		start := time.Now()
		sc := runAll(c, files)
		rep := score.Evaluate(files, sc, windows, profiles)
		r := result{scores: sc}
		for h := range 2 {
			fs, ss := subset(files, sc, halves[h])
			hr := score.Evaluate(fs, ss, windows, map[string]score.Profile{score.Standard: std})
			r.half[h] = hr.Profiles[0]
		}
		results[ci] = r
		s, lfp, lfn := rep.Profiles[0], rep.Profiles[1], rep.Profiles[2]
		fmt.Printf("%-50s std %6.2f (t=%.4f tp %d fp %d fn %d)  lowFP %6.2f  lowFN %6.2f  halves %6.2f %6.2f  %v\n",
			names[ci], s.Score, s.Threshold, s.Total.TP, s.Total.FP, s.Total.FN, lfp.Score, lfn.Score,
			r.half[0].Score, r.half[1].Score, time.Since(start).Round(time.Millisecond))
		if *verbose {
			for _, f := range s.Files {
				fmt.Printf("    %-58s raw %7.3f  tp %d fp %3d fn %d\n", f.Key, f.Raw, f.TP, f.FP, f.FN)
			}
		}
		if *plotDir != "" && ci == 0 {
			if err := plot(*plotDir, files, windows, sc, s.Threshold); err != nil {
				fail(err)
			}
		}
	}
	// picks are the sweeps' thresholds with the open lower end of the
	// interval of thresholds that make the same detections.
	type pick struct {
		name     string
		t, below float64
	}
	var picks []pick
	if len(cfgs) == 1 {
		all := make([]int, len(files))
		for i := range all {
			all[i] = i
		}
		rep := score.Evaluate(files, results[0].scores, windows, map[string]score.Profile{score.Standard: std})
		t := rep.Profiles[0].Threshold
		picks = append(picks, pick{"whole corpus", t, below(files, results[0].scores, all, t)})
	}
	var cv float64
	for h := range 2 {
		best := 0
		for i := range results {
			if results[i].half[h].Score > results[best].half[h].Score {
				best = i
			}
		}
		t := results[best].half[h].Threshold
		held := scoreAt(files, windows, results[best].scores, halves[1-h], t, std)
		fmt.Printf("CV: tuned on half %c -> %s (t=%.4f, same detections for t in (%.4f, %.4f]; %.2f), held-out half %c: %.2f\n",
			'A'+h, names[best], t, below(files, results[best].scores, halves[h], t), t, results[best].half[h].Score, 'A'+1-h, held)
		cv += held / 2
		picks = append(picks, pick{fmt.Sprintf("CV half %c", 'A'+h), t, below(files, results[best].scores, halves[h], t)})
	}
	fmt.Printf("CV standard (mean of both directions): %.2f\n", cv)

	// Leave one category out: for each category, the configuration and
	// threshold are chosen on all the other files and the category's files
	// are scored at that threshold; the held-out raw scores are pooled and
	// normalised over the whole corpus.
	cats := map[string][]int{}
	var catNames []string
	for i, f := range files {
		if _, ok := cats[f.Category]; !ok {
			catNames = append(catNames, f.Category)
		}
		cats[f.Category] = append(cats[f.Category], i)
	}
	var raw float64
	nwAll := 0
	tLo, tHi := math.Inf(1), math.Inf(-1)
	bLo := math.Inf(-1) // the highest lower end of the picks' equivalent intervals
	for _, cat := range catNames {
		var rest []int
		for i, f := range files {
			if f.Category != cat {
				rest = append(rest, i)
			}
		}
		best, bestScore, bestT := 0, math.Inf(-1), 0.0
		for i := range results {
			fs, ss := subset(files, results[i].scores, rest)
			r := score.Evaluate(fs, ss, windows, map[string]score.Profile{score.Standard: std})
			if r.Profiles[0].Score > bestScore {
				best, bestScore, bestT = i, r.Profiles[0].Score, r.Profiles[0].Threshold
			}
		}
		tLo, tHi = math.Min(tLo, bestT), math.Max(tHi, bestT)
		b := below(files, results[best].scores, rest, bestT)
		bLo = math.Max(bLo, b)
		picks = append(picks, pick{"LOCO without " + cat, bestT, b})
		for _, j := range cats[cat] {
			k := files[j].Key()
			r := score.FileScore(k, results[best].scores[j], windows[k], bestT, std)
			raw += r.Raw
			nwAll += r.Windows
		}
		fmt.Printf("LOCO: without %-22s -> %s (t=%.4f)\n", cat, names[best], bestT)
	}
	null, perfect := -std.FN*float64(nwAll), std.TP*float64(nwAll)
	fmt.Printf("LOCO standard (pooled held-out categories): %.2f; thresholds picked %.4f..%.4f\n",
		100*(raw-null)/(perfect-null), tLo, tHi)
	fmt.Printf("Config.Threshold %.4f: the LOCO picks make the same detections as any threshold above %.4f (inside: %v)\n",
		base.Threshold, bLo, base.Threshold > bLo && base.Threshold <= tLo)
	// Where the service's threshold stands against every pick: the same
	// detections as a pick when it lies in (below, t]; within the picks'
	// range when it lies between the lowest pick's interval and the
	// highest pick.
	same, lo, hi := 0, math.Inf(1), math.Inf(-1)
	var not []string
	for _, p := range picks {
		if base.Threshold > p.below && base.Threshold <= p.t {
			same++
		} else {
			not = append(not, fmt.Sprintf("%s (t=%.4f, same detections in (%.4f, %.4f])", p.name, p.t, p.below, p.t))
		}
		lo, hi = math.Min(lo, p.t), math.Max(hi, p.t)
	}
	lowBelow := math.Inf(-1)
	for _, p := range picks {
		if p.t == lo {
			lowBelow = math.Max(lowBelow, p.below)
		}
	}
	fmt.Printf("Config.Threshold %.4f makes the same detections as %d of %d picks; within the picks' range (%.4f, %.4f]: %v\n",
		base.Threshold, same, len(picks), lowBelow, hi, base.Threshold > lowBelow && base.Threshold <= hi)
	for _, n := range not {
		fmt.Printf("    not the same as %s\n", n)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}

// half assigns file j to half 0 or 1 by alternation within its category
// (files are sorted by key).
func half(files []corpus.File, j int) int {
	k := 0
	for i := 0; i < j; i++ {
		if files[i].Category == files[j].Category {
			k++
		}
	}
	return k % 2
}

func subset(files []corpus.File, sc [][]float64, idx []int) ([]corpus.File, [][]float64) {
	fs := make([]corpus.File, len(idx))
	ss := make([][]float64, len(idx))
	for i, j := range idx {
		fs[i], ss[i] = files[j], sc[j]
	}
	return fs, ss
}

// below returns the largest score under t among the scored rows (after
// probation) of the files idx: every threshold in (below, t] detects the
// same rows as t, so the sweep's pick (NAB breaks ties towards the higher
// threshold) stands for that whole interval.
func below(files []corpus.File, sc [][]float64, idx []int, t float64) float64 {
	b := math.Inf(-1)
	for _, j := range idx {
		for _, x := range sc[j][score.Probation(files[j].Len()):] {
			if x < t && x > b {
				b = x
			}
		}
	}
	return b
}

// scoreAt is the normalised standard score of the files idx at threshold t.
func scoreAt(files []corpus.File, windows map[string][]score.Window, sc [][]float64, idx []int, t float64, pr score.Profile) float64 {
	var raw float64
	nw := 0
	for _, j := range idx {
		k := files[j].Key()
		r := score.FileScore(k, sc[j], windows[k], t, pr)
		raw += r.Raw
		nw += r.Windows
	}
	null, perfect := -pr.FN*float64(nw), pr.TP*float64(nw)
	return 100 * (raw - null) / (perfect - null)
}

// runAll streams every file through a fresh model with config c, files in
// parallel on all cores.
func runAll(c models.Config, files []corpus.File) [][]float64 {
	out := make([][]float64, len(files))
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for i := range files {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			f := &files[i]
			var m models.Model
			s := make([]float64, f.Len())
			for j := range s {
				v := m.Update(&c, f.TsMs[j], f.Values[j]).Score
				s[j] = math.Min(1, math.Max(0, v))
			}
			out[i] = s
		}()
	}
	wg.Wait()
	return out
}

// expand builds the cartesian product of a grid "A=1,2;B=3,4".
func expand(base models.Config, grid string) ([]models.Config, []string, error) {
	cfgs := []models.Config{base}
	names := []string{""}
	for _, part := range strings.Split(grid, ";") {
		k, vs, ok := strings.Cut(part, "=")
		if !ok {
			return nil, nil, fmt.Errorf("bad grid part %q", part)
		}
		var nc []models.Config
		var nn []string
		for i, c := range cfgs {
			for _, v := range strings.Split(vs, ",") {
				x := c
				if err := configset.Set(&x, k, v); err != nil {
					return nil, nil, err
				}
				nc = append(nc, x)
				nn = append(nn, strings.TrimSpace(names[i]+" "+k+"="+v))
			}
		}
		cfgs, names = nc, nn
	}
	return cfgs, names, nil
}

// defaultData is ../shared/nab relative to the repository root.
func defaultData() string {
	root, err := corpus.RepoRoot()
	if err != nil {
		return "../shared/nab"
	}
	return filepath.Join(root, "..", "shared", "nab")
}
