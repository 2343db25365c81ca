package models

import (
	"fmt"
	"os"
	"testing"

	"github.com/anomalyd/detector/internal/synth"
)

func TestDbgShape(t *testing.T) {
	sh := os.Getenv("SHAPE")
	if sh == "" {
		t.Skip()
	}
	c := DefaultConfig()
	for seed := range uint64(2) {
		s, _, _ := synth.Healthy{Shape: synth.Shape(sh), Days: 21, Seed: seed + 1000}.Gen()
		var m Model
		for i, ts := range s.Ts {
			v := s.Values[i]
			k := m.compute(&c, ts, v)
			nd := m.nov
			ns := nd.Update(&c.Novelty, ts, v)
			r := m.Update(&c, ts, v)
			if r.Transition == TransitionOpened && ts > synth.DefaultStart+7*86400000 {
				fmt.Printf("%d v=%.2f ef=%.2f sf=%.2f es=%.2f ss=%.2f z=%.2f,%.2f,%.2f q=%.2f,%.2f,%.2f surp=%.2f raw=%.2f score=%.2f ns=%.2f newRange=%v det=%v trend=%.4f lik=%+v\n", i, v, k.expFast, k.sFast, k.expSlow, k.sSlow, k.z[0], k.z[1], k.z[2],
					m.cal[0].Q, m.cal[1].Q, m.cal[2].Q, k.surprise, k.raw, k.score, ns, k.newRange, r.Detector, m.trend, m.lik)
			}
		}
	}
}
