package models

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/anomalyd/detector/internal/synth"
)

// block is a test's block floating point array of n values.
type block struct {
	mant []int16
	exp  uint8
	off  float32
}

func (b *block) value(i int) float64 { return blockValue(b.mant[i], b.exp, b.off) }

func (b *block) largest() int {
	l := 0
	for _, x := range b.mant {
		l = max(l, int(math.Abs(float64(x))))
	}
	return l
}

// TestBlockFirstValueSetsScale: an empty block has the smallest exponent;
// its first value, however small or large, is kept to within 2^-14 of
// itself, with the largest mantissa in the upper half of the range.
func TestBlockFirstValueSetsScale(t *testing.T) {
	for _, v := range []float64{1e-30, -3e-4, 0.7, 123456, -2e29} {
		b := block{mant: make([]int16, dayBins)}
		got := addBlock(b.mant, &b.exp, 5, v, 0.5)
		if math.Abs(b.value(5)-v) > math.Abs(v)/(1<<14) {
			t.Errorf("first value %g kept as %g", v, b.value(5))
		}
		if got != b.value(5) {
			t.Errorf("first value %g: sum changed by %g, the bucket holds %g", v, got, b.value(5))
		}
		if l := b.largest(); l < halfMnt-1 || l > maxMant {
			t.Errorf("first value %g: largest mantissa %d, want it in [%d, %d]", v, l, halfMnt-1, maxMant)
		}
	}
}

// TestBlockStochasticRounding: increments below half a step, which
// rounding to the nearest step would lose, add up to their sum: a bucket
// that learns 20,000 increments of a fraction p of a step (with the
// model's dither) ends within 5 binomial standard deviations of 20,000p
// steps up, and the returned sum changes are exactly what the buckets
// gained.
func TestBlockStochasticRounding(t *testing.T) {
	for _, p := range []float64{0.02, 0.3} {
		b := block{mant: make([]int16, dayBins)}
		addBlock(b.mant, &b.exp, 0, 1000, 0)
		step, e := stepOf(b.exp), b.exp
		var added float64
		const n = 20000
		for i := range uint32(n) {
			u0, u1, _ := dither(i, 1767614400000+int64(i)*300_000)
			added += addBlock(b.mant, &b.exp, 3, p*step, u0)
			added += addBlock(b.mant, &b.exp, 4, -p*step, u1)
		}
		if b.exp != e {
			t.Fatalf("exponent changed to %d", b.exp)
		}
		tol := 5 * math.Sqrt(n*p*(1-p)) * step
		for i, want := range map[int]float64{3: n * p * step, 4: -n * p * step} {
			if got := b.value(i); math.Abs(got-want) > tol {
				t.Errorf("p %g: bucket %d: %g after %d increments of p steps, want %g ± %g", p, i, got, n, want, tol)
			}
		}
		if sum := b.value(3) + b.value(4); sum != added {
			t.Errorf("p %g: the buckets gained %g, addBlock reported %g", p, sum, added)
		}
	}
}

// TestBlockGrows: a value beyond the range raises the exponent; the other
// buckets keep their values to within half of the new step, and the
// reported change of the sum includes their roundings.
func TestBlockGrows(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	b := block{mant: make([]int16, dayBins)}
	for i := range dayBins {
		addBlock(b.mant, &b.exp, i, r.NormFloat64(), 0.5)
	}
	before := make([]float64, dayBins)
	sum := 0.0
	for i := range before {
		before[i] = b.value(i)
		sum += before[i]
	}
	e := b.exp
	got := addBlock(b.mant, &b.exp, 7, 1000, 0.5)
	if b.exp <= e {
		t.Fatalf("exponent %d after a value 300 times the largest, was %d", b.exp, e)
	}
	after := 0.0
	for i := range before {
		after += b.value(i)
		if i == 7 {
			continue
		}
		if math.Abs(b.value(i)-before[i]) > stepOf(b.exp)/2 {
			t.Errorf("bucket %d: %g after growing, %g before (step %g)", i, b.value(i), before[i], stepOf(b.exp))
		}
	}
	if math.Abs(b.value(7)-before[7]-1000) > stepOf(b.exp) {
		t.Errorf("bucket 7: %g, want %g", b.value(7), before[7]+1000)
	}
	if math.Abs(after-sum-got) > 1e-9*math.Abs(after) {
		t.Errorf("the sum changed by %g, addBlock reported %g", after-sum, got)
	}
	if l := b.largest(); l < halfMnt-1 || l > maxMant {
		t.Errorf("largest mantissa %d after growing, want it in [%d, %d]", l, halfMnt-1, maxMant)
	}
}

// TestBlockFoldTracksProfile: when the profile shrinks, the fold lowers
// the exponent so that the largest mantissa is back in the upper half of
// the range (the precision follows the profile), without changing any
// value; the offset's whole steps go into the mantissas; a block whose
// buckets are all 0 goes back to the smallest exponent.
func TestBlockFoldTracksProfile(t *testing.T) {
	b := block{mant: make([]int16, 7)}
	for i := range 7 {
		addBlock(b.mant, &b.exp, i, float64(i-3)*100, 0.5)
	}
	// shrink the profile 1000-fold
	for i := range 7 {
		addBlock(b.mant, &b.exp, i, -b.value(i)+float64(i-3)*0.1, 0.5)
	}
	b.off = float32(17.25 * stepOf(b.exp))
	if l := b.largest(); l >= halfMnt {
		t.Fatalf("largest mantissa %d after shrinking", l)
	}
	before := make([]float64, 7)
	for i := range before {
		before[i] = b.value(i)
	}
	e := b.exp
	foldBlock(b.mant, &b.exp, &b.off)
	if b.exp >= e {
		t.Errorf("exponent %d after the fold, was %d", b.exp, e)
	}
	if l := b.largest(); l < halfMnt || l > maxMant {
		t.Errorf("largest mantissa %d after the fold, want it in [%d, %d]", l, halfMnt, maxMant)
	}
	if math.Abs(float64(b.off)) > stepOf(e)/2 {
		t.Errorf("offset %g after the fold, want at most half of the old step %g", b.off, stepOf(e))
	}
	for i := range before {
		if got := b.value(i); math.Abs(got-before[i]) > 1e-6*math.Abs(before[i]) {
			t.Errorf("bucket %d: %g after the fold, %g before", i, got, before[i])
		}
	}

	z := block{mant: make([]int16, 7), exp: 160}
	foldBlock(z.mant, &z.exp, &z.off)
	if z.exp != 0 {
		t.Errorf("exponent %d of an all-zero block after the fold, want 0", z.exp)
	}
}

// TestBlockFoldRaises: an offset that would push a bucket out of range
// raises the exponent at the fold; the mean of the roundings stays in the
// offset, so the sum of the values is unchanged.
func TestBlockFoldRaises(t *testing.T) {
	b := block{mant: make([]int16, dayBins)}
	for i := range dayBins {
		addBlock(b.mant, &b.exp, i, float64(i), 0.5)
	}
	b.off = float32(40 * 23)
	sum := 0.0
	for i := range dayBins {
		sum += b.value(i)
	}
	e := b.exp
	foldBlock(b.mant, &b.exp, &b.off)
	if b.exp <= e {
		t.Fatalf("exponent %d after folding an offset 40 times the largest bucket, was %d", b.exp, e)
	}
	after := 0.0
	for i := range dayBins {
		after += b.value(i)
		if want := float64(i) + 40*23; math.Abs(b.value(i)-want) > stepOf(b.exp) {
			t.Errorf("bucket %d: %g, want %g", i, b.value(i), want)
		}
	}
	if math.Abs(after-sum) > 1e-5 {
		t.Errorf("sum %g after the fold, %g before", after, sum)
	}
}

// TestDecodeFloatProfile: a model of the previous encoding (float32
// buckets) restores its profile to within half a step of every bucket,
// the mean of the roundings in the common offset.
func TestDecodeFloatProfile(t *testing.T) {
	c := DefaultConfig()
	s := synth.Generate(synth.Config{Points: 10 * 288, DailyAmp: 20, Noise: 1, Seed: 3})
	var m Model
	for i := range s.Ts {
		m.Update(&c, s.Ts[i], s.Values[i])
	}
	enc := codec{b: []byte{7}}
	m.fields(&enc, 7)
	var x Model
	if err := x.UnmarshalBinary(enc.b); err != nil {
		t.Fatal(err)
	}
	var sum, xsum float64
	for i := range dayBins {
		sum += m.dayBucket(i)
		xsum += x.dayBucket(i)
		if d := math.Abs(x.dayBucket(i) - m.dayBucket(i)); d > stepOf(x.dayExp) {
			t.Errorf("bucket %d restored as %g, was %g", i, x.dayBucket(i), m.dayBucket(i))
		}
	}
	if math.Abs(xsum-sum) > 1e-4 {
		t.Errorf("profile sum %g restored as %g", sum, xsum)
	}
	for i := range 7 {
		if d := math.Abs(x.dowOffset(i) - m.dowOffset(i)); d > stepOf(x.dowExp)+1e-6*math.Abs(m.dowOffset(i)) {
			t.Errorf("weekday %d restored as %g, was %g", i, x.dowOffset(i), m.dowOffset(i))
		}
	}
}
