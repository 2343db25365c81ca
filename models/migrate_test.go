package models

import (
	"encoding/json"
	"errors"
	"os"
	"testing"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/internal/synth"
)

// TestDecodeVersion4 decodes a model written by the version-4 encoder
// (testdata/model-v4.bin, the canonical scenario's first 10 days, written
// before the stuck detector's counters were added) and checks that the
// baseline survives: same points, last point and verdict; it keeps judging
// the scenario (the dip on day 10 and the shift on day 12 are found);
// it re-encodes as the current version.
func TestDecodeVersion4(t *testing.T) {
	b, err := os.ReadFile("testdata/model-v4.bin")
	if err != nil {
		t.Fatal(err)
	}
	var want struct {
		Points    uint64        `json:"points"`
		LastTs    int64         `json:"last_ts"`
		LastValue float64       `json:"last_value"`
		Expected  float64       `json:"expected"`
		State     anomaly.State `json:"state"`
		Next      int           `json:"next_index"`
	}
	j, err := os.ReadFile("testdata/model-v4.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(j, &want); err != nil {
		t.Fatal(err)
	}
	if b[0] != 4 {
		t.Fatalf("fixture is version %d, want 4", b[0])
	}
	var m Model
	if err := m.UnmarshalBinary(b); err != nil {
		t.Fatalf("UnmarshalBinary(v4) = %v", err)
	}
	ts, v, r := m.Last()
	if m.Points() != want.Points || ts != want.LastTs || v != want.LastValue || float32(r.Expected) != float32(want.Expected) || r.State != want.State {
		t.Fatalf("decoded v4: points %d last (%d, %v) expected %v state %v; want %+v", m.Points(), ts, v, r.Expected, r.State, want)
	}
	// Truncated or padded version-4 input is rejected.
	var x Model
	if err := x.UnmarshalBinary(b[:len(b)-1]); !errors.Is(err, ErrEncoding) {
		t.Errorf("short v4: %v, want ErrEncoding", err)
	}
	if err := x.UnmarshalBinary(append(append([]byte(nil), b...), 0, 0, 0)); !errors.Is(err, ErrEncoding) {
		t.Errorf("v4 with v5 length: %v, want ErrEncoding", err)
	}
	c := DefaultConfig()
	sc := synth.NewScenario(1)
	if want.Next != 10*288 || sc.Dip < want.Next {
		t.Fatalf("fixture does not stop before the dip")
	}
	found := map[string]bool{}
	for i := want.Next; i < len(sc.Ts); i++ {
		r := m.Update(&c, sc.Ts[i], sc.Values[i])
		if r.State == anomaly.StateAnomalous {
			switch {
			case i == sc.Dip:
				found["dip"] = true
			case i >= sc.ShiftAt && i < sc.ShiftAt+12:
				found["shift"] = true
			}
		}
	}
	if !found["dip"] || !found["shift"] {
		t.Errorf("after migration: found %v, want the dip and the shift", found)
	}
	out := m.AppendBinary(nil)
	if out[0] != encodingVersion || len(out) != encodedSize {
		t.Errorf("re-encoded: version %d, %d bytes", out[0], len(out))
	}
	var back Model
	if err := back.UnmarshalBinary(out); err != nil || back != m {
		t.Errorf("round trip after migration: %v", err)
	}
}
