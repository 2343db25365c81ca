package anomaly

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
)

// Sample is one raw observation as a client sends it: a series written as
// Prometheus writes it (`name{label="value",...}`), a timestamp in Unix
// milliseconds and a value. The series text is not yet validated.
type Sample struct {
	Series      string
	TimestampMs int64
	Value       float64
}

// Time returns the sample's timestamp as a time.Time in UTC.
func (s Sample) Time() time.Time { return time.UnixMilli(s.TimestampMs).UTC() }

// State is the state of a verdict.
type State uint8

const (
	// StateLearning means the series has not seen enough history to judge.
	StateLearning State = iota
	// StateNormal means the point lies within the learned bounds.
	StateNormal
	// StateAnomalous means the point is outside what the baseline expects.
	StateAnomalous
)

var stateNames = [...]string{"learning", "normal", "anomalous"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "state(" + strconv.Itoa(int(s)) + ")"
}

// MarshalText implements encoding.TextMarshaler.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *State) UnmarshalText(b []byte) error {
	for i, n := range stateNames {
		if n == string(b) {
			*s = State(i)
			return nil
		}
	}
	return fmt.Errorf("unknown state %q", b)
}

// ID identifies an anomaly on the timeline. Zero means "none" and encodes
// as JSON null.
type ID uint64

// MarshalJSON encodes zero as null and any other id as a JSON string, so
// clients in languages without 64-bit integers keep every digit.
func (id ID) MarshalJSON() ([]byte, error) {
	if id == 0 {
		return []byte("null"), nil
	}
	return []byte(`"` + strconv.FormatUint(uint64(id), 10) + `"`), nil
}

// UnmarshalJSON accepts null, a JSON string or a JSON number.
func (id *ID) UnmarshalJSON(b []byte) error {
	s := string(b)
	if s == "null" {
		*id = 0
		return nil
	}
	if len(s) >= 2 && s[0] == '"' {
		var err error
		if s, err = strconv.Unquote(s); err != nil {
			return err
		}
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return fmt.Errorf("invalid anomaly id %q", s)
	}
	*id = ID(v)
	return nil
}

// String formats the id in base 10.
func (id ID) String() string { return strconv.FormatUint(uint64(id), 10) }

// ParseID parses the base-10 form written by String.
func ParseID(s string) (ID, error) {
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || v == 0 {
		return 0, fmt.Errorf("invalid anomaly id %q", s)
	}
	return ID(v), nil
}

// Verdict is the answer for one point: what it was, what was expected, how
// far outside the bounds it lies and which detector fired. Every float is
// finite. While the series is learning, NeedPoints says how many more points
// the baseline needs before it judges.
type Verdict struct {
	Series     string    `json:"series"`
	Timestamp  time.Time `json:"timestamp"`
	Value      float64   `json:"value"`
	Expected   float64   `json:"expected"`
	Lower      float64   `json:"lower"`
	Upper      float64   `json:"upper"`
	Score      float64   `json:"score"`
	Z          float64   `json:"z"`
	State      State     `json:"state"`
	Detector   string    `json:"detector"`
	AnomalyID  ID        `json:"anomaly_id"`
	NeedPoints int       `json:"need_points,omitempty"`
}

// EventKind says what happened to an anomaly.
type EventKind string

const (
	EventOpened   EventKind = "opened"
	EventUpdated  EventKind = "updated"
	EventResolved EventKind = "resolved"
)

// Kind of anomaly on the timeline.
const (
	KindPoint       = "point"
	KindPeerOutlier = "peer_outlier"
)

// Event is emitted when an anomaly opens, gets a new point or resolves.
// Verdict is the verdict of the point that caused the event.
type Event struct {
	Kind      EventKind `json:"kind"`
	AnomalyID ID        `json:"anomaly_id"`
	// AnomalyKind is KindPoint or KindPeerOutlier.
	AnomalyKind string    `json:"anomaly_kind"`
	Series      string    `json:"series"`
	At          time.Time `json:"at"`
	Verdict     Verdict   `json:"verdict"`
	// Remediation is set on EventRemediation events only.
	Remediation *Remediation `json:"remediation,omitempty"`
}

// Anomaly is one entry of the timeline: a run of anomalous points of one
// series (or one peer-group outlier), from its first anomalous point to the
// point that resolved it. EndedAt is nil while the anomaly is open.
type Anomaly struct {
	ID           ID         `json:"id"`
	Kind         string     `json:"kind"`
	Series       string     `json:"series"`
	Detector     string     `json:"detector"`
	StartedAt    time.Time  `json:"started_at"`
	EndedAt      *time.Time `json:"ended_at"`
	PeakScore    float64    `json:"peak_score"`
	PeakAt       time.Time  `json:"peak_at"`
	PeakValue    float64    `json:"peak_value"`
	PeakExpected float64    `json:"peak_expected"`
	Points       int        `json:"points"`
	// The incident view, filled in by the notification layer when the
	// service runs one (see package notify): severity, the incident key
	// notifications deduplicate by, whether a silence covered it, and the
	// change events shortly before it on series sharing its labels.
	Severity    string `json:"severity,omitempty"`
	IncidentKey string `json:"incident_key,omitempty"`
	Silenced    bool   `json:"silenced,omitempty"`
	// PossibleCauses is a pointer so that Anomaly stays comparable with
	// ==; nil means none.
	PossibleCauses *[]Cause `json:"possible_causes,omitempty"`
}

// Open reports whether the anomaly has not resolved yet.
func (a *Anomaly) Open() bool { return a.EndedAt == nil }

// Finite replaces NaN and infinities by 0 so that a value can always be
// written as JSON. Models never produce them; this is a last guard at the
// edge.
func Finite(f float64) float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return f
}

var _ json.Marshaler = ID(0)
