package seasonal

import (
	"slices"

	"github.com/anomalyd/detector/algorithms/robust"
)

// MinScaleSamples is the number of residuals PhaseScale aims to pool for
// each phase's scale.
const MinScaleSamples = 256

// PhaseScale writes to dst, resliced to period, a robust scale of the
// residuals r of a regular series at each phase φ of the cycle:
//
//	S[φ] = MADToSigma · MAD{ r[k] : k mod P within h of φ, cyclically },
//
// where h is the smallest half-width that pools at least MinScaleSamples
// residuals, at most P/8, and then S'[φ] = max(S[φ-h], S[φ], S[φ+h]), so
// that a phase next to a change of regime is judged with the scale of the
// busier side rather than a blend of both (conservative). Metrics often vary more where their cycle is high
// (daytime traffic), which one scale for the whole series misjudges. It
// returns dst; w holds the scratch memory. period must be at least 2 and
// len(r) at least period.
func PhaseScale(dst, r []float64, period int, w *Work) []float64 {
	if w == nil {
		w = new(Work)
	}
	n := len(r)
	cycles := max(n/period, 1)
	h := 0
	for (2*h+1)*cycles < MinScaleSamples && h < period/8 {
		h++
	}
	dst = slices.Grow(dst[:0], period)[:period]
	buf := w.scratch((2*h + 1) * (n/period + 1))
	w.c = slices.Grow(w.c[:0], len(buf))[:len(buf)]
	w.a = slices.Grow(w.a[:0], period)[:period]
	centred := w.a
	for ph := range period {
		vals := buf[:0]
		for dp := -h; dp <= h; dp++ {
			q := ((ph+dp)%period + period) % period
			for k := q; k < n; k += period {
				vals = append(vals, r[k])
			}
		}
		_, mad := robust.MedianMAD(vals, w.c)
		centred[ph] = robust.MADToSigma * mad
	}
	// The largest of the windows left of, around and right of each phase,
	// so that a phase next to a change of regime takes the busier side's
	// scale instead of a blend.
	for ph := range period {
		l, r := ((ph-h)%period+period)%period, (ph+h)%period
		dst[ph] = max(centred[l], centred[ph], centred[r])
	}
	return dst
}
