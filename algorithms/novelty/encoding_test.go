package novelty

import (
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
)

func TestEncodingRoundTrip(t *testing.T) {
	cfg := DefaultConfig()
	ts, vs := daily(12)
	vs[9*24+12] = 0
	var a Detector
	half := len(vs) / 2
	for i := range half {
		a.Update(&cfg, ts[i], vs[i])
	}
	enc := a.AppendBinary(nil)
	if len(enc) != EncodedLen {
		t.Fatalf("len(AppendBinary) = %d, want %d", len(enc), EncodedLen)
	}
	var b Detector
	if err := b.UnmarshalBinary(enc); err != nil {
		t.Fatalf("UnmarshalBinary: %v", err)
	}
	if a != b {
		t.Fatalf("restored detector = %+v, want %+v", b, a)
	}
	for i := half; i < len(vs); i++ {
		if x, y := a.Update(&cfg, ts[i], vs[i]), b.Update(&cfg, ts[i], vs[i]); x != y {
			t.Errorf("score[%d] = %v after restore, want %v", i, y, x)
		}
	}
	if err := b.UnmarshalBinary(enc[:10]); !errors.Is(err, ErrEncoding) {
		t.Errorf("UnmarshalBinary(10 bytes) = %v, want ErrEncoding", err)
	}
}

// TestEncodingDaysOfLastVisit: the encoding keeps each slot's day of last
// visit (as older releases wrote it); the detector keeps only which slots
// were visited on the last day. A block written with true days of last
// visit restores to the same counting: a slot visited on the last day
// does not count that day again, one visited earlier does.
func TestEncodingDaysOfLastVisit(t *testing.T) {
	cfg := DefaultConfig()
	const day = 86_400_000
	var a Detector
	for i := range 200 { // settle, then visit slots 0..3 on day 100 and slot 0 on day 101
		a.Update(&cfg, 100*day+int64(i%4)*2*3_600_000, float64(i%7))
	}
	a.Update(&cfg, 101*day, 3)
	enc := a.AppendBinary(nil)
	// As an older release wrote it: slot 1 was last visited on day 99,
	// slots 2 and 3 on day 100, slot 0 on day 101.
	le := func(p []byte, v uint16) { p[0], p[1] = byte(v), byte(v>>8) }
	for i, d := range map[int]uint16{0: 101, 1: 99, 2: 100, 3: 100} {
		le(enc[46+8*i+4:], d)
	}
	var b Detector
	if err := b.UnmarshalBinary(enc); err != nil {
		t.Fatal(err)
	}
	if b.day != 101 || b.today != 1 {
		t.Fatalf("restored last day %d, today's slots %b; want 101, slot 0", b.day, b.today)
	}
	before := b.slotDays
	b.Update(&cfg, 101*day+60_000, 3)      // slot 0 again on day 101
	b.Update(&cfg, 101*day+2*3_600_000, 3) // slot 1, first time on day 101
	if b.slotDays[0] != before[0] || b.slotDays[1] != before[1]+1 {
		t.Errorf("days counted %v, from %v: want slot 0 unchanged, slot 1 one more", b.slotDays[:2], before[:2])
	}
	// Round trips, also on day 0 and across the 2^16 wrap of the day.
	for _, start := range []int64{0, 65535 * day} {
		var d Detector
		for i := range 300 {
			d.Update(&cfg, start+int64(i)*600_000, float64(i%5))
		}
		var back Detector
		if err := back.UnmarshalBinary(d.AppendBinary(nil)); err != nil || back != d {
			t.Errorf("start %d: round trip %v, %+v want %+v", start, err, back, d)
		}
	}
	// Day counts above 255 (an older release counted to 65535) saturate.
	le(enc[46+6:], 1000)
	if err := b.UnmarshalBinary(enc); err != nil || b.slotDays[0] != 255 {
		t.Errorf("1000 days restored as %d (%v), want 255", b.slotDays[0], err)
	}
}

// floatSlotsSeries is the series of testdata/float-slots.txt: a daily step
// of 3 on a level of a million with noise of a few tenths, with a midday
// dip, a night peak and a new maximum in its second half.
func floatSlotsSeries() ([]int64, []float64) {
	ts, vs := daily(20)
	for i := range vs {
		vs[i] = 1e6 + 3*vs[i] + float64((i*37)%11)/4
	}
	vs[15*24+12] = 1e6 + 1 // a midday dip only the slot sees
	vs[16*24+2] = 1e6 + 31 // a night peak
	vs[17*24+5] = 1e6 + 40 // a new maximum
	return ts, vs
}

// TestUnmarshalFloatSlots: testdata/float-slots.txt holds, as an older
// release wrote them, the encoding (slot ranges as 32-bit floats) of a
// detector after the first half of floatSlotsSeries, then the scores that
// release gave the second half. Restored with the slots in steps of the raw
// range, the detector scores the same points novel, within 1e-3.
func TestUnmarshalFloatSlots(t *testing.T) {
	raw, err := os.ReadFile("testdata/float-slots.txt")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	enc, err := hex.DecodeString(lines[0])
	if err != nil {
		t.Fatal(err)
	}
	var d Detector
	if err := d.UnmarshalBinary(enc); !errors.Is(err, ErrEncoding) {
		t.Errorf("UnmarshalBinary(old encoding) = %v, want ErrEncoding", err)
	}
	if err := d.UnmarshalFloatSlots(enc[:len(enc)-1]); !errors.Is(err, ErrEncoding) {
		t.Errorf("UnmarshalFloatSlots(short) = %v, want ErrEncoding", err)
	}
	if err := d.UnmarshalFloatSlots(enc); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	ts, vs := floatSlotsSeries()
	novel := 0
	for _, line := range lines[1:] {
		var i int
		var want float64
		if _, err := fmt.Sscanf(line, "%d %g", &i, &want); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		got := d.Update(&cfg, ts[i], vs[i])
		if (got > 0) != (want > 0) || math.Abs(got-want) > 1e-3 {
			t.Errorf("point %d scores %v, the older release %v", i, got, want)
		}
		if want > 0 {
			novel++
		}
	}
	if novel != 3 {
		t.Errorf("the fixture has %d novel points, want the 3 of the series", novel)
	}
}

// TestSlotStepsWiden: while the raw range keeps growing (a trend with
// noise), every slot's range still holds every value the slot saw, and is
// wider than their span by no more than a step per growth of the raw
// range.
func TestSlotStepsWiden(t *testing.T) {
	cfg := DefaultConfig()
	var d Detector
	var seenLo, seenHi [MaxBins]float64
	var seen [MaxBins]bool
	grown := 0
	x := uint64(1)
	for i := range 20000 {
		x = x*6364136223846793005 + 1442695040888963407
		noise := float64(x>>40)/float64(1<<24) - 0.5
		v := float64(i)*0.01 + 5*noise
		if i%977 == 0 {
			v *= -3 // an occasional far point below
		}
		ts := int64(i) * 300_000
		before := d.raw
		d.Update(&cfg, ts, v)
		if d.raw != before {
			grown++
		}
		settle := int64(math.Ceil(4 / cfg.SmoothRate))
		if int64(d.n) <= settle {
			continue
		}
		b := int(ts % 86_400_000 * int64(cfg.Bins) / 86_400_000)
		if !seen[b] {
			seenLo[b], seenHi[b], seen[b] = v, v, true
		}
		seenLo[b], seenHi[b] = min(seenLo[b], v), max(seenHi[b], v)
	}
	w := d.raw.Hi - d.raw.Lo
	for b := range cfg.Bins {
		lo, hi := d.slotRange(b)
		if lo > seenLo[b] || hi < seenHi[b] {
			t.Errorf("slot %d range [%v, %v] misses values seen in [%v, %v]", b, lo, hi, seenLo[b], seenHi[b])
		}
		if slack := (seenLo[b] - lo) + (hi - seenHi[b]); slack > float64(grown+2)*w/slotSteps {
			t.Errorf("slot %d range [%v, %v] is %v wider than the values seen, more than %d steps of %v", b, lo, hi, slack, grown+2, w/slotSteps)
		}
	}
	if grown < 100 {
		t.Errorf("the raw range grew %d times; the test wants it to grow often", grown)
	}
}

// TestStepsAroundAreFloorAndCeil: the steps at or below and at or above a
// value are the floor and the ceiling of its fraction of the range, in
// steps, for values at whole steps, a hair either side of them, inside
// the range and beyond both edges.
func TestStepsAroundAreFloorAndCeil(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, rg := range []Range{{0, 1}, {-3, 5}, {1e-9, 2e-9}, {-1e300, 1e300}, {100, 100.5}} {
		for range 2000 {
			var x float64
			switch r.IntN(3) {
			case 0: // a whole step, maybe nudged
				x = fromSteps(rg, uint16(r.IntN(slotSteps+1)))
				switch r.IntN(3) {
				case 0:
					x = math.Nextafter(x, math.Inf(-1))
				case 1:
					x = math.Nextafter(x, math.Inf(1))
				}
			case 1:
				x = rg.Lo + r.Float64()*(rg.Hi-rg.Lo)
			default:
				x = rg.Lo + (r.Float64()*3-1)*(rg.Hi-rg.Lo)
			}
			f := stepsOf(rg, x)
			down, up := stepsAround(rg, x)
			if down != uint16(math.Floor(f)) || up != uint16(math.Ceil(f)) {
				t.Fatalf("stepsAround(%v, %v) = %d, %d; steps %v", rg, x, down, up, f)
			}
		}
	}
}
