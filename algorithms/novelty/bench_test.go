package novelty

import (
	"math"
	"testing"
)

func BenchmarkDetectorUpdate(b *testing.B) {
	cfg := DefaultConfig()
	vs := make([]float64, 4096)
	for i := range vs {
		vs[i] = math.Sin(float64(i)/50) + 0.01*float64(i%7)
	}
	var d Detector
	b.ReportAllocs()
	b.ResetTimer()
	s := 0.0
	for i := 0; i < b.N; i++ {
		s += d.Update(&cfg, int64(i)*300_000, vs[i&4095])
	}
	_ = s
}
