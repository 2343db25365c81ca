package main

import (
	"fmt"
	"os"
	"testing"

	"github.com/anomalyd/detector/benchmarks/configset"
	"github.com/anomalyd/detector/internal/synth"
	"github.com/anomalyd/detector/models"
)

func TestWhy(t *testing.T) {
	if os.Getenv("WHY") == "" {
		t.Skip()
	}
	c := models.DefaultConfig()
	if err := configset.Apply(&c, os.Getenv("SET")); err != nil {
		t.Fatal(err)
	}
	for _, sh := range synth.Shapes {
		cnt := map[string]int{}
		Why = func(s synth.Series, i int, r models.Result) {
			if s.Ts[i] >= synth.DefaultStart+7*day {
				cnt[r.Detector.String()]++
				if os.Getenv("WHY") == string(sh) {
					fmt.Printf("  i=%d v=%.3f exp=%.3f [%.3f %.3f] z=%.2f score=%.3f %v\n", i, s.Values[i], r.Expected, r.Lower, r.Upper, r.Z, r.Score, r.Detector)
				}
			}
		}
		for seed := range uint64(4) {
			s, _, _ := synth.Healthy{Shape: sh, Days: 35, Seed: seed + 1000}.Gen()
			opens(&c, s, 0)
		}
		fmt.Println(sh, cnt)
	}
}
