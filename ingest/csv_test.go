package ingest

import (
	"strings"
	"testing"
)

func TestParseTimestamp(t *testing.T) {
	cases := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"2014-04-01 00:00:00", 1396310400000, true},
		{"2014-04-01 00:00:00.000000", 1396310400000, true},
		{"2014-04-01T00:00:00Z", 1396310400000, true},
		{"2014-04-01T02:00:00+02:00", 1396310400000, true},
		{"1396310400", 1396310400000, true},
		{"1396310400.5", 1396310400500, true},
		{"", 0, false},
		{"yesterday", 0, false},
		{"NaN", 0, false},
		{"1e300", 0, false},
	}
	for _, c := range cases {
		got, err := ParseTimestamp(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("ParseTimestamp(%q) = %d, %v; want %d, ok=%v", c.in, got, err, c.want, c.ok)
		}
	}
}

func TestReadCSV(t *testing.T) {
	in := "timestamp,value\r\n2014-04-01 00:00:00,1.5\r\n\r\n2014-04-01 00:05:00,2\n2014-04-01 00:05:00,3\n2014-04-01 00:00:00,-4"
	rows, err := ReadCSV(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{1.5, 2, 3, -4}
	if len(rows) != len(want) {
		t.Fatalf("ReadCSV: %d rows, want %d", len(rows), len(want))
	}
	for i, r := range rows {
		if r.Value != want[i] {
			t.Errorf("row %d value = %v, want %v", i, r.Value, want[i])
		}
	}
	if rows[3].TimestampMs >= rows[2].TimestampMs {
		t.Errorf("backwards step not kept in file order")
	}
	if rows[1].Line != 4 {
		t.Errorf("row 1 line = %d, want 4", rows[1].Line)
	}
	if _, err := ReadCSV(strings.NewReader("t,v\n2014-04-01 00:00:00,x\n")); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("bad value error = %v, want one naming line 2", err)
	}
	if _, err := ReadCSV(strings.NewReader("t,v\nnot-a-time,1\n")); err == nil {
		t.Errorf("bad timestamp accepted")
	}
}
