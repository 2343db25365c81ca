// Package seasonal turns an irregular series into a regular one, finds its
// cycle and splits it into trend, seasonal and residual parts with robust
// (median based) estimators, in the spirit of the S-H-ESD decomposition of
// Twitter's AnomalyDetection:
//
//   - Regularize places the points on a grid of equal steps (the median
//     spacing of the timestamps); a slot holding several points takes their
//     median, an empty slot is filled by linear interpolation. Filled slots
//     exist for fitting only.
//   - DetectPeriod tests candidate cycle lengths (daily, weekly, ... in
//     slots) by the autocorrelation of the detrended series and keeps one
//     only when that autocorrelation is clearly significant.
//   - Decompose estimates the seasonal profile as the median, per phase of
//     the cycle, of the series minus a centred rolling median one cycle
//     long, and the trend as a trailing rolling median of the deseasonalised
//     series, so that a level shift shows in the residual from its first
//     point until the trend has absorbed it.
//
// Functions take slices and return results; scratch memory lives in a
// caller-owned Work that is reused between calls. Nothing here starts
// goroutines, logs or depends on anything but its arguments. A Work is not
// safe for concurrent use; distinct Works are.
package seasonal
