package models

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/anomalyd/detector/algorithms/novelty"
	"github.com/anomalyd/detector/algorithms/stream"
	"github.com/anomalyd/detector/anomaly"
)

// Encoding versions. encodingVersion is the first byte of every model this
// build writes; UnmarshalBinary reads every version from
// minEncodingVersion up to it, migrating older ones, and refuses newer
// ones with ErrNewerEncoding.
//
// How to change the encoding (the upgrade path keeps every baseline):
//
//  1. bump encodingVersion to N;
//  2. in fields, guard what version N adds or changes with `if v >= N`
//     (and what it drops with `if v < N`), so that the same walk still
//     reads every older layout;
//  3. in migrate, give what older versions lack its starting value when
//     the zero value is not one;
//  4. add a snapshot fixture of version N-1 under testdata (go test
//     ./service -run TestSnapshotUpgrade -update writes one) and keep the
//     older fixtures: each must still restore.
//
// Version 3 had no range-novelty state (a v3 model restores with a fresh
// one); version 4 added it; version 5 adds the stuck detector's run
// counters (flat, maxFlat) at the end (a v4 model restores with no run
// history, the counters' zero value). Version 6 keeps the layout of 5 and
// adds three flags (weak evidence of the last point, see Config.ConfirmZ;
// a count series, see counts.go: a v5 model is not known as one);
// its learned range may be carried by a trend (see span), which a v5 raw
// range starts from as it is. Version 7 keeps the range-novelty slots'
// ranges in 16-bit steps of the raw range rather than as 32-bit floats
// (older slots are re-expressed, rounded outwards) and the daily buckets'
// visit counts in 4 bits (older counts saturate at 15, from where a bucket
// learns at Config.SeasonRate, as it did from 19 on with the default rate),
// and adds the daily profile's common offset after its buckets (0 in an
// older model). Version 8 keeps the daily profile and the day-of-week
// offsets in 16-bit block floating point (profile16.go: int16 mantissas,
// one exponent byte per array) and adds the day-of-week offsets' common
// offset; an older model's float buckets are rounded to the nearest step
// of the exponent their largest needs, the mean of the roundings added to
// the common offset.
const (
	encodingVersion    = 8
	minEncodingVersion = 3
)

// EncodingVersion is the model encoding version this build writes.
const EncodingVersion = encodingVersion

// ErrEncoding is returned (wrapped) for input UnmarshalBinary cannot decode.
var ErrEncoding = errors.New("models: bad encoding")

// ErrNewerEncoding is returned (wrapped) for a model written by a newer
// release: this build cannot read it, but it is not damaged. It wraps
// ErrEncoding; test for it first.
var ErrNewerEncoding = fmt.Errorf("%w: written by a newer release", ErrEncoding)

// CheckVersion says whether this build reads models of encoding version
// v: nil, an error wrapping ErrNewerEncoding, or one wrapping ErrEncoding
// (older than any release this build migrates from).
func CheckVersion(v uint8) error {
	switch {
	case v > encodingVersion:
		return fmt.Errorf("%w: version %d, this build reads versions %d to %d: run the newer release", ErrNewerEncoding, v, minEncodingVersion, encodingVersion)
	case v < minEncodingVersion:
		return fmt.Errorf("%w: version %d is older than any this build migrates from (%d to %d)", ErrEncoding, v, minEncodingVersion, encodingVersion)
	}
	return nil
}

// codec visits every field of a Model in the fixed order of the encoding,
// little endian; the same walk encodes and decodes, so the two cannot drift
// apart.
type codec struct {
	b   []byte
	off int
	dec bool
	err error // first error of a nested decoder
}

func (c *codec) u8(p *uint8) {
	if c.dec {
		*p = c.b[c.off]
		c.off++
		return
	}
	c.b = append(c.b, *p)
}

func (c *codec) u16(p *uint16) {
	if c.dec {
		*p = binary.LittleEndian.Uint16(c.b[c.off:])
		c.off += 2
		return
	}
	c.b = binary.LittleEndian.AppendUint16(c.b, *p)
}

func (c *codec) i16(p *int16) {
	u := uint16(*p)
	c.u16(&u)
	*p = int16(u)
}

func (c *codec) u32(p *uint32) {
	if c.dec {
		*p = binary.LittleEndian.Uint32(c.b[c.off:])
		c.off += 4
		return
	}
	c.b = binary.LittleEndian.AppendUint32(c.b, *p)
}

func (c *codec) u64(p *uint64) {
	if c.dec {
		*p = binary.LittleEndian.Uint64(c.b[c.off:])
		c.off += 8
		return
	}
	c.b = binary.LittleEndian.AppendUint64(c.b, *p)
}

func (c *codec) i64(p *int64) {
	u := uint64(*p)
	c.u64(&u)
	*p = int64(u)
}

func (c *codec) f32(p *float32) {
	u := math.Float32bits(*p)
	c.u32(&u)
	*p = math.Float32frombits(u)
}

func (c *codec) f64(p *float64) {
	u := math.Float64bits(*p)
	c.u64(&u)
	*p = math.Float64frombits(u)
}

// fields walks the model's state in the encoding order of version v.
func (m *Model) fields(c *codec, v uint8) {
	c.u32(&m.n)
	c.u16(&m.run)
	c.u8(&m.flags)
	c.i64(&m.firstTs)
	c.i64(&m.lastTs)
	c.f64(&m.lastV)
	c.f32(&m.stepMs)
	c.f32(&m.change)
	for _, p := range [...]*float64{&m.fast, &m.fastP, &m.slow, &m.trend, &m.plain} {
		c.f64(p)
	}
	for _, s := range [...]*stream.Scale{&m.fastS, &m.slowS, &m.plainS} {
		c.f32(&s.Med)
		c.f32(&s.Mean)
	}
	for i := range m.cal {
		c.f32(&m.cal[i].Q)
	}
	c.f32(&m.peak)
	c.f32(&m.held)
	c.u16(&m.hold)
	c.f32(&m.lik.Short)
	c.f32(&m.lik.Mean)
	c.f32(&m.lik.Var)
	c.u32(&m.lik.N)
	c.f64(&m.lo)
	c.f64(&m.hi)
	c.u32(&m.calm)
	if v >= 8 {
		for i := range m.day {
			c.i16(&m.day[i])
		}
		c.u8(&m.dayExp)
		c.f32(&m.dayOff)
		for i := range m.dow {
			c.i16(&m.dow[i])
		}
		c.u8(&m.dowExp)
		c.f32(&m.dowOff)
	} else {
		// 32-bit float buckets (and offsets, without a common one);
		// now block floating point (profile16.go), the buckets rounded
		// to the nearest step, the mean of what that leaves added to the
		// common offset.
		var day [dayBins]float32
		var dow [7]float32
		if !c.dec {
			for i := range day {
				day[i] = float32(float64(m.day[i]) * stepOf(m.dayExp))
			}
			for i := range dow {
				dow[i] = float32(m.dowOffset(i))
			}
		}
		for i := range day {
			c.f32(&day[i])
		}
		if v >= 7 {
			c.f32(&m.dayOff)
		}
		for i := range dow {
			c.f32(&dow[i])
		}
		if c.dec {
			setBlock(m.day[:], &m.dayExp, &m.dayOff, day[:])
			setBlock(m.dow[:], &m.dowExp, &m.dowOff, dow[:])
		}
	}
	if v >= 7 {
		for i := range m.dayCnt {
			c.u8(&m.dayCnt[i])
		}
	} else {
		// One byte per bucket, saturating at 255; now 4 bits, saturating
		// at maxVisits.
		for b := range dayBins {
			n := uint8(m.visits(b))
			c.u8(&n)
			if c.dec {
				n = min(n, maxVisits)
				m.dayCnt[b>>1] |= n << (4 * (b & 1))
			}
		}
	}
	for i := range m.dowCnt {
		c.u16(&m.dowCnt[i])
	}
	l := &m.last
	for _, p := range [...]*float32{&l.Expected, &l.Lower, &l.Upper, &l.Score, &l.Z} {
		c.f32(p)
	}
	st, det := uint8(l.State), uint8(l.Detector)
	c.u8(&st)
	c.u8(&det)
	l.State, l.Detector = anomaly.State(st), Detector(det)
	if v < 4 {
		return
	}
	if c.dec {
		// The length was checked as a whole; the contents may still be
		// rejected (an unknown kind), and then so is the whole model.
		// Versions 4 to 6 kept the slots' ranges as 32-bit floats.
		dec, n := m.nov.UnmarshalBinary, novelty.EncodedLen
		if v < 7 {
			dec, n = m.nov.UnmarshalFloatSlots, novelty.EncodedLenFloatSlots
		}
		if err := dec(c.b[c.off : c.off+n]); err != nil && c.err == nil {
			c.err = err
		}
		c.off += n
	} else if v < 7 {
		c.b = append(c.b, make([]byte, novelty.EncodedLenFloatSlots)...) // sizes only: this build writes v7
	} else {
		c.b = m.nov.AppendBinary(c.b)
	}
	if v >= 5 {
		c.u16(&m.flat)
		c.u8(&m.maxFlat)
	}
}

// encodedSizes is the length of an encoding of each version read.
var encodedSizes = func() (n [encodingVersion + 1]int) {
	for v := uint8(minEncodingVersion); v <= encodingVersion; v++ {
		var m Model
		c := codec{b: []byte{v}}
		m.fields(&c, v)
		n[v] = len(c.b)
	}
	return n
}()

// encodedSize is the length of an encoding of this version.
var encodedSize = encodedSizes[encodingVersion]

// migrate brings a model decoded from an older version up to this one.
// Version 3 lacked the range-novelty state and version 4 the stuck
// detector's run counters; the zero value of each is a fresh start:
// nothing to do.
func (m *Model) migrate(from uint8) {}

// AppendBinary appends the model's encoding (a version byte, then every
// field in a fixed order, little endian) to dst and returns the extended
// slice.
func (m *Model) AppendBinary(dst []byte) []byte {
	dst = append(dst, encodingVersion)
	c := codec{b: dst}
	m.fields(&c, encodingVersion)
	return c.b
}

// UnmarshalBinary restores a model written by AppendBinary of this
// release or of an older one it migrates from (see CheckVersion). It
// leaves m unchanged and returns an error wrapping ErrNewerEncoding for a
// newer version, or wrapping ErrEncoding when b is not exactly one
// encoding of its version or holds impossible values.
func (m *Model) UnmarshalBinary(b []byte) error {
	if len(b) == 0 {
		return fmt.Errorf("%w: empty input", ErrEncoding)
	}
	v := b[0]
	if err := CheckVersion(v); err != nil {
		return err
	}
	if len(b) != encodedSizes[v] {
		return fmt.Errorf("%w: %d bytes, want %d for version %d", ErrEncoding, len(b), encodedSizes[v], v)
	}
	var x Model
	c := codec{b: b, off: 1, dec: true}
	x.fields(&c, v)
	if c.err != nil {
		return fmt.Errorf("%w: novelty state: %w", ErrEncoding, c.err)
	}
	if err := x.check(v); err != nil {
		return fmt.Errorf("%w: %v", ErrEncoding, err)
	}
	if v < encodingVersion {
		x.migrate(v)
	}
	*m = x
	return nil
}

// check rejects decoded states the model can never reach in encoding
// version v.
func (m *Model) check(v uint8) error {
	known := uint8(flagOpen | flagSeasonal | flagWeekly)
	if v >= 6 {
		known |= flagWeakUp | flagWeakDown | flagCount
	}
	if m.flags&^known != 0 || m.flags&(flagWeakUp|flagWeakDown) == flagWeakUp|flagWeakDown {
		return fmt.Errorf("unknown flags %#x", m.flags)
	}
	if m.last.State > anomaly.StateAnomalous {
		return fmt.Errorf("unknown state %d", m.last.State)
	}
	if int(m.last.Detector) >= len(detectorNames) {
		return fmt.Errorf("unknown detector %d", m.last.Detector)
	}
	if m.n > 0 && m.lastTs < m.firstTs {
		return errors.New("last timestamp before first")
	}
	bad := func(f float64) bool { return math.IsNaN(f) || math.IsInf(f, 0) }
	for _, f := range [...]float64{m.lastV, m.fast, m.fastP, m.slow, m.trend, m.plain} {
		if bad(f) {
			return fmt.Errorf("%w: level", ErrNonFinite)
		}
	}
	scalars := [...]float32{m.stepMs, m.change, m.peak, m.fastS.Med, m.fastS.Mean, m.slowS.Med, m.slowS.Mean,
		m.plainS.Med, m.plainS.Mean, m.cal[0].Q, m.cal[1].Q, m.cal[2].Q}
	for i, f := range scalars {
		if bad(float64(f)) {
			return fmt.Errorf("%w: field", ErrNonFinite)
		}
		if i != 1 && f < 0 { // all but the change statistic are scales
			return errors.New("negative scale")
		}
	}
	for _, f := range [...]float32{m.last.Expected, m.last.Lower, m.last.Upper, m.last.Score, m.last.Z, m.held} {
		if bad(float64(f)) {
			return fmt.Errorf("%w: last verdict", ErrNonFinite)
		}
	}
	if bad(float64(m.lik.Short)) || bad(float64(m.lik.Mean)) || bad(float64(m.lik.Var)) {
		return fmt.Errorf("%w: likelihood", ErrNonFinite)
	}
	if bad(m.lo) || bad(m.hi) {
		return fmt.Errorf("%w: value range", ErrNonFinite)
	}
	if bad(float64(m.dayOff)) || bad(float64(m.dowOff)) {
		return fmt.Errorf("%w: field", ErrNonFinite)
	}
	for _, p := range [...][]int16{m.day[:], m.dow[:]} {
		for _, x := range p {
			if x < -maxMant { // never written (profile16.go)
				return errors.New("profile mantissa out of range")
			}
		}
	}
	return nil
}

// DecodesVersion reports whether UnmarshalBinary reads encodings of
// version v (this one and the older ones it migrates from).
func DecodesVersion(v uint8) bool { return CheckVersion(v) == nil }
