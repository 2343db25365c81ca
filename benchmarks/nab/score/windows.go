package score

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/anomalyd/detector/benchmarks/nab/corpus"
)

// Window is one labelled anomaly window of a file, both ends inclusive.
type Window struct {
	Start, End time.Time // as labelled
	L, R       int       // row indices of Start and End
}

// Width is the number of rows of the window.
func (w Window) Width() int { return w.R - w.L + 1 }

// labelLayout is the timestamp format of NAB label files.
const labelLayout = "2006-01-02 15:04:05.999999"

// LoadWindows reads NAB's combined_windows.json and converts each file's
// windows to row indices. Every file of files must have an entry (an empty
// list means no anomaly); entries for other files are ignored.
func LoadWindows(labelsPath string, files []corpus.File) (map[string][]Window, error) {
	b, err := os.ReadFile(labelsPath)
	if err != nil {
		return nil, fmt.Errorf("read windows: %w", err)
	}
	return ParseWindows(b, files)
}

// ParseWindows is LoadWindows on the file's content.
//
// Rows are matched the way NAB walks a file: a window starts at the first
// row, after the previous window's end, whose timestamp equals the window's
// start, and ends at the first row from there whose timestamp equals its end.
func ParseWindows(content []byte, files []corpus.File) (map[string][]Window, error) {
	var raw map[string][][]string
	if err := json.Unmarshal(content, &raw); err != nil {
		return nil, fmt.Errorf("parse windows: %w", err)
	}
	out := make(map[string][]Window, len(files))
	for i := range files {
		f := &files[i]
		key := f.Key()
		lims, ok := raw[key]
		if !ok {
			return nil, fmt.Errorf("windows: no entry for %s", key)
		}
		ws := make([]Window, 0, len(lims))
		next := 0
		for j, lim := range lims {
			if len(lim) != 2 {
				return nil, fmt.Errorf("windows: %s window %d: want [start, end], got %d values", key, j, len(lim))
			}
			start, err := parseLabelTime(lim[0])
			if err != nil {
				return nil, fmt.Errorf("windows: %s window %d start: %w", key, j, err)
			}
			end, err := parseLabelTime(lim[1])
			if err != nil {
				return nil, fmt.Errorf("windows: %s window %d end: %w", key, j, err)
			}
			l := indexOf(f.Timestamps, start, next)
			if l < 0 {
				return nil, fmt.Errorf("windows: %s window %d: start %s is not a row's timestamp", key, j, lim[0])
			}
			r := indexOf(f.Timestamps, end, l)
			if r < 0 {
				return nil, fmt.Errorf("windows: %s window %d: end %s is not a row's timestamp after its start", key, j, lim[1])
			}
			ws = append(ws, Window{Start: start, End: end, L: l, R: r})
			next = r + 1
		}
		out[key] = ws
	}
	return out, nil
}

func parseLabelTime(s string) (time.Time, error) {
	t, err := time.Parse(labelLayout, s)
	if err != nil {
		return time.Time{}, err
	}
	if t.IsZero() {
		return time.Time{}, errors.New("zero time")
	}
	return t, nil
}

func indexOf(ts []time.Time, t time.Time, from int) int {
	for i := from; i < len(ts); i++ {
		if ts[i].Equal(t) {
			return i
		}
	}
	return -1
}

// InWindow returns a function giving, for a file, the 0/1 in-window flag of
// each row: the label column of NAB's result files. Files without windows
// get all zeros.
func InWindow(windows map[string][]Window) func(f corpus.File) []bool {
	return func(f corpus.File) []bool {
		in := make([]bool, f.Len())
		for _, w := range windows[f.Key()] {
			for i := w.L; i <= w.R && i < len(in); i++ {
				in[i] = true
			}
		}
		return in
	}
}
