package robust_test

import (
	"fmt"

	"github.com/anomalyd/detector/algorithms/robust"
)

func ExampleMedianMAD() {
	x := []float64{1, 1, 2, 2, 4, 6, 9}
	work := make([]float64, len(x)) // reused across calls in a loop
	med, mad := robust.MedianMAD(x, work)
	fmt.Printf("median %v, MAD %v, sigma ≈ %.4f\n", med, mad, robust.MADToSigma*mad)
	fmt.Printf("p90: %.1f\n", robust.Quantile(0.9, x, work))
	// Output:
	// median 2, MAD 1, sigma ≈ 1.4826
	// p90: 7.2
}
