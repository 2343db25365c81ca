package novelty

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// EncodedLen is the length of a Detector's binary encoding: the ranges and
// level, the point count and the quiet count, then per slot its range (two
// steps of the raw range) with its day of last visit and days visited, and
// the kind.
const EncodedLen = 5*8 + 4 + 2 + MaxBins*(4*2) + 1

// EncodedLenFloatSlots is the length of the encoding older releases wrote
// (read by UnmarshalFloatSlots): the quiet count in 32 bits and each
// slot's range as two 32-bit floats.
const EncodedLenFloatSlots = 5*8 + 2*4 + MaxBins*(2*4+2*2) + 1

// ErrEncoding reports a binary encoding of the wrong length.
var ErrEncoding = errors.New("novelty: bad encoding")

// AppendBinary appends d's state (EncodedLen bytes, little endian, no
// version byte: the caller versions its own format) to dst.
func (d *Detector) AppendBinary(dst []byte) []byte {
	le := binary.LittleEndian
	for _, f := range [...]float64{d.raw.Lo, d.raw.Hi, d.smooth.Lo, d.smooth.Hi, d.level} {
		dst = le.AppendUint64(dst, math.Float64bits(f))
	}
	dst = le.AppendUint32(dst, d.n)
	dst = le.AppendUint16(dst, uint16(d.quiet))
	for i := range MaxBins {
		dst = le.AppendUint16(dst, d.slotLo[i])
		dst = le.AppendUint16(dst, d.slotHi[i])
		dst = le.AppendUint16(dst, d.lastVisit(i))
		dst = le.AppendUint16(dst, uint16(d.slotDays[i]))
	}
	return append(dst, byte(d.kind))
}

// lastVisit returns the day of slot i's last visit as the encoding keeps
// it: today's, or the day before for a slot last visited earlier (only
// whether it is today's matters), 0 for a slot never visited.
func (d *Detector) lastVisit(i int) uint16 {
	switch {
	case d.slotDays[i] == 0:
		return 0
	case d.visitedToday(i, d.day):
		return d.day
	}
	return d.day - 1
}

// UnmarshalBinary restores d from an encoding made by AppendBinary. It
// returns an error wrapping ErrEncoding, leaving d unchanged, when b is not
// EncodedLen bytes long or holds a state Update never makes. It reads the
// slots' days of last visit and day counts as older releases wrote them in
// the same layout (any day, counts up to 65535): the latest day is the
// last day and the slots visited on it today's, counts saturate at 255. So
// such an encoding re-encodes to this release's form, not to itself.
func (d *Detector) UnmarshalBinary(b []byte) error {
	if err := checkFrame(b, EncodedLen); err != nil {
		return err
	}
	le := binary.LittleEndian
	q := le.Uint16(b[44:])
	if q > math.MaxInt16 {
		return fmt.Errorf("%w: quiet count %d", ErrEncoding, q)
	}
	var x Detector
	x.head(b)
	x.quiet = int16(q)
	p := b[46:]
	var days [MaxBins]uint16
	for i := range MaxBins {
		x.slotLo[i], x.slotHi[i] = le.Uint16(p), le.Uint16(p[2:])
		days[i] = le.Uint16(p[4:])
		x.slotDays[i] = uint8(min(le.Uint16(p[6:]), math.MaxUint8))
		p = p[8:]
	}
	x.tail(&days, p[0])
	*d = x
	return nil
}

// UnmarshalFloatSlots restores d from the encoding of older releases
// (EncodedLenFloatSlots bytes: slot ranges as 32-bit floats). Each slot's
// range is re-expressed in steps of the raw range, rounded outwards; the
// rest of the state is kept exactly. Errors are those of UnmarshalBinary.
func (d *Detector) UnmarshalFloatSlots(b []byte) error {
	if err := checkFrame(b, EncodedLenFloatSlots); err != nil {
		return err
	}
	le := binary.LittleEndian
	var x Detector
	x.head(b)
	x.quiet = int16(min(int32(le.Uint32(b[44:])), math.MaxInt16))
	p := b[48:]
	var days [MaxBins]uint16
	for i := range MaxBins {
		lo := float64(math.Float32frombits(le.Uint32(p)))
		hi := float64(math.Float32frombits(le.Uint32(p[4:])))
		if !math.IsNaN(lo) && !math.IsNaN(hi) {
			x.slotLo[i], _ = stepsAround(x.raw, lo)
			_, x.slotHi[i] = stepsAround(x.raw, hi)
		}
		days[i] = le.Uint16(p[8:])
		x.slotDays[i] = uint8(min(le.Uint16(p[10:]), math.MaxUint8))
		p = p[12:]
	}
	x.tail(&days, p[0])
	*d = x
	return nil
}

// checkFrame checks that b is an encoding of length n with a known kind
// in its last byte.
func checkFrame(b []byte, n int) error {
	if len(b) != n {
		return fmt.Errorf("%w: %d bytes, want %d", ErrEncoding, len(b), n)
	}
	if Kind(b[n-1]) > KindSlot {
		return fmt.Errorf("%w: unknown kind %d", ErrEncoding, b[n-1])
	}
	return nil
}

// head decodes the ranges, the level and the point count, which both
// encodings begin with.
func (d *Detector) head(b []byte) {
	le := binary.LittleEndian
	f := func(i int) float64 { return math.Float64frombits(le.Uint64(b[8*i:])) }
	d.raw = Range{f(0), f(1)}
	d.smooth = Range{f(2), f(3)}
	d.level = f(4)
	d.n = le.Uint32(b[40:])
}

// tail sets the kind and, from the slots' days of last visit, the last day
// and the slots visited on it.
func (d *Detector) tail(days *[MaxBins]uint16, kind byte) {
	d.kind = Kind(kind)
	d.day, d.today = lastDay(days, &d.slotDays), 0
	for i, day := range days {
		if d.slotDays[i] > 0 && day == d.day {
			d.today |= 1 << i
		}
	}
}

// lastDay returns the day of the latest slot visit among the visited
// slots' days of last visit: the largest, except that two consecutive days
// (mod 2^16, as AppendBinary writes them) end at the second.
func lastDay(days *[MaxBins]uint16, visits *[MaxBins]uint8) uint16 {
	var seen [2]uint16
	n := 0
	last := uint16(0)
	for i, day := range days {
		if visits[i] == 0 {
			continue
		}
		if n < 2 && (n == 0 || seen[0] != day) {
			seen[n] = day
			n++
		} else if n == 2 && day != seen[0] && day != seen[1] {
			n = 3
		}
		last = max(last, day)
	}
	if n == 2 {
		switch {
		case seen[0]+1 == seen[1]:
			return seen[1]
		case seen[1]+1 == seen[0]:
			return seen[0]
		}
	}
	return last
}
