// Package score scores anomaly detectors on a NAB corpus the way NAB's own
// scorer (numenta/NAB v1.1, nab/sweeper.py with the corpus-wide threshold
// optimiser) does. It is the only place that reads the labels: the detector
// path (packages corpus and run) never imports it.
//
// For one file of N rows, with σ(x) = 2/(1+e^(5x)) - 1 (= -tanh(2.5x)):
//
//   - Probation P = min(floor(0.15·N), 750): rows with index < P are not
//     scored (neither detections nor misses). A window whose rows all lie in
//     probation is not scored either (NAB drops such windows when labelling).
//   - A row i inside a window [L, R] (width W = R-L+1) has position
//     x = -(R-i+1)/W and is worth A_TP·σ(x)/σ(-1) when it is a detection
//     (the left edge earns exactly A_TP). A window is worth the largest value
//     of its detections, i.e. its earliest detection, or -A_FN if it has none.
//   - A detection outside every window is a false positive worth
//     A_FP·σ(|i-R'|/(W'-1)) with R', W' the right edge and width of the last
//     window that ended before i, or -A_FP when none did. σ is taken as -1
//     for positions of 3 and beyond (as NAB does), and for W' = 1.
//   - A row is a detection when its anomaly score >= the threshold. One
//     threshold per profile is chosen for the whole set of files: every
//     distinct score in the scorable rows is tried, plus 1.1 (nothing
//     detected), and the one with the largest total wins; among equal
//     totals the highest threshold wins (NAB's stable sort).
//   - Normalised score = 100·(S - S_null)/(S_perfect - S_null) with
//     S_null = -A_FN·windows and S_perfect = A_TP·windows over the same files.
package score
