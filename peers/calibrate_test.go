package peers

import (
	"flag"
	"math/rand/v2"
	"testing"
)

var calibrate = flag.Bool("peers.calibrate", false, "run TestCalibration: false positives and negatives by tolerance")

// TestCalibration (with -peers.calibrate) counts errors of DetectMembers
// on 6,000 heterogeneous synthetic groups: 300 seeds × sizes 3, 5, 10, 20,
// 100 × {no outlier, level ×1.3, drift to +40%, inverted swing}; every
// member also has a persistent level offset (5% sd) and 3% noise. It logs
// false positives and negatives per tolerance; the figures are in
// README.md.
func TestCalibration(t *testing.T) {
	if !*calibrate {
		t.Skip("run with -peers.calibrate")
	}
	for _, tol := range []float64{1.5, 2, 2.5, 3, 4} {
		fp, fn, groups := 0, 0, 0
		for seed := uint64(100); seed < 400; seed++ {
			for _, n := range []int{3, 5, 10, 20, 100} {
				for _, k := range []kind{healthy, shifted, drifting, reshaped} {
					rows := synthGroup(seed, 30, 100, kinds(n, map[int]kind{n - 1: k}))
					r := rand.New(rand.NewPCG(seed, 7))
					for _, row := range rows {
						off := 1 + 0.05*r.NormFloat64()
						for t := range row {
							row[t] = row[t]*off + 3*r.NormFloat64()
						}
					}
					req := detectReq(rows)
					req.Tolerance = &tol
					resp, err := DetectMembers(req)
					if err != nil {
						t.Fatal(err)
					}
					groups++
					for i, m := range resp.Members {
						want := i == n-1 && k != healthy
						if m.Outlier && !want {
							fp++
						}
						if !m.Outlier && want {
							fn++
						}
					}
				}
			}
		}
		t.Logf("tolerance %.1f: %d groups, %d false positives (healthy members flagged), %d false negatives (of %d planted outliers)", tol, groups, fp, fn, groups*3/4)
	}
}
