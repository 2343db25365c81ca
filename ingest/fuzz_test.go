package ingest

import (
	"bytes"
	"encoding/csv"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzParseTimestamp checks that every accepted timestamp survives a round
// trip through its RFC 3339 text and, for instants within float64's exact
// range, through Unix seconds with a millisecond fraction; that surrounding
// space is ignored; and that a number is accepted exactly when it is finite
// and at most 1e13 seconds from the epoch.
func FuzzParseTimestamp(f *testing.F) {
	for _, s := range []string{"1767614400", "1767614400.25", "-1.5", "1e13", "1e14", "NaN", "-Inf", "0x1p4", "1_0",
		"2026-01-05T10:00:00Z", "2026-01-05 10:00:00", "2026-01-05 10:00:00.123456", "2026-01-05T10:00:00",
		"2026-01-05 10:00", "2026-01-05T10:00:00.5-07:00", "0000-01-01T00:00:00Z", " 12 ", "", "\t"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ms, err := ParseTimestamp(s)
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("ParseTimestamp(%q) error without a message", s)
			}
			return
		}
		if ms2, err2 := ParseTimestamp(" " + s + "\t"); ms2 != ms || err2 != nil {
			t.Fatalf("ParseTimestamp(%q with space around) = %d, %v; without %d", s, ms2, err2, ms)
		}
		if f, ferr := strconv.ParseFloat(strings.TrimSpace(s), 64); ferr == nil {
			if math.Abs(f) > 1e13 || ms != int64(math.Round(f*1000)) {
				t.Fatalf("ParseTimestamp(%q) = %d, want round(%v*1000) and |seconds| <= 1e13", s, ms, f)
			}
		}
		tm := time.UnixMilli(ms).UTC()
		if y := tm.Year(); y >= 0 && y <= 9999 {
			text := tm.Format(time.RFC3339Nano)
			if back, err := ParseTimestamp(text); err != nil || back != ms {
				t.Fatalf("ParseTimestamp(%q) = %d; its RFC 3339 text %q reads %d, %v", s, ms, text, back, err)
			}
		}
		if ms >= -1e15 && ms <= 1e15 {
			text := strconv.FormatFloat(float64(ms)/1000, 'f', 3, 64)
			if back, err := ParseTimestamp(text); err != nil || back != ms {
				t.Fatalf("ParseTimestamp(%q) = %d; as seconds %q reads %d, %v", s, ms, text, back, err)
			}
		}
	})
}

// FuzzReadCSV checks that ReadCSV never panics; that rows come in file
// order with increasing line numbers and each timestamp is what
// ParseTimestamp makes of the row's Raw text; and that a file read without
// error, written back out (header, then raw timestamp and value), reads as
// the same timestamps and values.
func FuzzReadCSV(f *testing.F) {
	for _, s := range []string{
		"timestamp,value\n2026-01-05 10:00:00,1.5\n2026-01-05 10:05:00,2\n",
		"1767614400,1\r\n1767614460,2\r\n",
		"ts,v\n\n1767614400, 3\n\"1767614460\",\"4\"\n",
		"1767614400,NaN\n1767614460,-Inf\n",
		"a\n",
		"ts,v\n1,2,3\n\"unterminated,1\n",
		"ts,v\nnot a time,1\n",
		"\"2026-01-05T10:00:00Z\",1e308\n2026-01-05T10:00:00.25+01:00,0x1p-2\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rows, err := ReadCSV(bytes.NewReader(data))
		for i, r := range rows {
			if i > 0 && r.Line <= rows[i-1].Line {
				t.Fatalf("ReadCSV(%q): row %d on line %d after line %d", data, i, r.Line, rows[i-1].Line)
			}
			if ts, err := ParseTimestamp(r.Raw); err != nil || ts != r.TimestampMs {
				t.Fatalf("ReadCSV(%q): row %d timestamp %d, ParseTimestamp(%q) = %d, %v", data, i, r.TimestampMs, r.Raw, ts, err)
			}
		}
		if err != nil {
			return
		}
		var buf bytes.Buffer
		w := csv.NewWriter(&buf)
		w.Write([]string{"timestamp", "value"})
		for _, r := range rows {
			w.Write([]string{r.Raw, strconv.FormatFloat(r.Value, 'g', -1, 64)})
		}
		w.Flush()
		back, err := ReadCSV(&buf)
		if err != nil || len(back) != len(rows) {
			t.Fatalf("ReadCSV(%q) = %d rows; written back as %q it reads %d rows, %v", data, len(rows), buf.Bytes(), len(back), err)
		}
		for i := range rows {
			a, b := rows[i], back[i]
			if a.TimestampMs != b.TimestampMs || math.Float64bits(a.Value) != math.Float64bits(b.Value) && !(a.Value != a.Value && b.Value != b.Value) {
				t.Fatalf("ReadCSV(%q) row %d = %+v; written back it reads %+v", data, i, a, b)
			}
		}
	})
}
