// Package corpus reads the data files of a NAB corpus: one series per CSV
// file under <data>/<category>/<name>.csv, header "timestamp,value".
//
// It reads the data only. The ground truth lives in the score package, so
// that anything built on this package (the detector path) cannot see it.
package corpus

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// TimeLayout is the timestamp format of NAB data files (no zone; read as UTC).
const TimeLayout = "2006-01-02 15:04:05"

// File is one series of the corpus, every row in file order. Rows are never
// dropped or reordered: repeated or backwards timestamps are kept as they are.
type File struct {
	Category   string      // folder name, e.g. "realTweets"
	Name       string      // file name without ".csv"
	Timestamps []time.Time // per row, UTC
	TsMs       []int64     // per row, Unix milliseconds
	Values     []float64   // per row
	Raw        []string    // per row, the timestamp text as written in the file
}

// Key is the file's corpus key, "<category>/<name>.csv", as used by NAB.
func (f *File) Key() string { return f.Category + "/" + f.Name + ".csv" }

// Len is the number of rows.
func (f *File) Len() int { return len(f.Values) }

// Load reads every <category>/<name>.csv under dataDir, sorted by key.
func Load(dataDir string) ([]File, error) {
	cats, err := os.ReadDir(dataDir)
	if err != nil {
		return nil, fmt.Errorf("read data dir: %w", err)
	}
	var files []File
	for _, c := range cats {
		if !c.IsDir() {
			continue
		}
		entries, err := os.ReadDir(filepath.Join(dataDir, c.Name()))
		if err != nil {
			return nil, fmt.Errorf("read category: %w", err)
		}
		for _, e := range entries {
			if e.IsDir() || !strings.HasSuffix(e.Name(), ".csv") {
				continue
			}
			path := filepath.Join(dataDir, c.Name(), e.Name())
			b, err := os.ReadFile(path)
			if err != nil {
				return nil, fmt.Errorf("read %s: %w", path, err)
			}
			f, err := Parse(c.Name(), strings.TrimSuffix(e.Name(), ".csv"), b)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			files = append(files, f)
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no csv files under %s", dataDir)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Key() < files[j].Key() })
	return files, nil
}

// Parse reads one data file's content. It accepts LF or CRLF line ends, a
// missing final newline and blank lines (skipped); every other row must be
// "timestamp,value".
func Parse(category, name string, content []byte) (File, error) {
	f := File{Category: category, Name: name}
	sc := bufio.NewScanner(bytes.NewReader(content))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	line := 0
	header := false
	for sc.Scan() {
		line++
		s := strings.TrimSpace(strings.TrimSuffix(sc.Text(), "\r"))
		if s == "" {
			continue
		}
		if !header {
			header = true
			if strings.HasPrefix(s, "timestamp") {
				continue
			}
			return File{}, fmt.Errorf("line %d: missing header timestamp,value", line)
		}
		ts, val, ok := strings.Cut(s, ",")
		if !ok {
			return File{}, fmt.Errorf("line %d: want timestamp,value, got %q", line, s)
		}
		ts = strings.TrimSpace(ts)
		t, err := time.Parse(TimeLayout, ts)
		if err != nil {
			return File{}, fmt.Errorf("line %d: timestamp: %w", line, err)
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil {
			return File{}, fmt.Errorf("line %d: value: %w", line, err)
		}
		f.Timestamps = append(f.Timestamps, t)
		f.TsMs = append(f.TsMs, t.UnixMilli())
		f.Values = append(f.Values, v)
		f.Raw = append(f.Raw, ts)
	}
	if err := sc.Err(); err != nil {
		return File{}, fmt.Errorf("scan: %w", err)
	}
	if !header {
		return File{}, errors.New("empty file")
	}
	return f, nil
}

// DefaultRoot finds the NAB folder the project's benchmarks use by default:
// the "nab" folder of the "shared" directory next to the repository root.
// It works from the repository root and from any directory below it.
func DefaultRoot() (string, error) {
	repo, err := RepoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(filepath.Dir(repo), "shared", "nab"), nil
}

// RepoRoot walks up from the working directory to the directory holding
// the go.mod of module github.com/anomalyd/detector.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("working dir: %w", err)
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil &&
			bytes.Contains(b, []byte("module github.com/anomalyd/detector")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("repository root (go.mod of github.com/anomalyd/detector) not found above the working directory")
		}
		dir = parent
	}
}
