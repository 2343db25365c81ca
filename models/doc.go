package models

// The model in plain words
//
// Every series keeps a few running estimates, each updated in place by
// every new point (one pass, no history kept, 352 bytes per series):
//
//   - A fast level (it follows the last few points) and a slow level (about
//     the last 500 points, with a damped trend). Both are robust: a point
//     moves them by at most HuberK scales, so one outlier cannot drag the
//     baseline.
//   - A daily profile of 24 hourly buckets (linearly interpolated, so a
//     smooth cycle is followed closely) plus day-of-week offsets. The model
//     decides from the series' own data whether to use it: only when, after
//     two days of history, the robust residual scale around "slow level +
//     profile" is at least 20% smaller than around the plain slow level.
//     The weekly part is reported once a week has been seen and some
//     weekday differs by more than one residual sigma.
//   - Robust scales of the residuals: a running median of absolute
//     residuals (a streaming MAD, which follows a doubling of volatility in
//     a few dozen points) floored by half of the mean absolute residual, so
//     zero-inflated or quantised series do not get a zero scale.
//
// Three detectors turn the point into robust z-scores: spike (distance from
// the fast expected value), level or seasonal (distance from the slow level
// and the profile) and changepoint (the recent mean of the spike z's, i.e.
// a sustained shift). Each z is divided by the running 99.5% quantile of
// that detector's own past |z| (calibration: a series that jumps by 5 sigma
// every day needs more than that to alert), weighted, and the largest wins.
// A fourth detector flags a value beyond the learned minimum or maximum by
// 2% of the range, once the range has been stable for a while and the
// series has a day of history.
//
// The winning surprise becomes a raw score, and the raw score goes through
// an anomaly likelihood in the manner of Numenta's HTM: its short recent
// mean is compared with the long-run distribution of that mean for this
// series; the upper tail probability p gives s = -log10 p and the score
// s/(s+10), in [0,1). A score below the recent peak (decaying by 1% per
// point) is set to 0, so one event raises one alert rather than a run of
// them. A point is anomalous when its score reaches Config.Threshold (0.26
// by default: the threshold NAB's standard profile picks for this model).
//
// Expected is the fast expected value (fast level plus the cycle in use).
// Lower and Upper are the values at which the spike detector alone would
// make the next point anomalous (the score pipeline inverted); they widen
// after a burst of anomalies and collapse to Expected when any value would
// be anomalous. Z is the robust z of the detector that fired (of the spike
// detector for normal points).
//
// Policies:
//
//   - Learning: the first MinPoints (48) points are learned and answered
//     with state learning and NeedPoints, the points still needed after
//     this one.
//   - Time: timestamps are Unix milliseconds. Rates are per point, so
//     irregular steps are fine; the profile uses the timestamp (UTC hour
//     and weekday), not the point count. A point at or before the last
//     learned timestamp (duplicate or out of order) is scored against the
//     baseline as it is and not learned. NaN and ±Inf are never learned;
//     Update returns a learning (or normal, score 0) verdict for them.
//   - Gaps: a gap shorter than MaxGapMs (7 days) changes nothing; the first
//     point after it is judged against the baseline as it was. After a
//     longer gap the levels are re-anchored at the next point (which is
//     still scored first) while scales, calibration and profile are kept.
//   - Anomaly runs: OpenAfter anomalous points in a row open an anomaly
//     (TransitionOpened), later points belong to it (TransitionUpdated) and
//     ResolveAfter normal points in a row resolve it (TransitionResolved).
