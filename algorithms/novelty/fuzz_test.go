package novelty

import (
	"bytes"
	"errors"
	"math"
	"testing"
)

// FuzzUnmarshalBinary feeds the decoder arbitrary bytes, and a valid
// encoding with the fuzzer's bytes written over it at off. A rejected input
// must give an error wrapping ErrEncoding and leave the detector unchanged;
// an accepted one must re-encode to the same bytes or differ only in the
// slots' days of last visit and day counts (older releases wrote any day
// and counted to 65535 in this layout; the decoder reduces both to what
// this release keeps, and that form must re-encode to itself), and Update
// and Bounds must not panic. When the decoded ranges and level are finite, the score of
// a finite value must lie in [0, 1].
func FuzzUnmarshalBinary(f *testing.F) {
	cfg := DefaultConfig()
	ts, vs := daily(10)
	var a Detector
	for i := range ts {
		a.Update(&cfg, ts[i], vs[i])
	}
	valid := a.AppendBinary(nil)
	f.Add(valid, uint16(0), ts[len(ts)-1]+3600000, 50.0)
	f.Add([]byte{}, uint16(0), int64(0), 0.0)
	f.Add(valid[:EncodedLen-1], uint16(0), int64(-1), -1.0)
	f.Add([]byte{3}, uint16(EncodedLen-1), int64(86400000*3), 1e300)
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0xf8, 0x7f}, uint16(8), int64(0), 1.0)
	f.Fuzz(func(t *testing.T, data []byte, off uint16, tsMs int64, v float64) {
		patched := bytes.Clone(valid)
		copy(patched[int(off)%len(patched):], data)
		for _, in := range [][]byte{data, patched} {
			sentinel := Detector{n: 7, level: 3}
			d := sentinel
			if err := d.UnmarshalBinary(in); err != nil {
				if !errors.Is(err, ErrEncoding) {
					t.Fatalf("UnmarshalBinary(%x) = %v, want an error wrapping ErrEncoding", in, err)
				}
				if d != sentinel {
					t.Fatalf("UnmarshalBinary(%x) failed with %v but changed the detector", in, err)
				}
				continue
			}
			if got := d.AppendBinary(nil); !bytes.Equal(got, in) {
				var again Detector
				if !onlyDaysDiffer(in, got) || again.UnmarshalBinary(got) != nil || !bytes.Equal(again.AppendBinary(nil), got) {
					t.Fatalf("UnmarshalBinary(%x) accepted, re-encoded as %x", in, got)
				}
			}
			finite := true
			for _, x := range []float64{d.raw.Lo, d.raw.Hi, d.smooth.Lo, d.smooth.Hi, d.level} {
				if math.IsNaN(x) || math.IsInf(x, 0) || math.Abs(x) > 1e300 {
					finite = false
				}
			}
			finite = finite && !math.IsInf(v, 0) && !math.IsNaN(v) && math.Abs(v) < 1e300
			for _, c := range []Config{cfg, {Warmup: 0, SmoothRate: 0.5, Scale: 1, Bins: MaxBins, SlotDays: 1, Quiet: 2}} {
				x := d
				x.Bounds(&c, tsMs)
				s := x.Update(&c, tsMs, v)
				x.Kind()
				if finite && !(s >= 0 && s <= 1) {
					t.Fatalf("decoded %x, Update(%d, %v) = %v, want a score in [0, 1]", in, tsMs, v, s)
				}
				x.Update(&c, tsMs+3600000, -v)
				x.Bounds(&c, tsMs+3600000)
			}
		}
	})
}

// onlyDaysDiffer reports whether encodings a and b, of equal length, differ
// only in the slots' days of last visit and day counts (bytes 4-7 of each
// 8-byte slot from offset 46).
func onlyDaysDiffer(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] && !(i >= 46 && i < 46+8*MaxBins && (i-46)%8 >= 4) {
			return false
		}
	}
	return true
}
