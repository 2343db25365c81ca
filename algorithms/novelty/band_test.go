package novelty

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestBandIsTheScore checks, over generated series of several shapes, that
// a point scores Threshold or more exactly when it lies outside the band
// computed before it.
func TestBandIsTheScore(t *testing.T) {
	cfg := DefaultConfig()
	const day = 86_400_000
	for seed := range uint64(12) {
		r := rand.New(rand.NewPCG(seed, 3))
		var d Detector
		mask := Mask(1 + seed%7) // every combination of ranges
		step := int64(300_000 * (1 + seed%3))
		amp := float64(seed%4) * 10
		bad := 0
		for i := range 6000 {
			ts := int64(i) * step
			v := 100 + amp*math.Sin(2*math.Pi*float64(ts%day)/day) + 3*r.NormFloat64()
			if r.IntN(200) == 0 {
				v += 40 * r.NormFloat64()
			}
			if i > 3000 && seed%2 == 1 {
				v += 15
			}
			lo, hi := d.Band(&cfg, ts, Threshold, mask)
			s := d.UpdateMask(&cfg, ts, v, mask)
			if out := v < lo || v > hi; out != (s >= Threshold) {
				bad++
				if bad < 5 {
					t.Errorf("seed %d point %d: v=%v band [%v, %v] score %v", seed, i, v, lo, hi, s)
				}
			}
		}
	}
}
