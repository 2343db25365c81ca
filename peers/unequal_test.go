package peers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/anomalyd/detector/anomaly"
)

// unequal member kinds.
const (
	uHealthy = iota
	uFall    // falls to 40% of its level from step 20 on
	uDrift   // drifts down linearly to half its level over steps 10-29
	uLag1    // one step late
	uLag2    // two steps late
	uAll     // every member: falls to 40% from step 20 (a whole group)
)

// unequalGroup makes n members whose levels are spread log-uniformly over
// a factor of 10 (in shuffled order), all with the same swing (±30% over
// the window plus a shared release step of +80% at step 12) and 3% noise.
func unequalGroup(seed uint64, n int, kinds map[int]int) [][]float64 {
	r := rand.New(rand.NewPCG(seed, 16))
	perm := r.Perm(n)
	out := make([][]float64, n)
	for i := range n {
		level := 50 * math.Pow(10, float64(perm[i])/float64(max(n-1, 1)))
		lag := 0
		switch kinds[i] {
		case uLag1:
			lag = 1
		case uLag2:
			lag = 2
		}
		row := make([]float64, 30)
		for t := range row {
			s := t - lag
			v := level * (1 + 0.3*math.Sin(2*math.Pi*float64(s)/40))
			if s >= 12 {
				v *= 1.8
			}
			switch {
			case kinds[i] == uFall && t >= 20, kinds[-1] == uAll && t >= 20:
				v *= 0.4
			case kinds[i] == uDrift && t >= 10:
				v *= 1 - 0.5*float64(t-9)/20
			}
			row[t] = v * (1 + 0.03*r.NormFloat64())
		}
		out[i] = row
	}
	return out
}

func detectScale(t *testing.T, rows [][]float64, scale Scale) DetectResponse {
	t.Helper()
	req := detectReq(rows)
	req.Scale = scale
	resp, err := DetectMembers(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// TestUnequalMembers: members whose sizes span a factor of 10 are judged
// by their behaviour on the member scale (and by auto), by their size on
// the group scale.
func TestUnequalMembers(t *testing.T) {
	cases := []struct {
		name  string
		n     int
		kinds map[int]int
		want  map[int]string // outlier → pattern of its reason
	}{
		{"no failure", 20, nil, nil},
		{"no failure, small group", 5, nil, nil},
		{"one failing member", 20, map[int]int{4: uFall}, map[int]string{
			4: `^fell to 0\.(3|4)\d*x its own level over the last 10 steps while its peers held$`}},
		{"one failing member of 6", 6, map[int]int{2: uFall}, map[int]string{
			2: `^fell to 0\.(3|4)\d*x its own level over the last 10 steps while its peers held$`}},
		{"one drifting member", 20, map[int]int{9: uDrift}, map[int]string{
			9: `^drifts down from its peers over the last (1[6-9]|2[0-4]) steps: from (0\.[89]\d*|1|1\.[01]\d*)x to 0\.[45]\d*x its own level$`}},
		{"late members", 20, map[int]int{1: uLag1, 6: uLag2, 13: uLag2}, nil},
		{"late members and a failing one", 20, map[int]int{1: uLag1, 6: uLag2, 11: uFall}, map[int]string{11: `^fell to 0\.(3|4)`}},
		{"a failure that hits the whole group", 20, map[int]int{-1: uAll}, nil},
	}
	for seed := uint64(1); seed <= 20; seed++ {
		for _, c := range cases {
			rows := unequalGroup(seed, c.n, c.kinds)
			for _, scale := range []Scale{"", ScaleAuto, ScaleMember} {
				resp := detectScale(t, rows, scale)
				if resp.Scale != ScaleMember || resp.Skipped != "" {
					t.Fatalf("seed %d %s, scale %q: judged on %q, skipped %q; want member, judged", seed, c.name, scale, resp.Scale, resp.Skipped)
				}
				for i, m := range resp.Members {
					pat, want := c.want[i]
					if m.Outlier != want {
						t.Errorf("seed %d %s, scale %q: member %d outlier = %v, want %v (distance %.3f, eps %.3f, %s)",
							seed, c.name, scale, i, m.Outlier, want, m.Distance, resp.Eps, m.Reason)
						continue
					}
					if want && !regexp.MustCompile(pat).MatchString(m.Reason) {
						t.Errorf("seed %d %s: member %d reason %q, want %q", seed, c.name, i, m.Reason, pat)
					}
					if !want && m.Reason != "in the main cluster" {
						t.Errorf("seed %d %s: member %d reason %q, want in the main cluster", seed, c.name, i, m.Reason)
					}
				}
			}
		}
	}
	// One member ten times the size of its equal peers: flagged for its
	// size on the group scale (and by auto, which keeps the group scale
	// for a lone member of another size), not on the member scale.
	rows := synthGroup(9, 30, 100, kinds(12, nil))
	for t2 := range rows[4] {
		rows[4][t2] *= 10
	}
	for _, c := range []struct {
		scale Scale
		want  bool
	}{{ScaleGroup, true}, {"", true}, {ScaleMember, false}} {
		resp := detectScale(t, rows, c.scale)
		for i, m := range resp.Members {
			if m.Outlier != (c.want && i == 4) {
				t.Errorf("one member at 10x, scale %q: member %d outlier %v (%s)", c.scale, i, m.Outlier, m.Reason)
			}
		}
		if c.want && !strings.HasPrefix(resp.Members[4].Reason, "level 9.") && !strings.HasPrefix(resp.Members[4].Reason, "level 10") {
			t.Errorf("one member at 10x, scale %q: reason %q, want level 10x the group median", c.scale, resp.Members[4].Reason)
		}
	}
}

// TestUnequalBand: a failure that hits a whole band of members (the five
// largest of twenty fall together) makes a second behaviour of a quarter
// of the group, which is a band, as on the group scale: not flagged. One
// member of the band failing alone is.
func TestUnequalBand(t *testing.T) {
	for seed := uint64(1); seed <= 10; seed++ {
		rows := unequalGroup(seed, 20, nil)
		// the five largest members
		type lv struct {
			i int
			l float64
		}
		var big []int
		for range 5 {
			best := lv{-1, 0}
			for i, row := range rows {
				if row[0] > best.l && !containsInt(big, i) {
					best = lv{i, row[0]}
				}
			}
			big = append(big, best.i)
		}
		band := cloneRows(rows)
		for _, i := range big {
			for t := 20; t < 30; t++ {
				band[i][t] *= 0.4
			}
		}
		resp := detectScale(t, band, "")
		for i, m := range resp.Members {
			if m.Outlier {
				t.Errorf("seed %d: band failure: member %d flagged (%s)", seed, i, m.Reason)
			}
			if containsInt(big, i) && !strings.HasPrefix(m.Reason, "in band ") {
				t.Errorf("seed %d: band failure: member %d reason %q, want in band", seed, i, m.Reason)
			}
		}
		one := cloneRows(rows)
		for t := 20; t < 30; t++ {
			one[big[0]][t] *= 0.4
		}
		resp = detectScale(t, one, "")
		for i, m := range resp.Members {
			if m.Outlier != (i == big[0]) {
				t.Errorf("seed %d: one of the band failing: member %d outlier %v (%s)", seed, i, m.Outlier, m.Reason)
			}
		}
	}
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func cloneRows(rows [][]float64) [][]float64 {
	out := make([][]float64, len(rows))
	for i, r := range rows {
		out[i] = append([]float64(nil), r...)
	}
	return out
}

// TestAutoScale: auto keeps the group scale for members alike in size (a
// lone member of another size is still flagged for it, two bands of sizes
// stay bands) and takes the member scale when sizes spread.
func TestAutoScale(t *testing.T) {
	// 5 equal hosts, one at 1.5x: group scale, the odd one flagged.
	rows := synthGroup(3, 30, 100, kinds(5, map[int]kind{2: shifted}))
	for t2 := range rows[2] {
		rows[2][t2] *= 1.5 / 1.3
	}
	resp := detectScale(t, rows, "")
	if resp.Scale != ScaleGroup || !resp.Members[2].Outlier {
		t.Errorf("5 hosts, one at 1.5x: scale %q, outlier %v; want group, flagged", resp.Scale, resp.Members[2].Outlier)
	}
	// Two bands of sizes at 1.6x: group scale, bands.
	rows = synthGroup(5, 30, 100, kinds(20, map[int]kind{1: banded, 4: banded, 6: banded, 9: banded, 12: banded, 15: banded, 18: banded}))
	if resp = detectScale(t, rows, ""); resp.Scale != ScaleGroup || !strings.HasPrefix(resp.Members[1].Reason, "in band") {
		t.Errorf("two bands: scale %q, reason %q; want group, in band", resp.Scale, resp.Members[1].Reason)
	}
	// Sizes over a factor of 10: member.
	if resp = detectScale(t, unequalGroup(2, 10, nil), ""); resp.Scale != ScaleMember {
		t.Errorf("sizes over 10x: scale %q, want member", resp.Scale)
	}
	for _, c := range []struct {
		lg   []float64
		want float64
	}{
		{nil, 1}, {[]float64{0, 5}, 1}, {[]float64{0, 0, 0, 0, 3}, 1}, {[]float64{0, 1, 2, 3, 4}, math.Exp(2)},
	} {
		if got := trimmedSpread(c.lg); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("trimmedSpread(%v) = %v, want %v", c.lg, got, c.want)
		}
	}
}

// TestMemberScaleStore: the store judges a rule on the member scale with
// gaps and late data, resolves levels for the verdict and names the scale.
func TestMemberScaleStore(t *testing.T) {
	rule := Rule{Name: "plays", Match: "play_starts", GroupBy: []string{"title"}, Member: "device", Window: 30, Step: time.Minute, Scale: ScaleMember}
	s, sk := newTestStore(t, Options{}, rule)
	members := map[string]value{}
	for d := range 12 {
		level := 20 * math.Pow(10, float64(d)/11)
		base := daily(uint64(d), level)
		var f value = base
		switch d {
		case 3: // misses every fourth step and steps 10-13
			f = func(k int) float64 {
				if k%4 == 0 || k >= 10 && k <= 13 {
					return math.NaN()
				}
				return base(k)
			}
		case 5: // two steps late, and its last step not yet in
			f = func(k int) float64 {
				if k == 29 {
					return math.NaN()
				}
				return base(k + 28) // the swing's period is 30 steps
			}
		case 8: // falls to 40% from step 22
			f = func(k int) float64 {
				if k >= 22 {
					return 0.4 * base(k)
				}
				return base(k)
			}
		}
		members[playSeries("t1", fmt.Sprintf("d%02d", d))] = f
	}
	feed(s, 0, 30, members)
	if _, err := s.Evaluate(context.Background(), stepTime(30)); err != nil {
		t.Fatal(err)
	}
	res, err := s.Results("plays", `play_starts{title="t1"}`)
	if err != nil {
		t.Fatal(err)
	}
	g := res[0]
	if g.Scale != ScaleMember || g.Skipped != "" || g.Outliers != 1 {
		t.Fatalf("group: scale %q skipped %q outliers %d, want member, judged, 1", g.Scale, g.Skipped, g.Outliers)
	}
	for _, m := range g.Members {
		if m.Outlier != (m.Member == "d08") {
			t.Errorf("%s outlier = %v (%s)", m.Member, m.Outlier, m.Reason)
		}
		if m.Member == "d08" && !regexp.MustCompile(`^fell to 0\.(3|4)\d*x its own level over the last 8 steps while its peers went to 0\.[78]\d*x$`).MatchString(m.Reason) {
			t.Errorf("d08 reason %q", m.Reason)
		}
	}
	evs := sk.take()
	if len(evs) != 1 || evs[0].Series != playSeries("t1", "d08") {
		t.Fatalf("events %+v, want one for d08", evs)
	}
	v := evs[0].Verdict
	// d08's own level is 20 × 10^(8/11) ≈ 107, its peers' swing at the
	// last step is about +20% down to -20%: the expectation is its own
	// level, not the group's median member's.
	if !(v.Expected > 60 && v.Expected < 160) || !(v.Lower <= v.Expected && v.Expected <= v.Upper) || !(v.Value < v.Lower) {
		t.Errorf("verdict value %.1f expected %.1f in [%.1f, %.1f], want expected near 107 and the value below the range", v.Value, v.Expected, v.Lower, v.Upper)
	}
}

func TestScaleValidation(t *testing.T) {
	if err := (Rule{Name: "a", Match: "m", Scale: "size"}).Validate(); err == nil {
		t.Error("scale size: valid, want an error")
	} else {
		var e *anomaly.Error
		if !errors.As(err, &e) || e.Field != "scale" {
			t.Errorf("scale size: %v, want an error on scale", err)
		}
	}
	for _, sc := range []Scale{"", ScaleAuto, ScaleGroup, ScaleMember} {
		if err := (Rule{Name: "a", Match: "m", Scale: sc}).Validate(); err != nil {
			t.Errorf("scale %q: %v", sc, err)
		}
	}
	if got := (Rule{}).WithDefaults().Scale; got != DefaultScale {
		t.Errorf("default scale %q, want %q", got, DefaultScale)
	}
	req := detectReq(unequalGroup(1, 5, nil))
	req.Scale = "bogus"
	var e *anomaly.Error
	if _, err := DetectMembers(req); !errors.As(err, &e) || e.Field != "scale" || e.Code != anomaly.CodeInvalidArgument {
		t.Errorf("detect scale bogus: %v, want invalid argument on scale", err)
	}
	var r Rule
	if err := json.Unmarshal([]byte(`{"name":"a","match":"m","scale":"member"}`), &r); err != nil || r.Scale != ScaleMember {
		t.Errorf("unmarshal scale member: %+v %v", r, err)
	}
	b, _ := json.Marshal(r.WithDefaults())
	if !strings.Contains(string(b), `"scale":"member"`) {
		t.Errorf("marshal: %s, want scale member", b)
	}
	b, _ = json.Marshal(Rule{Name: "a", Match: "m"}.WithDefaults())
	if !strings.Contains(string(b), `"scale":"auto"`) {
		t.Errorf("marshal defaults: %s, want scale auto", b)
	}
}
