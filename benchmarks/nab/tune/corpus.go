package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// File is one NAB data file with its windows as row indices.
type File struct {
	Key      string // "<category>/<name>.csv"
	Category string
	Ts       []int64 // Unix ms
	Values   []float64
	Windows  [][2]int // inclusive row indices
}

const tsLayout = "2006-01-02 15:04:05"

func parseTs(s string) (int64, error) {
	s = strings.TrimSuffix(s, ".000000")
	t, err := time.Parse(tsLayout, s)
	if err != nil {
		return 0, err
	}
	return t.UnixMilli(), nil
}

// loadCorpus reads every data file under dir/data and the windows of
// dir/labels/combined_windows.json.
func loadCorpus(dir string) ([]*File, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "labels", "combined_windows.json"))
	if err != nil {
		return nil, fmt.Errorf("read windows: %w", err)
	}
	var windows map[string][][2]string
	if err := json.Unmarshal(raw, &windows); err != nil {
		return nil, fmt.Errorf("parse windows: %w", err)
	}
	paths, err := filepath.Glob(filepath.Join(dir, "data", "*", "*.csv"))
	if err != nil {
		return nil, err
	}
	sort.Strings(paths)
	var files []*File
	for _, p := range paths {
		f, err := readFile(p)
		if err != nil {
			return nil, err
		}
		f.Category = filepath.Base(filepath.Dir(p))
		f.Key = f.Category + "/" + filepath.Base(p)
		ws, ok := windows[f.Key]
		if !ok {
			return nil, fmt.Errorf("%s: no windows entry", f.Key)
		}
		for _, w := range ws {
			a, err1 := parseTs(w[0])
			b, err2 := parseTs(w[1])
			if err1 != nil || err2 != nil {
				return nil, fmt.Errorf("%s: bad window %v", f.Key, w)
			}
			l, r := firstIndex(f.Ts, a), firstIndex(f.Ts, b)
			if l < 0 || r < 0 {
				return nil, fmt.Errorf("%s: window %v not on a row", f.Key, w)
			}
			f.Windows = append(f.Windows, [2]int{l, r})
		}
		files = append(files, f)
	}
	return files, nil
}

func firstIndex(ts []int64, t int64) int {
	for i, x := range ts {
		if x == t {
			return i
		}
	}
	return -1
}

func readFile(p string) (*File, error) {
	fh, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	f := &File{}
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimRight(sc.Text(), "\r")
		if line == 1 || s == "" {
			continue
		}
		a, b, ok := strings.Cut(s, ",")
		if !ok {
			return nil, fmt.Errorf("%s:%d: no comma", p, line)
		}
		t, err := parseTs(a)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", p, line, err)
		}
		v, err := strconv.ParseFloat(b, 64)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", p, line, err)
		}
		f.Ts = append(f.Ts, t)
		f.Values = append(f.Values, v)
	}
	return f, sc.Err()
}
