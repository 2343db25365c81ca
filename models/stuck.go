package models

import "math"

// The stuck detector: a collector that dies often keeps reporting its last
// value, a dead-flat line that no band can see (every point is ordinary).
// A point is stuck when it did not move from the previous one (by at most
// StuckTol of the series' long-run noise sigma, so a variance collapse
// counts too) and the run of unmoving points has reached stuckAfter: at
// least StuckMin points and StuckFactor times the longest run the series
// has shown that ended on its own (a sparse count series repeats zeros for
// a while, a busy gauge never does). The series must have had noise (its
// long-run sigma well above the float floor) and StuckLearn points of
// history, so that the longest ordinary run is known. The run's first
// stuck point is anomalous with Detector stuck while its value lies inside
// the band (score Threshold + (1-Threshold)/2): it is the evidence. The
// later unmoving points bring none of their own: while the anomaly they
// belong to is open they are normal in value and keep it open
// (TransitionUpdated, never counted towards ResolveAfter), so one dead
// collector is one anomaly that lasts while it stays dead and resolves
// when values move again. (Were the anomaly not open, with OpenAfter > 1,
// they stay anomalous until it opens.)
//
// State: flat (points in the current run, saturating) and maxFlat (the
// longest ordinary run, in units of 4 points, up to 1020).

// moved reports whether v moved from the last learned value.
func (m *Model) moved(c *Config, v float64) bool {
	return m.movedBy(c, v, m.plainS.Sigma(c.MeanFloor, floorFor(m.plain)))
}

// movedBy is moved with the plain scale's sigma sig computed by the caller.
func (m *Model) movedBy(c *Config, v, sig float64) bool {
	return math.Abs(v-m.lastV) > c.StuckTol*sig
}

// hadNoise reports whether the series' history had noise to lose, from the
// plain scale's unfloored sigma (stream.Scale.Unfloored).
func (m *Model) hadNoise(raw float64) bool {
	return raw > 1000*floorFor(m.plain) // the floor is positive: max(raw, 0) would say the same
}

// stuckAfter is the run length (in points, this one included) from which
// unmoving points are stuck.
func (m *Model) stuckAfter(c *Config) int {
	// the ceiling of x >= 0 (StuckFactor is not negative) by truncation
	x := c.StuckFactor * 4 * float64(m.maxFlat)
	n := int(x)
	if float64(n) < x {
		n++
	}
	return max(c.StuckMin, n)
}

// stuck reports whether the point v is stuck (k: its components).
func (m *Model) stuck(c *Config, k *components, v float64) bool {
	if c.StuckMin <= 0 || int(m.n) < max(c.MinPoints, c.StuckLearn) || !m.hadNoise(k.pRaw) || m.movedBy(c, v, k.sPlain) {
		return false
	}
	return int(m.flat)+1 >= m.stuckAfter(c)
}

// learnFlat folds v into the run statistics (before lastV moves on).
func (m *Model) learnFlat(c *Config, v float64) {
	if !m.moved(c, v) {
		if m.flat < math.MaxUint16 {
			m.flat++
		}
		return
	}
	if int(m.flat)+1 < m.stuckAfter(c) || int(m.n) < max(c.MinPoints, c.StuckLearn) {
		// an ordinary run ended: remember its length
		m.maxFlat = uint8(min(max(int(m.maxFlat), (int(m.flat)+1+3)/4), math.MaxUint8))
	}
	m.flat = 0
}
