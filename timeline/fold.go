package timeline

import (
	"encoding/base64"
	"encoding/binary"
	"time"

	"github.com/anomalyd/detector/anomaly"
)

// State is one anomaly as a backend holds it: the anomaly with its end
// inline (A.EndedAt is always nil; End is zero while open). Every backend
// folds events into a State with Opened and Fold, the one definition of
// what an event does to an anomaly.
type State struct {
	A   anomaly.Anomaly
	End time.Time
}

// Open reports whether the anomaly has not resolved.
func (s *State) Open() bool { return s.End.IsZero() }

// Anomaly returns a copy of the anomaly that shares nothing with s.
func (s *State) Anomaly() anomaly.Anomaly {
	a := s.A
	if !s.Open() {
		t := s.End
		a.EndedAt = &t
	}
	return a
}

// Opened is the State an opened event starts: it starts at the point's
// timestamp, with one point and the point as its peak.
func Opened(ev *anomaly.Event) State {
	at := PointTime(ev)
	kind := ev.AnomalyKind
	if kind == "" {
		kind = anomaly.KindPoint
	}
	return State{A: anomaly.Anomaly{
		ID:           ev.AnomalyID,
		Kind:         kind,
		Series:       ev.Series,
		Detector:     ev.Verdict.Detector,
		StartedAt:    at,
		PeakScore:    ev.Verdict.Score,
		PeakAt:       at,
		PeakValue:    ev.Verdict.Value,
		PeakExpected: ev.Verdict.Expected,
		Points:       1,
	}}
}

// Fold applies an updated or resolved event to an open anomaly and
// reports whether it applied (false: the anomaly has resolved already, or
// the event is of another kind):
//
//   - updated: one more point; the peak (score, value, expected, time,
//     detector) moves to this point when its score is higher;
//   - resolved: End is set to the resolving point's timestamp (never
//     before the start).
func (s *State) Fold(ev *anomaly.Event) bool {
	if !s.Open() {
		return false
	}
	at := PointTime(ev)
	switch ev.Kind {
	case anomaly.EventUpdated:
		s.A.Points++
		if ev.Verdict.Score > s.A.PeakScore {
			s.A.PeakScore = ev.Verdict.Score
			s.A.PeakAt = at
			s.A.PeakValue = ev.Verdict.Value
			s.A.PeakExpected = ev.Verdict.Expected
			if ev.Verdict.Detector != "" {
				s.A.Detector = ev.Verdict.Detector
			}
		}
	case anomaly.EventResolved:
		if at.Before(s.A.StartedAt) {
			at = s.A.StartedAt
		}
		s.End = at
	default:
		return false
	}
	return true
}

// Cursors are version byte 1, the start time in Unix nanoseconds and the
// id, big endian, in unpadded URL-safe base64: one codec for every
// backend, so a cursor means the same position in each.
const cursorVersion = 1

// EncodeCursor is the cursor of the position just after (start, id).
func EncodeCursor(start time.Time, id anomaly.ID) string {
	var b [17]byte
	b[0] = cursorVersion
	binary.BigEndian.PutUint64(b[1:], uint64(start.UnixNano()))
	binary.BigEndian.PutUint64(b[9:], uint64(id))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// DecodeCursor reads a cursor of EncodeCursor; a malformed one is an
// *anomaly.Error with CodeInvalidArgument on the field cursor.
func DecodeCursor(s string) (time.Time, anomaly.ID, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != 17 || b[0] != cursorVersion {
		return time.Time{}, 0, &anomaly.Error{Code: anomaly.CodeInvalidArgument, Field: "cursor", Index: -1,
			Message: "malformed cursor: pass the next_cursor of a previous page unchanged", Err: err}
	}
	t := time.Unix(0, int64(binary.BigEndian.Uint64(b[1:]))).UTC()
	return t, anomaly.ID(binary.BigEndian.Uint64(b[9:])), nil
}
