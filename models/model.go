// Package models holds what a series has learned: the per-series baseline
// state, its update and scoring step and its versioned binary encoding.
//
// CONTRACT (other packages compile against these names; keep them):
//   - Model is a fixed-size, pointer-free struct; the zero value is a new,
//     empty baseline. Its size is a few hundred bytes at most.
//   - Update learns the point and returns its verdict; Peek returns the
//     verdict the point would get without changing the model.
//   - A point whose timestamp is not after the last learned one is scored but
//     not learned (Result.Learned is false). Non-finite values are never
//     learned; callers reject them before.
//   - Update makes no allocations.
//   - AppendBinary/UnmarshalBinary form a versioned encoding.
//
// THIS FILE IS A PLACEHOLDER IMPLEMENTATION that the real model replaces.
package models

import (
	"encoding/binary"
	"errors"
	"math"

	"github.com/anomalyd/detector/anomaly"
)

// Detector names the component of the model that fired.
type Detector uint8

const (
	DetectorNone Detector = iota
	DetectorLevel
	DetectorSeasonal
	DetectorTrend
	DetectorSpike
	DetectorChange
)

var detectorNames = [...]string{"none", "level", "seasonal", "trend", "spike", "changepoint"}

func (d Detector) String() string {
	if int(d) < len(detectorNames) {
		return detectorNames[d]
	}
	return "unknown"
}

// Transition says what a point did to the series' anomaly state.
type Transition uint8

const (
	TransitionNone     Transition = iota
	TransitionOpened              // this point opened an anomaly
	TransitionUpdated             // this point belongs to an open anomaly
	TransitionResolved            // this point resolved the open anomaly
)

// Config holds the model parameters shared by every series of an engine.
type Config struct {
	// MinPoints is the history a series needs before it is judged.
	MinPoints int
	// Threshold is the score in [0,1] at or above which a point is anomalous.
	Threshold float64
	// OpenAfter anomalous points in a row open an anomaly.
	OpenAfter int
	// ResolveAfter normal points in a row resolve it.
	ResolveAfter int
}

// DefaultConfig returns the configuration `detector serve` runs with.
func DefaultConfig() Config {
	return Config{MinPoints: 30, Threshold: 0.99, OpenAfter: 1, ResolveAfter: 3}
}

// Validate reports the first invalid parameter.
func (c *Config) Validate() error {
	switch {
	case c.MinPoints < 1:
		return errors.New("min points must be at least 1")
	case !(c.Threshold > 0 && c.Threshold <= 1):
		return errors.New("threshold must be in (0,1]")
	case c.OpenAfter < 1:
		return errors.New("open-after must be at least 1")
	case c.ResolveAfter < 1:
		return errors.New("resolve-after must be at least 1")
	}
	return nil
}

// Result is the model's verdict on one point.
type Result struct {
	Expected, Lower, Upper float64
	Score                  float64 // in [0,1]
	Z                      float64 // robust z of the point
	State                  anomaly.State
	Detector               Detector
	NeedPoints             int
	Transition             Transition
	Learned                bool
}

// Model is the learned baseline of one series.
type Model struct {
	n        uint64
	lastTs   int64
	lastV    float64
	med, mad float64
	run      int32
	open     bool
	last     Result32
}

// Result32 is the compact form of the last verdict kept in the model.
type Result32 struct {
	Expected, Lower, Upper, Score, Z float32
	State                            anomaly.State
	Detector                         Detector
}

func (m *Model) Points() uint64 { return m.n }

// Last returns the last learned point and its verdict.
func (m *Model) Last() (tsMs int64, v float64, r Result) {
	l := m.last
	return m.lastTs, m.lastV, Result{Expected: float64(l.Expected), Lower: float64(l.Lower), Upper: float64(l.Upper),
		Score: float64(l.Score), Z: float64(l.Z), State: l.State, Detector: l.Detector, Learned: true}
}

func (m *Model) score(c *Config, v float64) Result {
	if int(m.n) < c.MinPoints {
		return Result{Expected: v, Lower: v, Upper: v, State: anomaly.StateLearning, NeedPoints: c.MinPoints - int(m.n)}
	}
	s := math.Max(m.mad*1.4826, 1e-9)
	z := (v - m.med) / s
	sc := 1 - math.Exp(-math.Abs(z)/3)
	r := Result{Expected: m.med, Lower: m.med - 4*s, Upper: m.med + 4*s, Score: sc, Z: z, State: anomaly.StateNormal}
	if sc >= c.Threshold {
		r.State = anomaly.StateAnomalous
		r.Detector = DetectorLevel
	}
	return r
}

// Peek returns the verdict for (ts, v) without learning it.
func (m *Model) Peek(c *Config, tsMs int64, v float64) Result { return m.score(c, v) }

// Update scores and learns one point.
func (m *Model) Update(c *Config, tsMs int64, v float64) Result {
	r := m.score(c, v)
	if m.n > 0 && tsMs <= m.lastTs || math.IsNaN(v) || math.IsInf(v, 0) {
		return r
	}
	r.Learned = true
	if m.n == 0 {
		m.med = v
	}
	d := v - m.med
	m.med += 0.05 * d
	m.mad += 0.05 * (math.Abs(d) - m.mad)
	m.n++
	m.lastTs, m.lastV = tsMs, v
	if r.State == anomaly.StateAnomalous {
		if !m.open {
			m.open = true
			r.Transition = TransitionOpened
		} else {
			r.Transition = TransitionUpdated
		}
		m.run = 0
	} else if m.open {
		m.run++
		if int(m.run) >= c.ResolveAfter {
			m.open, m.run = false, 0
			r.Transition = TransitionResolved
		}
	}
	m.last = Result32{float32(r.Expected), float32(r.Lower), float32(r.Upper), float32(r.Score), float32(r.Z), r.State, r.Detector}
	return r
}

// Baseline describes the learned state for people to read.
func (m *Model) Baseline(c *Config, tsMs int64) anomaly.Baseline {
	s := m.mad * 1.4826
	return anomaly.Baseline{Level: m.med, Scale: s, Expected: m.med, Lower: m.med - 4*s, Upper: m.med + 4*s}
}

const encodingVersion = 0

// AppendBinary appends the model's encoding to dst.
func (m *Model) AppendBinary(dst []byte) []byte {
	dst = append(dst, encodingVersion)
	dst = binary.LittleEndian.AppendUint64(dst, m.n)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(m.lastTs))
	dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(m.lastV))
	dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(m.med))
	dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(m.mad))
	return dst
}

// UnmarshalBinary restores a model written by AppendBinary.
func (m *Model) UnmarshalBinary(b []byte) error {
	if len(b) != 41 || b[0] != encodingVersion {
		return errors.New("models: bad encoding")
	}
	*m = Model{}
	m.n = binary.LittleEndian.Uint64(b[1:])
	m.lastTs = int64(binary.LittleEndian.Uint64(b[9:]))
	m.lastV = math.Float64frombits(binary.LittleEndian.Uint64(b[17:]))
	m.med = math.Float64frombits(binary.LittleEndian.Uint64(b[25:]))
	m.mad = math.Float64frombits(binary.LittleEndian.Uint64(b[33:]))
	return nil
}
