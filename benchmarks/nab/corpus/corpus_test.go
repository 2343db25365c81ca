package corpus

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	// CRLF, a blank line, no final newline, a repeated and a backwards timestamp.
	content := "timestamp,value\r\n2014-01-01 00:05:00,1.5\r\n2014-01-01 00:05:00,2\r\n\r\n2014-01-01 00:00:00,-3e2\r\n2014-01-01 00:10:00,4"
	f, err := Parse("cat", "name", []byte(content))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	wantV := []float64{1.5, 2, -300, 4}
	wantRaw := []string{"2014-01-01 00:05:00", "2014-01-01 00:05:00", "2014-01-01 00:00:00", "2014-01-01 00:10:00"}
	wantMs := []int64{1388534700000, 1388534700000, 1388534400000, 1388535000000}
	if f.Len() != len(wantV) || len(f.TsMs) != len(wantV) || len(f.Raw) != len(wantV) || len(f.Timestamps) != len(wantV) {
		t.Fatalf("Parse rows = %d, want %d", f.Len(), len(wantV))
	}
	for i := range wantV {
		if f.Values[i] != wantV[i] || f.Raw[i] != wantRaw[i] || f.TsMs[i] != wantMs[i] || f.Timestamps[i].UnixMilli() != wantMs[i] {
			t.Errorf("row %d = (%q, %d, %g), want (%q, %d, %g)", i, f.Raw[i], f.TsMs[i], f.Values[i], wantRaw[i], wantMs[i], wantV[i])
		}
	}
	if f.Key() != "cat/name.csv" {
		t.Errorf("Key() = %q, want cat/name.csv", f.Key())
	}
	for _, bad := range []string{"", "2014-01-01 00:00:00,1\n", "timestamp,value\n2014-01-01,1\n", "timestamp,value\n2014-01-01 00:00:00,x\n", "timestamp,value\n2014-01-01 00:00:00\n"} {
		if _, err := Parse("c", "n", []byte(bad)); err == nil {
			t.Errorf("Parse(%q) succeeded, want an error", bad)
		}
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	for path, content := range map[string]string{
		"b/y.csv":    "timestamp,value\n2014-01-01 00:00:00,1\n",
		"a/x.csv":    "timestamp,value\n2014-01-01 00:00:00,1\n2014-01-01 00:05:00,2\n",
		"a/notes.md": "ignored",
	} {
		p := filepath.Join(dir, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	files, err := Load(dir)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	var keys []string
	for _, f := range files {
		keys = append(keys, f.Key())
	}
	if got := strings.Join(keys, " "); got != "a/x.csv b/y.csv" {
		t.Errorf("Load keys = %s, want a/x.csv b/y.csv", got)
	}
	if _, err := Load(filepath.Join(dir, "missing")); err == nil {
		t.Errorf("Load(missing dir) succeeded, want an error")
	}
}

func TestDefaultRoot(t *testing.T) {
	root, err := DefaultRoot()
	if err != nil {
		t.Fatalf("DefaultRoot: %v", err)
	}
	if filepath.Base(root) != "nab" || filepath.Base(filepath.Dir(root)) != "shared" {
		t.Errorf("DefaultRoot() = %s, want .../shared/nab", root)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("timestamp,value\n2014-01-01 00:00:00,1\n"))
	f.Add([]byte("timestamp,value\r\n2014-01-01 00:00:00,1.5\r\n\r\n2014-01-01 00:05:00,-2"))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := Parse("c", "n", b)
		if err != nil {
			return
		}
		n := got.Len()
		if len(got.TsMs) != n || len(got.Timestamps) != n || len(got.Raw) != n {
			t.Fatalf("Parse: %d values, %d ms, %d times, %d raw", n, len(got.TsMs), len(got.Timestamps), len(got.Raw))
		}
	})
}
