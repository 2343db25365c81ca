package esd_test

import (
	"fmt"

	"github.com/anomalyd/detector/algorithms/esd"
)

func ExampleTest() {
	// Rosner's (1983) example, as in the NIST/SEMATECH e-Handbook.
	x := []float64{
		-0.25, 0.68, 0.94, 1.15, 1.20, 1.26, 1.26, 1.34, 1.38, 1.43, 1.49, 1.49,
		1.55, 1.56, 1.58, 1.65, 1.69, 1.70, 1.76, 1.77, 1.81, 1.91, 1.94, 1.96,
		1.99, 2.06, 2.09, 2.10, 2.14, 2.15, 2.23, 2.24, 2.26, 2.35, 2.37, 2.40,
		2.47, 2.54, 2.62, 2.64, 2.90, 2.92, 2.92, 2.93, 3.21, 3.26, 3.30, 3.59,
		3.68, 4.30, 4.64, 5.34, 5.42, 6.01,
	}
	var res esd.Result
	if err := esd.Test(&res, x, esd.Config{MaxOutliers: 10, Alpha: 0.05, Estimator: esd.MeanSD}, nil); err != nil {
		fmt.Println(err)
		return
	}
	for i, idx := range res.OutlierIndices() {
		fmt.Printf("outlier %d: x[%d] = %.2f, R = %.3f\n", i+1, idx, x[idx], res.Stat[i])
	}
	// Output:
	// outlier 1: x[53] = 6.01, R = 3.119
	// outlier 2: x[52] = 5.42, R = 2.943
	// outlier 3: x[51] = 5.34, R = 3.179
}
