// Package run streams the files of a NAB corpus through a detector and
// writes NAB's result files. It is the detector path: it sees the data
// only, never the labels (it does not import the score package; a test
// checks that).
package run

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"

	"github.com/anomalyd/detector/benchmarks/nab/corpus"
)

// Detector scores one series, one row at a time in file order, with no
// look-ahead: it returns the anomaly score of the row (ideally in [0,1]).
// A Detector is used by one goroutine only.
type Detector = func(tsMs int64, v float64) float64

// Run streams every file through a fresh detector from newDetector and
// returns one score per row, clamped to [0,1] (NaN becomes 0). Files run in
// parallel on workers goroutines (<= 0 means Workers()), largest first. progress, if not
// nil, is called after each file with the count done and the total; calls
// are serialised.
//
// newDetector is called once per file, from the worker goroutine that runs
// the file. When ctx is cancelled Run stops starting files and returns;
// the slices of files not run are nil.
func Run(ctx context.Context, files []corpus.File, newDetector func() Detector, workers int, progress func(done, total int)) [][]float64 {
	out := make([][]float64, len(files))
	if workers <= 0 {
		workers = Workers()
	}
	order := make([]int, len(files))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return files[order[a]].Len() > files[order[b]].Len() })

	jobs := make(chan int)
	var mu sync.Mutex
	done := 0
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				out[i] = runFile(&files[i], newDetector())
				if progress != nil {
					mu.Lock()
					done++
					progress(done, len(files))
					mu.Unlock()
				}
			}
		}()
	}
feed:
	for _, i := range order {
		if ctx.Err() != nil {
			break
		}
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	return out
}

func runFile(f *corpus.File, det Detector) []float64 {
	s := make([]float64, f.Len())
	for i, v := range f.Values {
		s[i] = Clamp(det(f.TsMs[i], v))
	}
	return s
}

// Clamp maps a detector's output into [0,1]; NaN becomes 0.
func Clamp(s float64) float64 {
	switch {
	case math.IsNaN(s) || s < 0:
		return 0
	case s > 1:
		return 1
	}
	return s
}

// LabelFunc gives the 0/1 label column of a file's result rows (true: the
// row lies in an anomaly window). It comes from the scoring side; the
// detector path only passes it through.
type LabelFunc func(f corpus.File) []bool

// ResultPath is NAB's result file path for a file:
// <dir>/<detector>/<category>/<detector>_<name>.csv.
func ResultPath(dir, detectorName string, f *corpus.File) string {
	return filepath.Join(dir, detectorName, f.Category, detectorName+"_"+f.Name+".csv")
}

// WriteResults writes NAB's result layout under dir, one file per data
// file, header "timestamp,value,anomaly_score,label", one row per data row
// with the row's original timestamp text. label gives the label column; nil
// writes 0 everywhere. Files whose scores are nil (not run) are skipped.
func WriteResults(dir, detectorName string, files []corpus.File, scores [][]float64, label LabelFunc) error {
	if len(files) != len(scores) {
		return fmt.Errorf("write results: %d files but %d score slices", len(files), len(scores))
	}
	for i := range files {
		if scores[i] == nil {
			continue
		}
		if err := writeFile(ResultPath(dir, detectorName, &files[i]), &files[i], scores[i], label); err != nil {
			return fmt.Errorf("write results %s: %w", files[i].Key(), err)
		}
	}
	return nil
}

func writeFile(path string, f *corpus.File, scores []float64, label LabelFunc) (err error) {
	if len(scores) != f.Len() {
		return fmt.Errorf("%d rows but %d scores", f.Len(), len(scores))
	}
	var labels []bool
	if label != nil {
		labels = label(*f)
		if len(labels) != f.Len() {
			return fmt.Errorf("%d rows but %d labels", f.Len(), len(labels))
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	fh, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := fh.Close(); err == nil {
			err = cerr
		}
	}()
	w := bufio.NewWriter(fh)
	w.WriteString("timestamp,value,anomaly_score,label\n")
	var buf []byte
	for i := range scores {
		buf = buf[:0]
		buf = append(buf, f.Raw[i]...)
		buf = append(buf, ',')
		buf = strconv.AppendFloat(buf, f.Values[i], 'f', -1, 64)
		buf = append(buf, ',')
		buf = strconv.AppendFloat(buf, scores[i], 'f', -1, 64)
		if labels != nil && labels[i] {
			buf = append(buf, ",1\n"...)
		} else {
			buf = append(buf, ",0\n"...)
		}
		w.Write(buf)
	}
	return w.Flush()
}
