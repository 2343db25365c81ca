package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/timeline"
)

// record is one anomaly as the store keeps it: the anomaly with its end
// inline (timeline.State) and the wall-clock time its resolution was
// recorded, which age retention is measured from.
type record struct {
	timeline.State
	resolvedAt time.Time // wall clock when the resolve event was recorded; zero while open
}

// Record encoding, version 1:
//
//	version byte (1)
//	kind, series, detector: uvarint length + bytes each
//	flags byte: bit 0 set when resolved
//	started, peak_at: time each (varint Unix seconds, uvarint nanoseconds)
//	end, resolved_at: time each, only when resolved
//	peak_score, peak_value, peak_expected: float64 bits, big endian
//	points: uvarint
const recordVersion = 1

var errCorruptRecord = errors.New("corrupt anomaly record")

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendTime(dst []byte, t time.Time) []byte {
	dst = binary.AppendVarint(dst, t.Unix())
	return binary.AppendUvarint(dst, uint64(t.Nanosecond()))
}

func appendFloat(dst []byte, f float64) []byte {
	return binary.BigEndian.AppendUint64(dst, math.Float64bits(anomaly.Finite(f)))
}

// appendRecord appends the encoding of r to dst.
func appendRecord(dst []byte, r *record) []byte {
	dst = append(dst, recordVersion)
	dst = appendString(dst, r.A.Kind)
	dst = appendString(dst, r.A.Series)
	dst = appendString(dst, r.A.Detector)
	var flags byte
	if !r.Open() {
		flags |= 1
	}
	dst = append(dst, flags)
	dst = appendTime(dst, r.A.StartedAt)
	dst = appendTime(dst, r.A.PeakAt)
	if !r.Open() {
		dst = appendTime(dst, r.End)
		dst = appendTime(dst, r.resolvedAt)
	}
	dst = appendFloat(dst, r.A.PeakScore)
	dst = appendFloat(dst, r.A.PeakValue)
	dst = appendFloat(dst, r.A.PeakExpected)
	return binary.AppendUvarint(dst, uint64(r.A.Points))
}

// decoder reads the fields of a record; the first failure sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errCorruptRecord
	}
	d.b = nil
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail()
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) string() string {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) time() time.Time {
	sec := d.varint()
	nsec := d.uvarint()
	if nsec >= 1e9 {
		d.fail()
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}

func (d *decoder) float() float64 {
	if len(d.b) < 8 {
		d.fail()
		return 0
	}
	f := math.Float64frombits(binary.BigEndian.Uint64(d.b))
	d.b = d.b[8:]
	return anomaly.Finite(f) // the encoder writes finite values only
}

// decodeRecord decodes the record of anomaly id. The result shares no
// memory with b (bbolt's values are only valid during the transaction).
func decodeRecord(id anomaly.ID, b []byte) (record, error) {
	d := decoder{b: b}
	if v := d.byte(); v != recordVersion && d.err == nil {
		return record{}, fmt.Errorf("anomaly %s: record version %d, want %d", id, v, recordVersion)
	}
	var r record
	r.A.ID = id
	r.A.Kind = d.string()
	r.A.Series = d.string()
	r.A.Detector = d.string()
	flags := d.byte()
	r.A.StartedAt = d.time()
	r.A.PeakAt = d.time()
	if flags&1 != 0 {
		r.End = d.time()
		r.resolvedAt = d.time()
		if r.End.IsZero() && d.err == nil {
			d.fail()
		}
	}
	r.A.PeakScore = d.float()
	r.A.PeakValue = d.float()
	r.A.PeakExpected = d.float()
	pts := d.uvarint()
	if pts > math.MaxInt32 {
		d.fail()
	}
	r.A.Points = int(pts)
	if d.err == nil && len(d.b) != 0 {
		d.fail()
	}
	if d.err != nil {
		return record{}, fmt.Errorf("anomaly %s: %w", id, d.err)
	}
	return r, nil
}

// Keys. Times in keys are Unix nanoseconds with the sign bit flipped, so
// that big-endian byte order is time order.

func timeKey(t time.Time) uint64 { return uint64(t.UnixNano()) ^ (1 << 63) }

func keyTime(k uint64) time.Time { return time.Unix(0, int64(k^(1<<63))).UTC() }

// idKey is the key of the anomalies bucket.
func idKey(id anomaly.ID) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), uint64(id))
}

// orderKey is (start, id), the order of the timeline, as 16 bytes.
type orderKey [16]byte

func makeOrderKey(start time.Time, id anomaly.ID) orderKey {
	var k orderKey
	binary.BigEndian.PutUint64(k[:8], timeKey(start))
	binary.BigEndian.PutUint64(k[8:], uint64(id))
	return k
}

func (k orderKey) id() anomaly.ID { return anomaly.ID(binary.BigEndian.Uint64(k[8:])) }

// seriesPrefix is the prefix of series s in the by_series bucket: its
// length as a uvarint, then its bytes. The length keeps one series' keys
// from running into another's.
func seriesPrefix(dst []byte, s string) []byte { return appendString(dst, s) }

// Index values (by_start and by_series): flags byte (bit 0: resolved), the
// end and the resolution's wall-clock time in Unix nanoseconds (zero while
// open). They let Query filter by state and time without decoding records.
type indexValue [17]byte

func makeIndexValue(r *record) indexValue {
	var v indexValue
	if !r.Open() {
		v[0] = 1
		binary.BigEndian.PutUint64(v[1:], uint64(r.End.UnixNano()))
		binary.BigEndian.PutUint64(v[9:], uint64(r.resolvedAt.UnixNano()))
	}
	return v
}

func parseIndexValue(b []byte) (resolved bool, endNs, resolvedAtNs int64, ok bool) {
	if len(b) != len(indexValue{}) {
		return false, 0, 0, false
	}
	return b[0]&1 != 0, int64(binary.BigEndian.Uint64(b[1:])), int64(binary.BigEndian.Uint64(b[9:])), true
}

// decodeCursor reads a cursor of timeline.EncodeCursor (the codec every
// backend shares) as the order key it points after.
func decodeCursor(s string) (orderKey, error) {
	t, id, err := timeline.DecodeCursor(s)
	if err != nil {
		return orderKey{}, err
	}
	return makeOrderKey(t, id), nil
}
