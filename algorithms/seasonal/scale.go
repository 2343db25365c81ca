package seasonal

import (
	"math"
	"slices"

	"github.com/anomalyd/detector/algorithms/robust"
)

// MinScaleSamples is the number of residuals PhaseScale aims to pool for
// each phase's scale.
const MinScaleSamples = 256

// PhaseScale writes to dst, resliced to period, a robust scale of the
// residuals r of a regular series at each phase φ of the cycle:
//
//	c     = median(r)
//	S[φ]  = MADToSigma · median{ |r[k] - c| : k mod P within h of φ, cyclically }
//	S'[φ] = max(S[φ-h], S[φ], S[φ+h])
//
// where h is the smallest half-width that pools at least MinScaleSamples
// residuals, at most P/8. The deviations are taken about the residuals'
// overall median, since a residual's distance from the fit is what the
// scale is for. S is computed every max(1, h/2) phases and held in between
// (neighbouring windows share most of their values); the maximum over the
// three windows makes a phase next to a change of regime take the busier
// side's scale rather than a blend of both (conservative).
//
// Metrics often vary more where their cycle is high (daytime traffic),
// which one scale for the whole series misjudges. It returns dst; w holds
// the scratch memory. period must be at least 2 and len(r) at least period.
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
	stride := max(1, h/2)
	dst = slices.Grow(dst[:0], period)[:period]
	buf := w.scratch(max(n, (2*h+1)*(n/period+1)))
	c := robust.Median(r, buf)
	w.a = slices.Grow(w.a[:0], period)[:period]
	centred := w.a
	for ph := 0; ph < period; ph += stride {
		vals := buf[:0]
		for dp := -h; dp <= h; dp++ {
			q := ((ph+dp)%period + period) % period
			for k := q; k < n; k += period {
				vals = append(vals, math.Abs(r[k]-c))
			}
		}
		s := robust.MADToSigma * robust.Select(vals, len(vals)/2)
		for q := ph; q < min(ph+stride, period); q++ {
			centred[q] = s
		}
	}
	for ph := range period {
		l, r := ((ph-h)%period+period)%period, (ph+h)%period
		dst[ph] = max(centred[l], centred[ph], centred[r])
	}
	return dst
}
