// Command tune evaluates model configurations on the NAB corpus: it streams
// every file through models.Model (one pass, row order, no look-ahead),
// scores the result with NAB's rules (the three cost profiles, threshold
// swept over the corpus, normalised against the null and perfect detectors)
// and can sweep parameters and cross-validate.
//
//	go run ./benchmarks/nab/tune                        # DefaultConfig
//	go run ./benchmarks/nab/tune -set LevelRate=0.2 -v  # one change, per-file table
//	go run ./benchmarks/nab/tune -grid 'LevelRate=0.05,0.1;ScoreScale=8,10'
//
// The cross-validated figure splits the files of every category into two
// halves by alternation (sorted by name: even positions in half A, odd in
// half B), picks the best configuration of the grid and its threshold on one
// half and scores them on the other; it reports the mean of both directions.
//
// The labels are read only by the scorer; the model sees timestamps and
// values.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/anomalyd/detector/models"
)

func main() {
	data := flag.String("data", defaultData(), "NAB folder (with data/ and labels/)")
	set := flag.String("set", "", "config overrides: Name=value,Name=value")
	grid := flag.String("grid", "", "parameter grid: Name=v1,v2;Name2=v1,v2 (evaluated on top of -set)")
	verbose := flag.Bool("v", false, "per-file breakdown at the standard threshold")
	plotDir := flag.String("plot", "", "write a PNG per file to this folder (first configuration)")
	desc := flag.Bool("describe", false, "per-file counts of rows at score levels")
	flag.Parse()

	files, err := loadCorpus(*data)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	base := models.DefaultConfig()
	if err := apply(&base, *set); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	infos := make([][]rowInfo, len(files))
	for i, f := range files {
		infos[i] = rowInfos(f)
	}
	cfgs := []models.Config{base}
	names := []string{"base"}
	if *grid != "" {
		cfgs, names, err = expand(base, *grid)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
	fmt.Printf("%d files, %d windows, model %d bytes\n", len(files), countWindows(files), unsafe.Sizeof(models.Model{}))
	type res struct {
		name     string
		all      [3]Outcome
		half     [2][]*fileScores
		sweepStd [2]Outcome
	}
	var results []res
	for i, c := range cfgs {
		start := time.Now()
		fs := run(c, files, infos)
		var r res
		r.name = names[i]
		for p := range profiles {
			r.all[p] = sweep(fs, profiles[p])
		}
		for j, f := range fs {
			h := half(files, j)
			r.half[h] = append(r.half[h], f)
		}
		for h := range 2 {
			r.sweepStd[h] = sweep(r.half[h], profiles[0])
		}
		results = append(results, r)
		fmt.Printf("%-50s std %6.2f (t=%.4f tp %d fp %d fn %d)  lowFP %6.2f  lowFN %6.2f  halves %6.2f %6.2f  %v\n",
			r.name, r.all[0].Norm, r.all[0].Threshold, r.all[0].TP, r.all[0].FP, r.all[0].FN,
			r.all[1].Norm, r.all[2].Norm, r.sweepStd[0].Norm, r.sweepStd[1].Norm, time.Since(start).Round(time.Millisecond))
		if *plotDir != "" && i == 0 {
			if err := plot(*plotDir, fs, r.all[0].Threshold); err != nil {
				fmt.Fprintln(os.Stderr, err)
			}
		}
		if *desc {
			describe(fs)
		}
		if *verbose {
			perFile(fs, r.all[0].Threshold)
		}
	}
	// Cross-validation over the grid: choose on one half, score on the other.
	var cv float64
	for h := range 2 {
		best := 0
		for i := range results {
			if results[i].sweepStd[h].Norm > results[best].sweepStd[h].Norm {
				best = i
			}
		}
		o := scoreAt(results[best].half[1-h], profiles[0], results[best].sweepStd[h].Threshold)
		fmt.Printf("CV: tuned on half %c -> %s (t=%.4f, %.2f), held-out half %c: %.2f\n",
			'A'+h, results[best].name, results[best].sweepStd[h].Threshold, results[best].sweepStd[h].Norm, 'A'+1-h, o.Norm)
		cv += o.Norm / 2
	}
	fmt.Printf("CV standard (mean of both directions): %.2f\n", cv)
}

func countWindows(files []*File) int {
	n := 0
	for _, f := range files {
		n += len(f.Windows)
	}
	return n
}

// half assigns file j to half 0 or 1 by alternation within its category.
func half(files []*File, j int) int {
	k := 0
	for i := 0; i < j; i++ {
		if files[i].Category == files[j].Category {
			k++
		}
	}
	return k % 2
}

// run streams every file through a fresh model with config c, files in
// parallel.
func run(c models.Config, files []*File, infos [][]rowInfo) []*fileScores {
	out := make([]*fileScores, len(files))
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for i, f := range files {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			var m models.Model
			s := make([]float64, len(f.Ts))
			for j := range f.Ts {
				s[j] = m.Update(&c, f.Ts[j], f.Values[j]).Score
			}
			out[i] = &fileScores{f: f, info: infos[i], scores: s}
		}()
	}
	wg.Wait()
	return out
}

func perFile(fs []*fileScores, t float64) {
	for _, x := range fs {
		o := scoreAt([]*fileScores{x}, profiles[0], t)
		fmt.Printf("    %-58s raw %7.3f  tp %d fp %3d fn %d\n", x.f.Key, o.Raw, o.TP, o.FP, o.FN)
	}
}

// apply sets Config fields from "Name=value,Name=value".
func apply(c *models.Config, s string) error {
	if s == "" {
		return nil
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return fmt.Errorf("bad setting %q", kv)
		}
		if err := setField(c, k, v); err != nil {
			return err
		}
	}
	return nil
}

func setField(c *models.Config, k, v string) error {
	f := reflect.ValueOf(c).Elem().FieldByName(k)
	if !f.IsValid() {
		return fmt.Errorf("no config field %q", k)
	}
	switch f.Kind() {
	case reflect.Float64:
		x, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return err
		}
		f.SetFloat(x)
	case reflect.Int, reflect.Int64:
		x, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return err
		}
		f.SetInt(x)
	case reflect.Bool:
		x, err := strconv.ParseBool(v)
		if err != nil {
			return err
		}
		f.SetBool(x)
	default:
		return fmt.Errorf("field %q: unsupported kind", k)
	}
	return nil
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
				if err := setField(&x, k, v); err != nil {
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

// defaultData is ../shared/nab relative to the repository root (the
// directory holding go.mod), or that path relative to the working directory.
func defaultData() string {
	dir, err := os.Getwd()
	if err != nil {
		return "../shared/nab"
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return filepath.Join(d, "..", "shared", "nab")
		}
		if filepath.Dir(d) == d {
			return "../shared/nab"
		}
	}
}

var _ = sort.Strings

// describe prints, per file, how many scorable rows reach a few score levels.
func describe(fs []*fileScores) {
	levels := []float64{0.3, 0.5, 0.7, 0.9, 0.99}
	for _, x := range fs {
		cnt := make([]int, len(levels))
		for i, ri := range x.info {
			if ri.win == -2 {
				continue
			}
			for j, l := range levels {
				if x.scores[i] >= l {
					cnt[j]++
				}
			}
		}
		fmt.Printf("    %-58s %v\n", x.f.Key, cnt)
	}
}
