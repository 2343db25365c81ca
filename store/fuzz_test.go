package store

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/timeline"
)

// FuzzDecodeRecord: any bytes decode to a record or an error, never a
// panic, and a record that decodes encodes back to the same bytes.
func FuzzDecodeRecord(f *testing.F) {
	open := record{State: timeline.State{A: anomaly.Anomaly{ID: 1, Kind: anomaly.KindPoint, Series: `cpu{host="a"}`, Detector: "level",
		StartedAt: at(1), PeakScore: 0.99, PeakAt: at(2), PeakValue: 3, PeakExpected: 1, Points: 7}}}
	resolved := open
	resolved.End, resolved.resolvedAt = at(9), time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	f.Add(appendRecord(nil, &open))
	f.Add(appendRecord(nil, &resolved))
	f.Add([]byte{})
	f.Add([]byte{recordVersion, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRecord(1, b)
		if err != nil {
			return
		}
		again, err := decodeRecord(1, appendRecord(nil, &r))
		if err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		if again.A != r.A || !again.End.Equal(r.End) || !again.resolvedAt.Equal(r.resolvedAt) {
			t.Fatalf("round trip: %+v, want %+v", again, r)
		}
	})
}

// FuzzDecodeCursor: a client's cursor decodes or gives an invalid_argument
// error on the cursor field; a decoded cursor's position survives a round
// trip (the text may differ in base64's unused trailing bits).
func FuzzDecodeCursor(f *testing.F) {
	f.Add(timeline.EncodeCursor(at(5), 5))
	f.Add(timeline.EncodeCursor(time.Unix(0, -1), 1<<63))
	f.Add("")
	f.Add("not a cursor")
	f.Add("AQ")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := decodeCursor(s)
		if err != nil {
			if e, ok := err.(*anomaly.Error); !ok || e.Code != anomaly.CodeInvalidArgument || e.Field != "cursor" {
				t.Fatalf("decodeCursor(%q) error %v, want invalid_argument on cursor", s, err)
			}
			return
		}
		again, err := decodeCursor(timeline.EncodeCursor(keyTime(binary.BigEndian.Uint64(k[:8])), k.id()))
		if err != nil || again != k {
			t.Fatalf("cursor %q: round trip gives %x, %v, want %x", s, again, err, k)
		}
	})
}
