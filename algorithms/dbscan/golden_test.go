package dbscan

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// golden is one case written by testdata/gen.py with scikit-learn.
type golden struct {
	Name       string      `json:"name"`
	Eps        float64     `json:"eps"`
	MinSamples int         `json:"min_samples"`
	Dim        int         `json:"dim"`
	Points     [][]float64 `json:"points"`
	Labels     []int       `json:"labels"`
	Core       []int       `json:"core_sample_indices"`
	Sklearn    string      `json:"sklearn"`
}

func loadGolden(t *testing.T) []golden {
	t.Helper()
	files, err := filepath.Glob("testdata/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files in testdata (run testdata/gen.py): %v", err)
	}
	var out []golden
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var g golden
		if err := json.Unmarshal(b, &g); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out = append(out, g)
	}
	return out
}

func (g golden) flat() []float64 {
	p := make([]float64, 0, len(g.Points)*g.Dim)
	for _, row := range g.Points {
		p = append(p, row...)
	}
	return p
}

// TestGoldenSklearn checks every index against scikit-learn's answer:
// the core set and the noise set exactly, clusters up to renaming, border
// points by the documented rule (lowest-numbered cluster with a core point
// within eps), and finally label identity, which holds because that rule is
// also scikit-learn's.
func TestGoldenSklearn(t *testing.T) {
	want := []string{"all_noise", "blobs2d", "blobs3d", "blobs8d", "bridge", "duplicates", "one_cluster", "shared_border"}
	cases := loadGolden(t)
	var names []string
	for _, g := range cases {
		names = append(names, g.Name)
	}
	slices.Sort(names)
	if !slices.Equal(names, want) {
		t.Fatalf("golden cases = %v, want %v", names, want)
	}
	for _, g := range cases {
		pts := g.flat()
		runs := map[string]func() (Result, error){
			"quadratic": func() (Result, error) { return Quadratic(pts, g.Dim, g.Eps, g.MinSamples) },
		}
		for _, idx := range []Index{Auto, Grid, KDTree, Brute} {
			runs[idx.String()] = func() (Result, error) {
				var c Clusterer
				var r Result
				err := c.Run(&r, pts, g.Dim, g.Eps, g.MinSamples, idx)
				return r, err
			}
		}
		for name, run := range runs {
			t.Run(g.Name+"/"+name, func(t *testing.T) {
				r, err := run()
				if err != nil {
					t.Fatal(err)
				}
				compareSklearn(t, g, pts, r)
			})
		}
	}
}

func compareSklearn(t *testing.T, g golden, pts []float64, r Result) {
	t.Helper()
	n := len(g.Labels)
	if len(r.Labels) != n {
		t.Fatalf("%d labels, want %d", len(r.Labels), n)
	}
	var core []int
	for i, c := range r.Core {
		if c {
			core = append(core, i)
		}
	}
	if !slices.Equal(core, g.Core) {
		t.Errorf("core set differs: %d core points, sklearn %d; first difference %v", len(core), len(g.Core), firstDiff(core, g.Core))
	}
	for i := range n {
		if (r.Labels[i] == Noise) != (g.Labels[i] == -1) {
			t.Errorf("point %d: label %d, sklearn %d (noise sets differ)", i, r.Labels[i], g.Labels[i])
		}
	}
	// Clusters up to renaming, on core points: a bijection.
	fwd, back := map[int]int{}, map[int]int{}
	for _, i := range g.Core {
		a, b := r.Labels[i], g.Labels[i]
		if x, ok := fwd[a]; ok && x != b {
			t.Fatalf("cluster %d holds core points of sklearn clusters %d and %d", a, x, b)
		}
		if x, ok := back[b]; ok && x != a {
			t.Fatalf("sklearn cluster %d holds core points of clusters %d and %d", b, x, a)
		}
		fwd[a], back[b] = b, a
	}
	if r.Clusters != len(back) {
		t.Errorf("Clusters = %d, want %d", r.Clusters, len(back))
	}
	// Border points: the lowest-numbered cluster with a core point within
	// eps, and sklearn's cluster once renamed.
	ambiguous := 0
	for i := range n {
		if r.Core[i] || r.Labels[i] == Noise {
			continue
		}
		best, seen := -1, map[int]bool{}
		for j := range n {
			if r.Core[j] && sqDist(pts[i*g.Dim:(i+1)*g.Dim], pts[j*g.Dim:(j+1)*g.Dim]) <= g.Eps*g.Eps {
				seen[r.Labels[j]] = true
				if best < 0 || r.Labels[j] < best {
					best = r.Labels[j]
				}
			}
		}
		if len(seen) > 1 {
			ambiguous++
		}
		if r.Labels[i] != best {
			t.Errorf("border point %d: cluster %d, want %d (lowest cluster with a core neighbour)", i, r.Labels[i], best)
		}
		if fwd[r.Labels[i]] != g.Labels[i] {
			t.Errorf("border point %d: cluster %d (sklearn %d after renaming), sklearn says %d", i, r.Labels[i], fwd[r.Labels[i]], g.Labels[i])
		}
	}
	if !slices.Equal(r.Labels, g.Labels) {
		t.Errorf("labels are not identical to sklearn's (first difference at %v)", firstDiff(r.Labels, g.Labels))
	}
	t.Logf("%d points, %d clusters, %d core, %d border points within eps of two clusters (sklearn %s)", n, r.Clusters, len(core), ambiguous, g.Sklearn)
}

func firstDiff(a, b []int) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
