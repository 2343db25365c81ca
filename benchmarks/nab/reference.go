package main

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"

	"github.com/anomalyd/detector/benchmarks/nab/run"
)

// newWindowedGaussian is NAB's "windowedGaussian" reference detector: the
// score of a value is 1 - Q(|z|), z taken against the mean and standard
// deviation of up to the last 6400 values, which slide by steps of 100 once
// the window is full. It scores 0 on the first row.
func newWindowedGaussian() run.Detector {
	const size, step = 6400, 100
	var window, buf []float64
	mean, std := 0.0, 1.0
	update := func() {
		s := 0.0
		for _, v := range window {
			s += v
		}
		mean = s / float64(len(window))
		ss := 0.0
		for _, v := range window {
			ss += (v - mean) * (v - mean)
		}
		std = math.Sqrt(ss / float64(len(window)))
		if std == 0 {
			std = 1e-6
		}
	}
	return func(_ int64, v float64) float64 {
		sc := 0.0
		if len(window) > 0 {
			z := math.Abs(v-mean) / std
			sc = 1 - 0.5*math.Erfc(z/math.Sqrt2)
		}
		if len(window) < size {
			window = append(window, v)
			update()
		} else {
			buf = append(buf, v)
			if len(buf) == step {
				window = append(window[:0], append(window[step:], buf...)...)
				buf = buf[:0]
				update()
			}
		}
		return sc
	}
}

// newRandom scores every row uniformly at random (NAB's "random"
// reference). The generator is seeded from the file's first row, so a run
// repeats whatever order the files are run in.
func newRandom() run.Detector {
	var rng *rand.Rand
	return func(tsMs int64, v float64) float64 {
		if rng == nil {
			h := fnv.New64a()
			fmt.Fprintf(h, "%d,%g", tsMs, v)
			rng = rand.New(rand.NewPCG(h.Sum64(), 0x6e6162))
		}
		return rng.Float64()
	}
}
