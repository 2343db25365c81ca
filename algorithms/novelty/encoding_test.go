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
