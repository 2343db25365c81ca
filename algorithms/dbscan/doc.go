// Package dbscan is exact DBSCAN (Ester, Kriegel, Sander and Xu, 1996)
// over points stored row-major in a flat []float64, with a spatial index so
// that it is not quadratic, plus the automatic choice of eps used by peer
// groups.
//
// # Definitions (scikit-learn's conventions)
//
// Distances are Euclidean. The eps-neighbourhood of a point p is every point
// q with dist(p, q) <= eps, p itself included. A point is a core point when
// its neighbourhood holds at least minPts points (so minPts = 1 makes every
// point core, and minPts counts the point itself as scikit-learn's
// min_samples does). Two core points within eps of each other belong to the
// same cluster; a non-core point within eps of a core point is a border
// point; every other point is noise and gets the label Noise (-1).
//
// # Deterministic labels
//
// Clusters are numbered 0, 1, ... in the order of their lowest-index core
// point: cluster 0 holds core point 0 if point 0 is core, otherwise the first
// core point in index order, and so on. A border point within eps of core
// points of several clusters gets the lowest-numbered of those clusters.
// Labels therefore depend only on the points and their order, not on the
// index used or on the order in which neighbours are visited.
//
// scikit-learn's DBSCAN (sklearn/cluster/_dbscan_inner.pyx) scans points in
// index order, starts a cluster at each unlabelled core point and expands it
// completely (depth first) before it starts the next, and never relabels a
// border point. Its clusters are thus numbered by their lowest-index core
// point too, and a border point keeps the first cluster that reached it,
// which is the lowest-numbered cluster with a core point within eps of it.
// The two rules coincide, so for the same points and the same eps the labels
// are identical, not merely equal up to renaming; the golden tests check
// exactly that (up to floating-point ties at distance exactly eps).
//
// # Indexes
//
// Run answers the range queries with a uniform grid (cell side eps, one
// hash lookup per neighbouring cell: 3^dim cells) in up to 3 dimensions and
// with a kd-tree over a reordered copy of the points (bounding boxes per
// node, whole nodes taken at once when they lie inside the ball) above.
// Core points are found with counting queries that stop at minPts. The
// clusters of core points are then grown breadth first, each query looking
// only for unlabelled core points; the grid and the kd-tree keep a count of
// unlabelled core points per cell or node and skip those at zero, so the
// queries from the inside of a dense cluster cost little. Finally each
// non-core point takes the lowest label among its core neighbours (the rule
// above). Neighbourhoods are never all held in memory at once. Quadratic
// is the textbook O(n²) version kept as the reference for tests and
// benchmarks; RunMatrix takes a precomputed distance matrix (the fast path
// for the small groups of peer detection, where the matrix also serves
// AutoEps).
//
// Everything here is pure: no goroutines, no logging, deterministic. A
// Clusterer reuses its scratch memory between runs and is not safe for
// concurrent use; use one per goroutine.
package dbscan
