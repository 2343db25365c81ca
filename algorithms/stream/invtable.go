package stream

import "math"

// The far branch of InvSurprise (tail probability at most 1e-12, surprise
// s of 11.75 to 300) is invTailLog of ln p = -s ln10 - ln2: three Newton
// steps, each with a logarithm. It is smooth in t = sqrt(s) (nearly
// linear: z is about sqrt(2 ln10) t), so a table of it at steps of 1/64
// in t, interpolated by the cubic through the four nearest nodes, gives
// the same value to within 1e-10 of it (TestFarInvSurpriseTable; the
// Newton steps themselves stop 1.5e-9 short of their fixed point, and
// the asymptotic tail they solve is 1e-5 from the normal tail there) at
// the cost of a square root.

const (
	farT0   = 3.4 // below sqrt(11.75), so that every stencil is inside
	farStep = 1.0 / 64
	farInv  = 64
)

var farTable = func() []float64 {
	n := int(math.Ceil((math.Sqrt(300)-farT0)*farInv)) + 3
	y := make([]float64, n)
	for i := range y {
		t := farT0 + float64(i-1)*farStep
		y[i] = invTailLog(-math.Ln10*t*t - math.Ln2)
	}
	return y
}()

// farInvSurprise is invTailLog(-ln10*s - ln2) for s in [invTailLogS, 300].
func farInvSurprise(s float64) float64 {
	u := (math.Sqrt(s) - farT0) * farInv
	i := int(u)
	f := u - float64(i)
	return cubic(farTable, i, f)
}

// Surprise of |z| below nearZMax (nearly every point's) is -log10 of
// erfc(|z|/sqrt2): an erfc and a logarithm. A table of it at steps of
// 1/128 in z, interpolated by the cubic through the four nearest nodes
// (the node below 0 continues the function analytically), gives it to
// within 1e-9 (TestNearSurpriseTable), below the float32 resolution of
// the likelihood state it feeds.
const (
	nearZMax = 8.0
	nearInv  = 128
)

var nearTable = func() []float64 {
	n := int(nearZMax*nearInv) + 3
	y := make([]float64, n)
	for i := range y {
		z := float64(i-1) / nearInv
		y[i] = -math.Log10(math.Erfc(z / math.Sqrt2))
	}
	return y
}()

// nearSurprise is Surprise(z) for z in [0, nearZMax).
func nearSurprise(z float64) float64 {
	u := z * nearInv
	i := int(u)
	f := u - float64(i)
	return cubic(nearTable, i, f)
}

// InvSurprise of s in [midS0, midS1) (tail probability above 1e-12) is
// sqrt2*Erfinv(1-2p), p = 0.5*10^-s: an exponential, and Erfinv's
// logarithm and square root. A table at steps of 1/128 in t = sqrt(s),
// of the exact inverse (Erfinv's value refined by Newton steps on
// Surprise, because Erfinv of a number this close to 1 is only good to
// 5.5e-7 near the top of the range), interpolated by the cubic through the
// four nearest nodes, gives the exact inverse to within 1e-8
// (TestMidInvSurpriseTable).
const (
	midS0  = 1.0
	midS1  = 12 - 0.30102999566398120 // 12 - log10(2): p = 1e-12
	midT0  = 1.0
	midInv = 128
)

var midTable = func() []float64 {
	n := int(math.Ceil((math.Sqrt(midS1)-midT0)*midInv)) + 3
	y := make([]float64, n)
	for i := range y {
		t := midT0 + float64(i-1)/midInv
		y[i] = exactInvSurprise(t * t)
	}
	return y
}()

// exactInvSurprise inverts -log10 erfc(z/sqrt2) = s for s in (0, 13],
// from Erfinv, by Newton steps on the logarithm of erfc.
func exactInvSurprise(s float64) float64 {
	z := math.Sqrt2 * math.Erfinv(1-math.Exp(-math.Ln10*s))
	for range 3 {
		e := math.Erfc(z / math.Sqrt2)
		// d/dz of -log10 erfc(z/sqrt2) = 2 phi(z) / (erfc ln10)
		d := 2 * math.Exp(-z*z/2) / sqrt2Pi / (e * math.Ln10)
		z -= (-math.Log10(e) - s) / d
	}
	return z
}

// midInvSurprise is InvSurprise(s) for s in [midS0, midS1).
func midInvSurprise(s float64) float64 {
	u := (math.Sqrt(s) - midT0) * midInv
	i := int(u)
	f := u - float64(i)
	return cubic(midTable, i, f)
}

// cubic is the Lagrange cubic through table nodes i..i+3 (at -1, 0, 1, 2)
// evaluated at f in [0, 1) past node i+1.
func cubic(table []float64, i int, f float64) float64 {
	y := table[i : i+4 : i+4]
	y0, y1, y2, y3 := y[0], y[1], y[2], y[3]
	return y1 + f*((y2-y0)/2+f*((y0-2.5*y1+2*y2-0.5*y3)+f*(1.5*(y1-y2)+0.5*(y3-y0))))
}
