package synth

import (
	"math"
	"slices"
	"testing"
)

func TestHealthyShapes(t *testing.T) {
	for _, sh := range Shapes {
		a, ua, _ := Healthy{Shape: sh, Days: 3, Seed: 1}.Gen()
		b, _, _ := Healthy{Shape: sh, Days: 3, Seed: 1}.Gen()
		if !slices.Equal(a.Values, b.Values) || !slices.Equal(a.Ts, b.Ts) {
			t.Errorf("%s: not deterministic", sh)
		}
		if len(a.Ts) < 300 || len(ua) != len(a.Ts) {
			t.Errorf("%s: %d points, %d units", sh, len(a.Ts), len(ua))
		}
		for i, v := range a.Values {
			if math.IsNaN(v) || (i > 0 && a.Ts[i] <= a.Ts[i-1]) {
				t.Fatalf("%s point %d: %v at %d", sh, i, v, a.Ts[i])
			}
			switch sh {
			case ShapePoisson, ShapeSparse:
				if v < 0 || v != math.Trunc(v) {
					t.Fatalf("%s point %d: %v is not a count", sh, i, v)
				}
			case ShapePercent:
				if v < 0 || v > 100 {
					t.Fatalf("%s point %d: %v outside [0,100]", sh, i, v)
				}
			}
		}
	}
}

func TestInject(t *testing.T) {
	s, unit, _ := Healthy{Shape: ShapeDaily, Days: 4, Seed: 2}.Gen()
	at := DefaultStart + 2*86_400_000
	i := s.Index(at)
	sp, inc := Inject(s, unit, IncidentSpike, at, 10)
	if sp.Values[i]-s.Values[i] != 10*unit[i] || inc.StartMs != s.Ts[i] || sp.Values[i+1] != s.Values[i+1] {
		t.Errorf("spike: %v -> %v", s.Values[i], sp.Values[i])
	}
	st, inc := Inject(s, unit, IncidentStuck, at, 0)
	for j := i; st.Ts[j] < inc.EndMs; j++ {
		if st.Values[j] != s.Values[i-1] {
			t.Fatalf("stuck point %d: %v, want %v", j, st.Values[j], s.Values[i-1])
		}
	}
	dr, inc := Inject(s, unit, IncidentDrop, at, 0)
	if len(dr.Ts) != len(s.Ts)-72 || dr.Ts[i] != inc.EndMs {
		t.Errorf("drop: %d points (from %d), next at %d, want %d", len(dr.Ts), len(s.Ts), dr.Ts[i], inc.EndMs)
	}
	if s.Values[i] != sp.Values[i]-10*unit[i] {
		t.Error("Inject changed its input")
	}
}
