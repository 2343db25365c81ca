package kafka

import "github.com/anomalyd/detector/anomaly"

func samplesOf(series string, n int) []anomaly.Sample {
	out := make([]anomaly.Sample, n)
	for i := range out {
		out[i] = anomaly.Sample{Series: series, TimestampMs: int64(1_700_000_000_000 + 60_000*i), Value: float64(10 + i%4)}
	}
	return out
}
