package models

import "math"

// The daily profile and the day-of-week offsets are kept in 16-bit block
// floating point: each array holds int16 mantissas and one shared exponent
// (a bucket is mantissa × 2^(exponent-expBias), plus the array's common
// offset, a float32). The exponent is chosen from the largest |bucket|:
// it rises as soon as a bucket would leave ±maxMant, and falls at the fold
// (foldBlock, every dayFold points) when the largest bucket is below
// half of ±maxMant, so that a bucket's step stays between 2^-15 and 2^-14
// of the profile's largest bucket. An all-zero array has the smallest
// exponent: its first learned value sets the scale.
//
// A bucket learns by small exponentially weighted increments, often far
// below one step: they are rounded stochastically (floor(x + u) for a u
// uniform in [0, 1), so that the expected result is the exact sum), u
// drawn from a hash of the learned point count and the timestamp
// (dither): no extra state, and the same state and point always give the
// same result. The common offset takes what the rounded increments
// really added (not what they should have), so that the profile's zero
// mean is kept exactly.

const (
	expBias = 150   // a bucket's step is 2^(exponent - expBias): 2^-150 .. 2^105
	maxMant = 32767 // mantissas lie in [-maxMant, maxMant]; -32768 is never written
	halfMnt = 16384 // below this largest |mantissa| the fold lowers the exponent
)

// pow2 returns 2^e for e in [-1022, 1023], from its bits.
func pow2(e int) float64 { return math.Float64frombits(uint64(e+1023) << 52) }

// stepOf is the step of a mantissa under exponent exp.
func stepOf(exp uint8) float64 { return pow2(int(exp) - expBias) }

// invStepOf is 1/stepOf(exp), exactly.
func invStepOf(exp uint8) float64 { return pow2(expBias - int(exp)) }

// dither returns three independent uniforms in [0, 1) (21 bits each) from
// the model's point count and the point's timestamp (splitmix64's
// finaliser).
func dither(n uint32, tsMs int64) (u0, u1, u2 float64) {
	h := uint64(tsMs) + uint64(n)*0x9e3779b97f4a7c15
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	const mask, unit = 1<<21 - 1, 1.0 / (1 << 21)
	return float64(h>>43) * unit, float64(h>>22&mask) * unit, float64(h&mask) * unit
}

// addBlock adds d to element i of the block (mant, *exp), rounded down
// after adding the dither u (stochastic rounding), and returns by how much
// the sum of the block's values changed (d, give or take the rounding).
// The common path is a multiply-add and a truncation; a value beyond
// ±maxMant raises the exponent (growBlock).
func addBlock(mant []int16, exp *uint8, i int, d, u float64) float64 {
	old := mant[i]
	t := float64(old) + d*invStepOf(*exp) + u
	if t >= -maxMant && t < maxMant+1 {
		// t+maxMant+1 lies in [1, 65536): truncation is floor
		r := int16(int32(t+(maxMant+1)) - (maxMant + 1))
		mant[i] = r
		return float64(int32(r)-int32(old)) * stepOf(*exp)
	}
	return growBlock(mant, exp, i, d, u)
}

// growBlock is addBlock when element i would leave ±maxMant: the exponent
// rises until it fits (every other mantissa rounded to even), then the
// element learns as in addBlock. It returns the change of the block's sum
// of values, roundings included. At the largest exponent the element
// saturates.
func growBlock(mant []int16, exp *uint8, i int, d, u float64) float64 {
	s := stepOf(*exp)
	t := float64(mant[i]) + d/s
	if math.IsNaN(t) {
		return 0
	}
	before := 0.0
	for _, x := range mant {
		before += float64(x)
	}
	before *= s
	k := 0
	for a := math.Abs(t); a+1 > maxMant && int(*exp)+k < math.MaxUint8; a /= 2 {
		k++
	}
	scaleBlock(mant, exp, k)
	s = stepOf(*exp)
	r := math.Floor(math.Ldexp(t, -k) + u)
	mant[i] = int16(min(max(r, -maxMant), maxMant))
	after := 0.0
	for _, x := range mant {
		after += float64(x)
	}
	return after*s - before
}

// scaleBlock raises the block's exponent by k, every mantissa rounded to
// even.
func scaleBlock(mant []int16, exp *uint8, k int) {
	if k <= 0 {
		return
	}
	f := math.Ldexp(1, -k)
	for j, x := range mant {
		mant[j] = int16(math.RoundToEven(float64(x) * f))
	}
	*exp += uint8(k)
}

// foldBlock folds the common offset *off into the block's mantissas as
// far as it is a whole number of steps (what is left, under half a step,
// stays in *off) and re-chooses the exponent from the largest |bucket|:
// raised when a bucket would leave ±maxMant, lowered when the largest
// lies below halfMnt, the smallest when every bucket is 0. Every bucket's
// value stays the same, but for the roundings of a raised exponent, whose
// mean *off takes.
func foldBlock(mant []int16, exp *uint8, off *float32) {
	s := stepOf(*exp)
	o := float64(*off)
	q := math.RoundToEven(o / s)
	largest := 0.0
	for _, x := range mant {
		largest = max(largest, math.Abs(float64(x)+q))
	}
	switch {
	case largest == 0:
		*exp = 0
		*off = float32(o - q*s)
	case largest > maxMant:
		k := 0
		for a := largest; a > maxMant-0.5 && int(*exp)+k < math.MaxUint8; a /= 2 {
			k++
		}
		f := math.Ldexp(1, -k)
		ns := s / f
		var err float64 // what the roundings added, in values
		for j, x := range mant {
			v := float64(x) + q
			r := min(max(math.RoundToEven(v*f), -maxMant), maxMant)
			err += r*ns - v*s
			mant[j] = int16(r)
		}
		*exp += uint8(k)
		*off = float32(o - q*s - err/float64(len(mant)))
	default:
		k := 0
		for a := largest; a < halfMnt && 2*a <= maxMant && k < int(*exp); a *= 2 {
			k++
		}
		f := math.Ldexp(1, k)
		for j, x := range mant {
			mant[j] = int16((float64(x) + q) * f)
		}
		*exp -= uint8(k)
		*off = float32(o - q*s)
	}
}

// setBlock stores the values vals in the block (mant, *exp) and adds to
// *off the mean of what rounding them to the chosen step left (the
// decoding of the older encodings, which kept float32 buckets).
func setBlock(mant []int16, exp *uint8, off *float32, vals []float32) {
	largest := 0.0
	for _, v := range vals {
		largest = max(largest, math.Abs(float64(v)))
	}
	// the smallest exponent at which the largest fits
	*exp = 0
	for largest*invStepOf(*exp) > maxMant-0.5 && *exp < math.MaxUint8 {
		*exp++
	}
	if largest == 0 {
		clear(mant)
		return
	}
	s := stepOf(*exp)
	var err float64
	for j, v := range vals {
		r := min(max(math.RoundToEven(float64(v)/s), -maxMant), maxMant)
		err += float64(v) - r*s
		mant[j] = int16(r)
	}
	*off = float32(float64(*off) + err/float64(len(vals)))
}

// blockValue is element i of the block: its mantissa in steps of exp plus
// the common offset.
func blockValue(mant int16, exp uint8, off float32) float64 {
	return float64(mant)*stepOf(exp) + float64(off)
}
