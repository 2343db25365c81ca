package models

import "math"

// Feedback from people on an anomaly changes the series' model:
//
//   - Rebase (new_normal): the series has moved to a new level for good.
//     The levels are re-anchored at the last learned value (as after a long
//     gap), the trend and the change statistic are cleared, and the learned
//     range starts again from that value, so the next points at the new
//     level are judged against it at once. Scales, calibration and the
//     profile are kept.
//   - Desensitise (not_anomaly): the alert was a false one. The calibration
//     quantile of the detector that fired is raised by DesensitiseFactor
//     (it decays back as the series keeps learning, over a few thousand
//     points), so the same kind of excursion needs that much more to alert;
//     for a stuck alert the run that fired becomes an ordinary run. (A new
//     extreme needs nothing: the range novelty has learned it.)

// DesensitiseFactor is how much a not_anomaly label raises the detector's
// calibration quantile.
const DesensitiseFactor = 1.5

// Rebase re-anchors the model at its last learned value.
func (m *Model) Rebase(c *Config) {
	if m.n == 0 {
		return
	}
	v := m.lastV
	full := m.profile(c.localMs(m.lastTs))
	m.fast, m.fastP, m.slow, m.plain = v-full, v, v-full, v
	m.trend, m.change = 0, 0
	m.lo, m.hi, m.calm = v, v, 0
	m.peak, m.hold = 0, 0
	m.run = 0
}

// Desensitise makes the model less sensitive to alerts of detector d.
func (m *Model) Desensitise(c *Config, d Detector) {
	raise := func(i int) {
		q := math.Max(float64(m.cal[i].Q), c.CalibMin) * DesensitiseFactor
		m.cal[i].Q = float32(math.Min(q, math.MaxFloat32/2))
	}
	switch d {
	case DetectorSpike:
		raise(calFast)
	case DetectorLevel, DetectorSeasonal:
		raise(calSlow)
	case DetectorChange:
		raise(calChange)
	case DetectorStuck:
		m.maxFlat = uint8(min(max(int(m.maxFlat), (int(m.flat)+1+3)/4), math.MaxUint8))
		return
	}
}

// ParseDetector returns the detector named s (as Detector.String writes
// it), DetectorNone for an unknown name.
func ParseDetector(s string) Detector {
	for i, n := range detectorNames {
		if n == s {
			return Detector(i)
		}
	}
	return DetectorNone
}
