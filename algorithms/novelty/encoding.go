package novelty

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// EncodedLen is the length of a Detector's binary encoding.
const EncodedLen = 5*8 + 2*4 + MaxBins*(2*4+2*2) + 1

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
	dst = le.AppendUint32(dst, uint32(d.quiet))
	for i := range MaxBins {
		dst = le.AppendUint32(dst, math.Float32bits(d.slotLo[i]))
		dst = le.AppendUint32(dst, math.Float32bits(d.slotHi[i]))
		// The day of the slot's last visit: today's, or the day before
		// for a slot last visited earlier (only whether it is today's
		// matters).
		day := d.day
		if !d.visitedToday(i, d.day) {
			day--
		}
		if d.slotDays[i] == 0 {
			day = 0
		}
		dst = le.AppendUint16(dst, day)
		dst = le.AppendUint16(dst, uint16(d.slotDays[i]))
	}
	return append(dst, byte(d.kind))
}

// UnmarshalBinary restores d from an encoding made by AppendBinary. It
// returns an error wrapping ErrEncoding, leaving d unchanged, when b is not
// EncodedLen bytes long.
func (d *Detector) UnmarshalBinary(b []byte) error {
	if len(b) != EncodedLen {
		return fmt.Errorf("%w: %d bytes, want %d", ErrEncoding, len(b), EncodedLen)
	}
	if Kind(b[EncodedLen-1]) > KindSlot {
		return fmt.Errorf("%w: unknown kind %d", ErrEncoding, b[EncodedLen-1])
	}
	le := binary.LittleEndian
	f := func(i int) float64 { return math.Float64frombits(le.Uint64(b[8*i:])) }
	d.raw = Range{f(0), f(1)}
	d.smooth = Range{f(2), f(3)}
	d.level = f(4)
	d.n = le.Uint32(b[40:])
	d.quiet = int32(le.Uint32(b[44:]))
	p := b[48:]
	var days [MaxBins]uint16
	for i := range MaxBins {
		d.slotLo[i] = math.Float32frombits(le.Uint32(p))
		d.slotHi[i] = math.Float32frombits(le.Uint32(p[4:]))
		days[i] = le.Uint16(p[8:])
		d.slotDays[i] = uint8(min(le.Uint16(p[10:]), math.MaxUint8))
		p = p[12:]
	}
	d.kind = Kind(p[0])
	d.day, d.today = lastDay(&days, &d.slotDays), 0
	for i, day := range days {
		if d.slotDays[i] > 0 && day == d.day {
			d.today |= 1 << i
		}
	}
	return nil
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
