package peers

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/anomalyd/detector/anomaly"
)

// member kinds of the synthetic groups.
type kind int

const (
	healthy  kind = iota
	shifted       // level × 1.3 over the whole window
	reshaped      // the daily swing inverted, same level
	drifting      // drifts linearly up to +40% at the last step
	banded        // a second healthy band at level × 1.6
	bump          // +50% in steps 18-25 only
)

// synthGroup makes one group: every member follows level × (1 + 0.2 sin)
// with 1.5% Gaussian noise; kinds[i] alters member i.
func synthGroup(seed uint64, w int, level float64, kinds []kind) [][]float64 {
	r := rand.New(rand.NewPCG(seed, 99))
	out := make([][]float64, len(kinds))
	for i, k := range kinds {
		row := make([]float64, w)
		for t := range row {
			swing := 0.2 * math.Sin(2*math.Pi*float64(t)/float64(w))
			v := level * (1 + swing)
			switch k {
			case shifted:
				v *= 1.3
			case reshaped:
				v = level * (1 - swing)
			case drifting:
				v *= 1 + 0.4*float64(t)/float64(w-1)
			case banded:
				v *= 1.6
			case bump:
				if t >= 18 && t <= 25 {
					v *= 1.5
				}
			}
			row[t] = v + r.NormFloat64()*0.015*level
		}
		out[i] = row
	}
	return out
}

func kinds(n int, special map[int]kind) []kind {
	k := make([]kind, n)
	for i, s := range special {
		k[i] = s
	}
	return k
}

func detectReq(rows [][]float64) DetectRequest {
	req := DetectRequest{}
	for i, row := range rows {
		req.Members = append(req.Members, DetectMember{Member: fmt.Sprintf("i-%02d", i), Values: row})
	}
	return req
}

// TestDetectSynthetic: the right members and only those are flagged, and
// the reason says why.
func TestDetectSynthetic(t *testing.T) {
	cases := []struct {
		name    string
		n       int
		level   float64
		special map[int]kind
		// want maps each expected outlier to a phrase its reason contains.
		want    map[int]string // regular expressions
		healthy string         // phrase in every non-outlier's reason
	}{
		{"no outlier", 20, 100, nil, nil, "in the main cluster"},
		{"shifted level", 20, 100, map[int]kind{7: shifted}, map[int]string{7: `^level 1\.(2|3)\d*x the group median over the whole window \(30 steps\)$`}, "in the main cluster"},
		{"different shape", 20, 100, map[int]kind{3: reshaped}, map[int]string{3: `^shape differs from the group median (over the whole window|in steps \d+-\d+ of 0-29) \(RMS difference 0\.\d+ of the group's scale, level (0\.9|1\.0)\d*x\)$`}, "in the main cluster"},
		{"slow drift", 20, 100, map[int]kind{5: drifting}, map[int]string{5: `^drifts away from the group median over the last \d+ steps: from 1\.\d+x to 1\.(3|4)\d*x$`}, "in the main cluster"},
		{"bump", 20, 100, map[int]kind{11: bump}, map[int]string{11: `^level 1\.(4|5)\d*x the group median in steps 18-25 of 0-29$`}, "in the main cluster"},
		{"three at once, small magnitudes", 30, 0.004, map[int]kind{2: shifted, 13: reshaped, 27: drifting},
			map[int]string{2: `^level 1\.(2|3)\d*x`, 13: "^shape differs", 27: "^drifts away"}, "in the main cluster"},
		{"two bands", 20, 5e6, map[int]kind{1: banded, 4: banded, 6: banded, 9: banded, 12: banded, 15: banded, 18: banded}, nil, "in band "},
		{"two bands and an outlier", 30, 100, map[int]kind{
			1: banded, 4: banded, 6: banded, 9: banded, 12: banded, 15: banded, 18: banded, 21: banded, 24: banded,
			29: reshaped}, map[int]string{29: "^shape differs"}, "in band "},
	}
	for ci, c := range cases {
		rows := synthGroup(uint64(ci+1), 30, c.level, kinds(c.n, c.special))
		resp, err := DetectMembers(detectReq(rows))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if resp.Skipped != "" {
			t.Errorf("%s: skipped: %s", c.name, resp.Skipped)
		}
		if !(resp.Eps >= MinEps) {
			t.Errorf("%s: eps = %v, want >= %v", c.name, resp.Eps, MinEps)
		}
		for i, m := range resp.Members {
			phrase, want := c.want[i]
			if m.Outlier != want {
				t.Errorf("%s: member %d outlier = %v, want %v (cluster %d, distance %.3f, eps %.3f, reason %q)",
					c.name, i, m.Outlier, want, m.Cluster, m.Distance, resp.Eps, m.Reason)
				continue
			}
			if want && !regexp.MustCompile(phrase).MatchString(m.Reason) {
				t.Errorf("%s: member %d reason = %q, want it to match %q", c.name, i, m.Reason, phrase)
			}
			if !want && !strings.Contains(m.Reason, c.healthy) {
				t.Errorf("%s: member %d reason = %q, want it to contain %q", c.name, i, m.Reason, c.healthy)
			}
			if want && (m.DiffFrom < 0 || m.DiffTo < m.DiffFrom || m.DiffTo > 29) {
				t.Errorf("%s: member %d diff span = %d-%d, want within 0-29", c.name, i, m.DiffFrom, m.DiffTo)
			}
			if want && m.Distance <= resp.Members[firstHealthy(resp)].Distance {
				t.Errorf("%s: outlier %d distance %.3f not above a healthy member's %.3f", c.name, i, m.Distance, resp.Members[firstHealthy(resp)].Distance)
			}
		}
	}
}

func firstHealthy(r DetectResponse) int {
	for i, m := range r.Members {
		if !m.Outlier {
			return i
		}
	}
	return 0
}

// TestDetectSpans checks where an outlier differs most.
func TestDetectSpans(t *testing.T) {
	rows := synthGroup(7, 30, 100, kinds(20, map[int]kind{3: bump, 8: shifted}))
	resp, err := DetectMembers(detectReq(rows))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ i, from, to int }{{3, 18, 25}, {8, 0, 29}} {
		m := resp.Members[c.i]
		if m.DiffFrom != c.from || m.DiffTo != c.to {
			t.Errorf("member %d differs most in %d-%d, want %d-%d (%s)", c.i, m.DiffFrom, m.DiffTo, c.from, c.to, m.Reason)
		}
	}
}

func TestDetectSmallGroups(t *testing.T) {
	// Three members, one far off: judged (minimum size), the odd one flagged.
	rows := synthGroup(3, 30, 100, kinds(3, map[int]kind{2: shifted}))
	resp, err := DetectMembers(detectReq(rows))
	if err != nil {
		t.Fatal(err)
	}
	got := []bool{resp.Members[0].Outlier, resp.Members[1].Outlier, resp.Members[2].Outlier}
	if !slices.Equal(got, []bool{false, false, true}) || resp.Skipped != "" {
		t.Errorf("3 members with one shifted: outliers %v skipped %q, want [false false true]", got, resp.Skipped)
	}
	// Two members: skipped, nobody flagged.
	resp, err = DetectMembers(detectReq(rows[:2]))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(resp.Skipped, "too few members to judge: 2, need 3") {
		t.Errorf("2 members: skipped = %q, want too few members", resp.Skipped)
	}
	for i, m := range resp.Members {
		if m.Outlier {
			t.Errorf("2 members: member %d flagged in a skipped group", i)
		}
	}
}

func TestDetectExplicitParams(t *testing.T) {
	rows := synthGroup(4, 30, 100, kinds(10, map[int]kind{0: shifted}))
	req := detectReq(rows)
	// An eps far above every distance: one cluster, nobody flagged.
	big, pts := 10.0, 3
	req.Eps, req.MinPts = &big, &pts
	resp, err := DetectMembers(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Eps != 10 || resp.MinPts != 3 {
		t.Errorf("eps, min_pts = %v, %v, want 10, 3", resp.Eps, resp.MinPts)
	}
	for i, m := range resp.Members {
		if m.Outlier || m.Cluster != 0 {
			t.Errorf("eps 10: member %d outlier %v cluster %d, want false 0", i, m.Outlier, m.Cluster)
		}
	}
	// An eps below every distance: all noise, the group is not judged.
	tiny := 1e-6
	req.Eps = &tiny
	resp, err = DetectMembers(req)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(resp.Skipped, "every member is noise") {
		t.Errorf("eps 1e-6: skipped = %q, want every member is noise", resp.Skipped)
	}
}

func TestDetectErrors(t *testing.T) {
	ok := []float64{1, 2, 3}
	neg := -1.0
	zero := 0
	cases := []struct {
		name  string
		req   DetectRequest
		code  anomaly.Code
		index int
		field string
	}{
		{"no members", DetectRequest{}, anomaly.CodeMissingField, -1, "members"},
		{"empty name", DetectRequest{Members: []DetectMember{{"a", ok}, {"", ok}}}, anomaly.CodeMissingField, 1, "member"},
		{"duplicate", DetectRequest{Members: []DetectMember{{"a", ok}, {"b", ok}, {"a", ok}}}, anomaly.CodeInvalidArgument, 2, "member"},
		{"no values", DetectRequest{Members: []DetectMember{{"a", ok}, {"b", nil}}}, anomaly.CodeMissingField, 1, "values"},
		{"ragged", DetectRequest{Members: []DetectMember{{"a", ok}, {"b", ok}, {"c", []float64{1, 2}}}}, anomaly.CodeInvalidArgument, 2, "values"},
		{"NaN", DetectRequest{Members: []DetectMember{{"a", ok}, {"b", []float64{1, math.NaN(), 3}}}}, anomaly.CodeInvalidArgument, 1, "values"},
		{"eps", DetectRequest{Members: []DetectMember{{"a", ok}}, Eps: &neg}, anomaly.CodeInvalidArgument, -1, "eps"},
		{"min_pts", DetectRequest{Members: []DetectMember{{"a", ok}}, MinPts: &zero}, anomaly.CodeInvalidArgument, -1, "min_pts"},
		{"too long", DetectRequest{Members: []DetectMember{{"a", make([]float64, MaxDetectValues+1)}}}, anomaly.CodeLimit, 0, "values"},
	}
	for _, c := range cases {
		_, err := DetectMembers(c.req)
		var e *anomaly.Error
		if !errors.As(err, &e) {
			t.Errorf("DetectMembers(%s) error = %v, want *anomaly.Error", c.name, err)
			continue
		}
		if e.Code != c.code || e.Index != c.index || e.Field != c.field {
			t.Errorf("DetectMembers(%s) = %s index %d field %q, want %s index %d field %q", c.name, e.Code, e.Index, e.Field, c.code, c.index, c.field)
		}
	}
}

// TestDetectJSON pins the wire shape of the stateless answer.
func TestDetectJSON(t *testing.T) {
	var req DetectRequest
	body := `{"members":[{"member":"a","values":[1,2,3]},{"member":"b","values":[1,2,3]},{"member":"c","values":[1,2,3.1]}],"min_pts":2}`
	if err := json.Unmarshal([]byte(body), &req); err != nil {
		t.Fatal(err)
	}
	resp, err := DetectMembers(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(resp)
	var generic map[string]any
	if err := json.Unmarshal(b, &generic); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"eps", "min_pts", "members"} {
		if _, ok := generic[k]; !ok {
			t.Errorf("response %s lacks %q", b, k)
		}
	}
	m := generic["members"].([]any)[0].(map[string]any)
	for _, k := range []string{"member", "cluster", "outlier", "distance", "reason", "diff_from", "diff_to"} {
		if _, ok := m[k]; !ok {
			t.Errorf("member %v lacks %q", m, k)
		}
	}
	if _, ok := m["series"]; ok {
		t.Errorf("stateless member %v has a series field", m)
	}
}

func TestFill(t *testing.T) {
	nan := math.NaN()
	cases := []struct {
		in, want []float64
		known    int
	}{
		{[]float64{1, 2, 3}, []float64{1, 2, 3}, 3},
		{[]float64{nan, nan, 3, nan, 5, nan}, []float64{3, 3, 3, 4, 5, 5}, 2},
		{[]float64{0, nan, nan, 3}, []float64{0, 1, 2, 3}, 2},
		{[]float64{nan, nan}, []float64{nan, nan}, 0},
	}
	for _, c := range cases {
		row := slices.Clone(c.in)
		k := fill(row)
		same := len(row) == len(c.want)
		for i := range row {
			if !(row[i] == c.want[i] || math.IsNaN(row[i]) && math.IsNaN(c.want[i])) {
				same = false
			}
		}
		if !same || k != c.known {
			t.Errorf("fill(%v) = %v, %d, want %v, %d", c.in, row, k, c.want, c.known)
		}
	}
}

func TestAutoMinPts(t *testing.T) {
	for _, c := range []struct{ m, want int }{{2, 2}, {3, 2}, {20, 2}, {21, 3}, {45, 5}, {100, 5}, {10000, 5}} {
		if got := autoMinPts(c.m); got != c.want {
			t.Errorf("autoMinPts(%d) = %d, want %d", c.m, got, c.want)
		}
	}
}

// TestDetectLargeGroup takes the path for groups over maxMatrix members
// (kd-tree, eps from a sample).
func TestDetectLargeGroup(t *testing.T) {
	const n = maxMatrix + 500
	special := map[int]kind{17: shifted, 1234: reshaped, n - 1: drifting}
	rows := synthGroup(11, 12, 40, kinds(n, special))
	resp, err := DetectMembers(detectReq(rows))
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	for i, m := range resp.Members {
		if m.Outlier {
			got = append(got, i)
		}
	}
	if want := []int{17, 1234, n - 1}; !slices.Equal(got, want) || resp.Skipped != "" {
		t.Errorf("%d members: outliers %v (skipped %q, eps %.3f), want %v", n, got, resp.Skipped, resp.Eps, want)
	}
}

// FuzzRuleJSON: whatever decodes re-encodes to something that decodes to
// the same rule.
func FuzzRuleJSON(f *testing.F) {
	f.Add(`{"name":"a","match":"m","group_by":["t"],"member":"d","window":30,"step":"90s","eps":"auto"}`)
	f.Add(`{"name":"a","match":"m","step":120,"eps":0.25,"min_pts":3,"tolerance":2.5,"min_members":4}`)
	f.Add(`{"eps":null,"step":null}`)
	f.Add(`{"name":"a","match":"m","scale":"member"}`)
	f.Fuzz(func(t *testing.T, s string) {
		var r Rule
		if json.Unmarshal([]byte(s), &r) != nil {
			return
		}
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("Marshal(%+v) = %v", r, err)
		}
		var back Rule
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("Unmarshal(Marshal(%s)) = %v (%s)", s, err, b)
		}
		b2, _ := json.Marshal(back)
		if string(b) != string(b2) {
			t.Fatalf("round trip of %s: %s then %s", s, b, b2)
		}
		_ = r.Validate() // must not panic
	})
}
