// Package models is what a series has learned: the per-series state, its
// one-pass update and score step (composed from package algorithms), and
// its versioned binary encoding for snapshots (encoding.go says how a new
// version keeps older snapshots readable).
//
// # The model in plain words
//
// Every series keeps a few running estimates, each updated in place by
// every new point (one pass, no history kept, 400 bytes per series):
//
//   - A fast level (it follows the last few points) and a slow level (about
//     the last 500 points, with a damped trend). Both are robust: a point
//     moves them by at most HuberK scales, so one outlier cannot drag the
//     baseline.
//   - A daily profile of 24 hourly buckets (linearly interpolated, so a
//     smooth cycle is followed closely) plus day-of-week offsets, each kept
//     in 16 bits (block floating point, see profile16.go). The model
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
// with its trend and the profile it is learned around, for every series:
// a trend is predicted rather than left to look like a drift) and changepoint (the recent mean of the spike z's, i.e.
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
// series; the upper tail probability p gives s = -log10 p and the adaptive
// score s/(s+10), in [0,1). A score below the recent peak (decaying by 1%
// per point) is set to 0, so one event raises one alert rather than a run.
//
// Beside these adaptive detectors runs a range-novelty detector (package
// algorithms/novelty, 112 bytes): a value outside every value the series
// has shown, an exponentially smoothed value outside the range of its past
// smoothed values (a sustained shift; the smoother follows each point
// clipped to SmoothClipZ fast robust scales around the fast expectation, a
// winsorised smoother), or, for a series seen on more than 7
// days, a value outside the range its time-of-day slot (12 two-hour slots)
// has shown by more than 30% of the overall range (a flat line where a
// daily peak used to be). A novel point counts only when it is also at
// least NoveltyMinZ (3) robust scales from the fast or slow expectation, so
// noise setting a record by a hair does not alert; after a novel point the
// detector stays quiet for 10 points, so one excursion gives one alert.
// New records get rarer by themselves as a series ages, which is why this
// learns context without any per-series threshold.
//
// The final score is the novelty score (0.5 + 0.5(1 - e^{-excess/0.1}),
// excess in range widths) or, when the adaptive score reaches Escalate
// (0.6) for a point at least NoveltyMinZ robust scales from the fast or slow
// expectation, Threshold + (1 - Threshold) times the adaptive score,
// whichever is larger; below Escalate the adaptive score only grades the score under
// Threshold. A point is anomalous when its score reaches Config.Threshold
// (0.54 by default: NAB's standard-profile sweep picks the same
// detections for this model). Detector names what fired: level (a new extreme, or the slow
// level detector), changepoint (the smoothed value left its range, or the
// change-point detector), seasonal (new for its time of day, or the
// seasonal level detector), spike.
//
// Expected is the fast expected value (fast level plus the cycle in use).
// Lower and Upper are the verdict: a point is anomalous exactly when it
// lies outside [Lower, Upper] (band.go). They are found by inverting every
// alerting path of the score for the model as it stands before the point
// (the adaptive detectors with their calibration, likelihood and repeat
// suppression, the learned-range rule, the novelty ranges, the NoveltyMinZ
// gate, the confirmation hull and the count edges), and the state is then set from the band, so the two cannot
// disagree. The band is capped at 100 fast scales from Expected (a point
// further out is anomalous even while repeats are suppressed), is never
// zero wide, and stays in the domain the series has shown: no negative
// bound for a series never negative, no bound above 100 (or 1) for a
// series that touched that ceiling and never passed it. The series view
// (Baseline) at the last timestamp shows the last verdict's band. Z is the
// robust z of the detector that fired (of the spike detector for normal
// points).
//
// Three rules keep healthy series quiet without losing incidents:
//
//   - Hold: after a point alerts through the adaptive detectors, none of
//     the next HoldPoints (10) alerts through them again (HoldRise 1), as
//     the novelty detector's quiet: one excursion, one alert.
//   - Trend: while the slow level's damped trend is significant (it moves
//     the level by at least RecordTrend (1) slow sigmas over 1/SlowRate
//     points), the learned range's end in its direction is carried along
//     by the trend each point (span), and a new extreme (raw novelty, the
//     learned-range rule) counts only beyond it.
//   - Confirmation: a point that would alert while lying within ConfirmZ
//     (4) robust scales of both expectations is weak evidence, normal on
//     its own (the band widens to there) and remembered in a flag; the next
//     point is anomalous when it lies ConfirmNext (3) scales out on the same
//     side (it scores Threshold + (1-Threshold)/2). The smoothed value's
//     novelty, itself several points' evidence, needs no confirmation.
//   - Counts (counts.go): on a series of small non-negative integers
//     dispersed like Poisson counts, "far" (NoveltyMinZ) and "strong"
//     (ConfirmZ) also need the Poisson tail at the slow expectation to be
//     as small as the normal tail at that many scales.
//
// Beside the band, a stuck detector (stuck.go) names points that are
// ordinary in value but not in stillness: a run of points that do not move
// (by at most 1% of the long-run noise sigma: a repeated value or a noise
// collapse) is anomalous, detector stuck, from 12 points and 4 times the
// longest ordinary run the series has shown (learned over its first 288
// points), on series that had noise. One dead collector opens one anomaly,
// resolved when values move again.
//
// Time zones: the daily profile, the day-of-week offsets and the novelty
// slots use the local time of Config.Location (`--timezone`, UTC by
// default), with its daylight-saving rules, so a series that follows local
// hours keeps its cycle when the clocks change.
//
// Policies:
//
//   - Learning: the first MinPoints (48) points are learned and answered
//     with state learning and NeedPoints, the points still needed after
//     this one.
//   - Time: timestamps are Unix milliseconds. Rates are per point, so
//     irregular steps are fine; the profile uses the timestamp (hour
//     and weekday in Config.Location), not the point count. A point at or before the last
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
package models
