package main

import (
	"math"
	"testing"
)

// A hand-built file: 100 rows, probation 15, one window [40,59].
func handFile() *File {
	f := &File{Key: "x/a.csv", Category: "x", Ts: make([]int64, 100), Values: make([]float64, 100)}
	for i := range f.Ts {
		f.Ts[i] = int64(i) * 1000
	}
	f.Windows = [][2]int{{40, 59}}
	return f
}

func TestScoreHand(t *testing.T) {
	f := handFile()
	info := rowInfos(f)
	cases := []struct {
		name string
		det  []int
		want float64
	}{
		{"none", nil, -1},
		{"left edge", []int{40}, 1},
		{"right edge", []int{59}, sigma(-1.0/20) / sigma(-1)},
		{"left edge and later", []int{40, 50}, 1},
		{"before window", []int{30}, -1 - 0.11},
		{"probation", []int{10}, -1},
		{"after window", []int{70}, -1 + 0.11*sigma(11.0/19)},
	}
	for _, c := range cases {
		s := make([]float64, 100)
		for _, i := range c.det {
			s[i] = 1
		}
		fs := []*fileScores{{f: f, info: info, scores: s}}
		got := scoreAt(fs, profiles[0], 0.5).Raw
		if math.Abs(got-c.want) > 1e-9 {
			t.Errorf("%s: raw = %v, want %v", c.name, got, c.want)
		}
		sw := sweep(fs, profiles[0])
		if sw.Raw < got-1e-9 {
			t.Errorf("%s: sweep raw %v < fixed-threshold raw %v", c.name, sw.Raw, got)
		}
	}
}
