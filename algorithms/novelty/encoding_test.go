package novelty

import (
	"errors"
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
		le(enc[48+12*i+8:], d)
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
	le(enc[48+10:], 1000)
	if err := b.UnmarshalBinary(enc); err != nil || b.slotDays[0] != 255 {
		t.Errorf("1000 days restored as %d (%v), want 255", b.slotDays[0], err)
	}
}
