// Package ingest reads metric points from files and streams for the
// detector's command-line tools.
package ingest

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// Row is one data row of a `timestamp,value` CSV file. Raw keeps the
// timestamp text exactly as written so that output can echo it.
type Row struct {
	Line        int // 1-based line number in the file
	Raw         string
	TimestampMs int64
	Value       float64
}

// timestampLayouts are tried in order for text timestamps without a zone;
// such timestamps are read as UTC.
var timestampLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999",
	"2006-01-02 15:04:05",
	"2006-01-02T15:04:05",
	"2006-01-02 15:04",
}

// ParseTimestamp parses an RFC 3339 timestamp, a `YYYY-MM-DD HH:MM:SS`
// timestamp (UTC, optional fraction), or Unix seconds (fraction allowed),
// and returns Unix milliseconds.
func ParseTimestamp(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errors.New("empty timestamp")
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1e13 {
			return 0, fmt.Errorf("timestamp %q out of range", s)
		}
		return int64(math.Round(f * 1000)), nil
	}
	for _, l := range timestampLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UnixMilli(), nil
		}
	}
	return 0, fmt.Errorf("unparseable timestamp %q (want RFC 3339, YYYY-MM-DD HH:MM:SS or Unix seconds)", s)
}

// ReadCSV reads every data row of a `timestamp,value` CSV in file order. A
// first line whose second field is not a number is taken as the header. CRLF
// line ends, a missing final newline and blank lines are accepted. Rows are
// never reordered or dropped: a row that cannot be parsed is an error naming
// its line, since silently skipping it would shift every later row.
func ReadCSV(r io.Reader) ([]Row, error) {
	cr := csv.NewReader(bufio.NewReader(r))
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	var rows []Row
	for first := true; ; first = false {
		rec, err := cr.Read()
		if err == io.EOF {
			return rows, nil
		}
		if err != nil {
			return rows, fmt.Errorf("read csv: %w", err)
		}
		line, _ := cr.FieldPos(0)
		if len(rec) < 2 {
			return rows, fmt.Errorf("line %d: want timestamp,value, got %d field(s)", line, len(rec))
		}
		vs := strings.TrimSpace(rec[1])
		v, verr := strconv.ParseFloat(vs, 64)
		if first && verr != nil {
			continue // header
		}
		if verr != nil {
			return rows, fmt.Errorf("line %d: value %q is not a number", line, vs)
		}
		ts, err := ParseTimestamp(rec[0])
		if err != nil {
			return rows, fmt.Errorf("line %d: %w", line, err)
		}
		rows = append(rows, Row{Line: line, Raw: strings.TrimSpace(rec[0]), TimestampMs: ts, Value: v})
	}
}
