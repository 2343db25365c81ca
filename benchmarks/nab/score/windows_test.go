package score

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anomalyd/detector/benchmarks/nab/corpus"
)

func parseFile(t *testing.T, cat, name, content string) corpus.File {
	t.Helper()
	f, err := corpus.Parse(cat, name, []byte(content))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return f
}

func TestParseWindows(t *testing.T) {
	// Row 3 repeats row 2's timestamp; row 5 steps backwards.
	f := parseFile(t, "c", "f", "timestamp,value\n"+
		"2014-01-01 00:00:00,1\n"+ // 0
		"2014-01-01 00:05:00,2\n"+ // 1
		"2014-01-01 00:10:00,3\n"+ // 2
		"2014-01-01 00:10:00,4\n"+ // 3
		"2014-01-01 00:15:00,5\n"+ // 4
		"2014-01-01 00:05:00,6\n"+ // 5
		"2014-01-01 00:20:00,7\n"+ // 6
		"2014-01-01 00:25:00,8") // 7
	g := parseFile(t, "c", "g", "timestamp,value\n2014-01-01 00:00:00,1\n")
	labels := `{"c/f.csv": [["2014-01-01 00:05:00.000000", "2014-01-01 00:10:00.000000"],
	                        ["2014-01-01 00:20:00.000000", "2014-01-01 00:25:00.000000"]],
	            "c/g.csv": [], "other/unused.csv": [["x", "y"]]}`
	got, err := ParseWindows([]byte(labels), []corpus.File{f, g})
	if err != nil {
		t.Fatalf("ParseWindows: %v", err)
	}
	want := [][2]int{{1, 2}, {6, 7}}
	ws := got["c/f.csv"]
	if len(ws) != len(want) {
		t.Fatalf("ParseWindows c/f.csv = %+v, want %v", ws, want)
	}
	for i, w := range ws {
		if w.L != want[i][0] || w.R != want[i][1] {
			t.Errorf("window %d = [%d, %d], want %v", i, w.L, w.R, want[i])
		}
	}
	if ws, ok := got["c/g.csv"]; !ok || len(ws) != 0 {
		t.Errorf("c/g.csv windows = %v (present %v), want empty and present", ws, ok)
	}
	in := InWindow(got)(f)
	wantIn := []bool{false, true, true, false, false, false, true, true}
	for i := range wantIn {
		if in[i] != wantIn[i] {
			t.Errorf("InWindow row %d = %v, want %v", i, in[i], wantIn[i])
		}
	}

	for _, c := range []struct{ name, labels, err string }{
		{"missing file", `{"c/f.csv": []}`, "no entry for c/g.csv"},
		{"start not a row", `{"c/f.csv": [["2014-01-01 00:06:00.000000", "2014-01-01 00:10:00.000000"]], "c/g.csv": []}`, "start"},
		{"end before start", `{"c/f.csv": [["2014-01-01 00:20:00.000000", "2014-01-01 00:15:00.000000"]], "c/g.csv": []}`, "end"},
		{"bad json", `[`, "parse windows"},
	} {
		if _, err := ParseWindows([]byte(c.labels), []corpus.File{f, g}); err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%s: ParseWindows error = %v, want one containing %q", c.name, err, c.err)
		}
	}
}

func TestLoadProfiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "profiles.json")
	content := `{"standard": {"CostMatrix": {"tpWeight": 1.0, "fnWeight": 1.0, "fpWeight": 0.11, "tnWeight": 1.0}},
	 "reward_low_FP_rate": {"CostMatrix": {"tpWeight": 1.0, "fnWeight": 1.0, "fpWeight": 0.22, "tnWeight": 1.0}},
	 "reward_low_FN_rate": {"CostMatrix": {"tpWeight": 1.0, "fnWeight": 2.0, "fpWeight": 0.11, "tnWeight": 1.0}}}`
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := LoadProfiles(path)
	if err != nil {
		t.Fatalf("LoadProfiles: %v", err)
	}
	want := StandardProfiles()
	if len(got) != len(want) {
		t.Fatalf("LoadProfiles = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("LoadProfiles[%s] = %+v, want %+v", k, got[k], v)
		}
	}
	if _, err := ParseProfiles([]byte(`{"x": {"CostMatrix": {"tpWeight": 1}}}`)); err == nil {
		t.Errorf("ParseProfiles(without fpWeight) succeeded, want an error")
	}
}
