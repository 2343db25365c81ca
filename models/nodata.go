package models

// StepMs returns the series' typical time step in milliseconds (a running
// median of the steps between learned points), 0 before the second point.
// The engine's no-data sweep compares the time since the last point with
// a multiple of it.
func (m *Model) StepMs() float64 { return float64(m.stepMs) }

// Cadenced reports whether the series has learned enough points (MinPoints)
// for its step to say when it should report next.
func (m *Model) Cadenced(c *Config) bool { return int(m.n) >= c.MinPoints && m.stepMs > 0 }
