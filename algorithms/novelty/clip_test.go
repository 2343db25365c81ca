package novelty

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestClipBandIsTheScore: with the smoothed value following the point
// clipped (UpdateClip), BandClip with the same clip still gives exactly the
// values that score Threshold or more, wherever the clip lies against the
// smoothed range (inside it, across an edge, beyond it).
func TestClipBandIsTheScore(t *testing.T) {
	cfg := DefaultConfig()
	for seed := range uint64(12) {
		r := rand.New(rand.NewPCG(seed, 5))
		var d Detector
		mask := Mask(1 + seed%7)
		bad := 0
		for i := range 6000 {
			ts := int64(i) * 300_000
			v := 100 + 3*r.NormFloat64()/math.Sqrt(max(r.ExpFloat64(), 0.05))
			c := 100 + 2*r.NormFloat64()
			w := float64(seed%4+1) * 3 * r.Float64()
			lo0, hi0 := c-w, c+w
			lo, hi := d.BandClip(&cfg, ts, ScoreExcess(&cfg, Threshold), lo0, hi0, mask)
			s := d.UpdateClip(&cfg, ts, v, lo0, hi0, mask)
			if out := v < lo || v > hi; out != (s >= Threshold) {
				bad++
				if bad < 5 {
					t.Errorf("seed %d point %d: v=%v clip [%v, %v] band [%v, %v] score %v", seed, i, v, lo0, hi0, lo, hi, s)
				}
			}
		}
	}
}
