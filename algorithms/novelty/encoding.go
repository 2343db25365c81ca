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
		dst = le.AppendUint16(dst, d.slotDay[i])
		dst = le.AppendUint16(dst, d.slotDays[i])
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
	for i := range MaxBins {
		d.slotLo[i] = math.Float32frombits(le.Uint32(p))
		d.slotHi[i] = math.Float32frombits(le.Uint32(p[4:]))
		d.slotDay[i] = le.Uint16(p[8:])
		d.slotDays[i] = le.Uint16(p[10:])
		p = p[12:]
	}
	d.kind = Kind(p[0])
	return nil
}
