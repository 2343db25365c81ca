package api

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	"github.com/anomalyd/detector/anomaly"
)

// body is a request body that has been read whole and checked to be one
// JSON object with known members only. fields holds each member's raw
// value, a slice of the body (the last one wins when a key repeats); pts
// holds the "points" array decoded on the way, for the routes that take
// points (readPointsBody).
type body struct {
	fields map[string][]byte
	raw    []byte // the whole body
	pts    *pointBatch
}

// readBody reads the request body (bounded by http.MaxBytesReader in wrap),
// checks it is one valid JSON object and that every member is one of
// allowed, in one validating pass (jsonscan.go). Errors are whole-request
// *anomaly.Error. The body's bytes are valid until the request is
// answered (recycleBody): what the handler keeps must be copied.
func readBody(r *http.Request, allowed ...string) (*body, error) {
	return readPointsBody(r, nil, 0, allowed...)
}

// readPointsBody is readBody that also decodes the "points" member, when
// it is an array, in the same pass: its first max items as points of
// shape, the rest only counted. The caller releases the batch
// (b.pts.release()) once nothing uses its samples.
func readPointsBody(r *http.Request, shape *pointShape, max int, allowed ...string) (*body, error) {
	if r.Body == nil {
		return nil, anomaly.Errorf(anomaly.CodeInvalidJSON, "request body is empty: send a JSON object")
	}
	raw, ok := bodyBytes(r) // read by admit
	if !ok {
		var buf bytes.Buffer
		if _, err := buf.ReadFrom(r.Body); err != nil {
			return nil, bodyError(err)
		}
		raw = buf.Bytes()
	}
	b, err := parseBody(raw, shape, max, allowed)
	if err != nil && b != nil {
		b.pts.release()
	}
	if err != nil {
		return nil, err
	}
	return b, nil
}

// parseBody is readBody's pass over raw.
func parseBody(raw []byte, shape *pointShape, max int, allowed []string) (*body, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, anomaly.Errorf(anomaly.CodeInvalidJSON, "request body is empty: send a JSON object")
	}
	s := &scanner{b: raw}
	s.ws()
	if s.peek() != '{' {
		if !s.value() || !s.end() {
			return nil, syntaxError(raw)
		}
		return nil, anomaly.Errorf(anomaly.CodeInvalidType, "the body must be a JSON object, got %s", jsonType(bytes.TrimSpace(raw)))
	}
	b := &body{fields: make(map[string][]byte, len(allowed)), raw: raw}
	var unknown, dup []byte
	ok := s.members(func(ks, ke int, esc bool) bool {
		key := keyText(raw, ks, ke, esc)
		vs := s.i
		if shape != nil && b.pts == nil && s.peek() == '[' && string(key) == "points" {
			b.pts = getBatch()
			if !s.points(b.pts, shape, max) {
				return false
			}
		} else if !s.value() {
			return false
		}
		val := raw[vs:s.i]
		if slices.Contains(allowed, string(key)) {
			if _, seen := b.fields[string(key)]; seen && dup == nil {
				dup = key
			}
			b.fields[string(key)] = val
		} else if unknown == nil {
			unknown = key
		}
		return true
	})
	if !ok || !s.end() {
		return b, syntaxError(raw)
	}
	if dup != nil {
		return b, &anomaly.Error{Code: anomaly.CodeInvalidJSON, Field: string(dup), Index: -1,
			Message: fmt.Sprintf("field %q appears more than once", dup)}
	}
	if unknown != nil {
		return b, &anomaly.Error{Code: anomaly.CodeInvalidJSON, Field: string(unknown), Index: -1,
			Message: fmt.Sprintf("unknown field %q; this body takes %s", unknown, strings.Join(allowed, ", "))}
	}
	return b, nil
}

// syntaxError is the error of a body the scanner refused. It is the slow
// path, errors only: encoding/json says where (checking only: a RawMessage
// builds nothing).
func syntaxError(raw []byte) error {
	var v json.RawMessage
	err := json.Unmarshal(raw, &v)
	if err == nil {
		err = errors.New("invalid JSON")
	}
	return bodyError(err)
}

// present returns the raw value of a member; null counts as absent.
func (b *body) present(name string) ([]byte, bool) {
	v, ok := b.fields[name]
	if !ok || string(v) == "null" {
		return nil, false
	}
	return v, true
}

// str returns the string member name; nil when absent or null.
func (b *body) str(name string) (*string, error) {
	v, ok := b.present(name)
	if !ok {
		return nil, nil
	}
	s, ok := jsonString(v)
	if !ok {
		return nil, &anomaly.Error{Code: anomaly.CodeInvalidType, Field: name, Index: -1,
			Message: fmt.Sprintf("%s must be a string, got %s", name, jsonType(v))}
	}
	return &s, nil
}

// number returns the number member name; nil when absent or null.
func (b *body) number(name string) (*float64, error) {
	v, ok := b.present(name)
	if !ok {
		return nil, nil
	}
	f, err := strconv.ParseFloat(string(v), 64)
	if jsonType(v) != "a number" || err != nil {
		return nil, &anomaly.Error{Code: anomaly.CodeInvalidType, Field: name, Index: -1,
			Message: fmt.Sprintf("%s must be a number, got %s", name, jsonType(v))}
	}
	return &f, nil
}

// bodyError turns an error of reading the body or of encoding/json into a
// whole-request *anomaly.Error.
func bodyError(err error) error {
	var (
		maxErr *http.MaxBytesError
		synErr *json.SyntaxError
	)
	switch {
	case errors.As(err, &maxErr):
		return &anomaly.Error{Code: anomaly.CodeTooLarge, Index: -1, Err: err,
			Message: fmt.Sprintf("request body exceeds the limit of %d bytes: send smaller batches", maxErr.Limit)}
	case errors.As(err, &synErr):
		msg := strings.TrimPrefix(synErr.Error(), "json: ")
		if msg == "unexpected end of JSON input" {
			return &anomaly.Error{Code: anomaly.CodeInvalidJSON, Index: -1, Err: err,
				Message: "malformed JSON: the body ends before the JSON value does"}
		}
		return &anomaly.Error{Code: anomaly.CodeInvalidJSON, Index: -1, Err: err,
			Message: fmt.Sprintf("malformed JSON at byte %d: %s", synErr.Offset, msg)}
	}
	return &anomaly.Error{Code: anomaly.CodeInvalidJSON, Index: -1, Err: err, Message: "cannot read the body: " + err.Error()}
}

// pointShape says which fields a point of a request may or must have.
type pointShape struct {
	series      bool // "series" is required in the point (ingest); otherwise it is an unknown field
	checkFuture bool // reject timestamps more than maxFuture ahead of now
	now         time.Time
	maxFuture   time.Duration
	// futureMs is now+maxFuture in Unix milliseconds once futureSet:
	// worked out at the first timestamp rather than at each.
	futureMs  int64
	futureSet bool
}

// parsePoint decodes item i of a batch, one valid JSON value, with the
// rules of the batch decoder (points.go). Errors are item errors
// (*anomaly.Error with Index i and the field).
func parsePoint(raw []byte, i int, shape *pointShape) (anomaly.Sample, *anomaly.Error) {
	var (
		s  anomaly.Sample
		p  pointRaw
		sc = scanner{b: raw}
	)
	sc.ws()
	if sc.peek() != '{' || !sc.point(&p, shape.series, nil) {
		return s, anomaly.FieldError(anomaly.CodeInvalidType, i, "",
			`each point must be a JSON object like {"timestamp":..., "value":...}, got %s`, jsonType(raw))
	}
	ms, v, err := p.check(raw, i, shape)
	if err != nil {
		return s, err
	}
	if shape.series {
		s.Series, _ = jsonString(raw[p.series.s:p.series.e])
	}
	s.TimestampMs, s.Value = ms, v
	return s, nil
}

// parseJSONTimestamp parses a timestamp given as a JSON number (Unix
// seconds) or a JSON string (RFC 3339, or Unix seconds as text) to Unix
// milliseconds.
func parseJSONTimestamp(raw []byte, shape *pointShape) (int64, *anomaly.Error) {
	var (
		ms  int64
		err *anomaly.Error
	)
	switch raw[0] {
	case '"':
		if inner := raw[1 : len(raw)-1]; bytes.IndexByte(inner, '\\') < 0 && len(inner) > 0 {
			// Read in place: parseTimeText keeps nothing of its argument
			// on success; an error is made again from a copy, since its
			// Err may hold the text.
			if ms, err = parseTimeText(unsafe.String(&inner[0], len(inner))); err != nil {
				ms, err = parseTimeText(string(inner))
			}
			break
		}
		str, _ := jsonString(raw)
		ms, err = parseTimeText(str)
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		var ok bool
		if ms, ok = plainSeconds(raw); !ok {
			ms, err = parseUnixSeconds(string(raw))
		}
	default:
		return 0, &anomaly.Error{Code: anomaly.CodeInvalidType, Index: -1,
			Message: "timestamp must be an RFC 3339 string or a number of Unix seconds, got " + jsonType(raw)}
	}
	if err != nil {
		return 0, err
	}
	if shape.checkFuture && shape.maxFuture > 0 {
		if !shape.futureSet {
			shape.futureMs, shape.futureSet = shape.now.Add(shape.maxFuture).UnixMilli(), true
		}
		if ms > shape.futureMs { // CheckFuture's test, which makes the error
			if err := anomaly.CheckFuture(ms, shape.now, shape.maxFuture); err != nil {
				return 0, err
			}
		}
	}
	return ms, nil
}

// maxUnixSeconds is 9999-12-31T23:59:59Z, the last instant RFC 3339 can write.
const maxUnixSeconds = 253402300799

// parseTimeText parses an RFC 3339 timestamp or a decimal number of Unix
// seconds (fraction allowed) to Unix milliseconds, rounded to the nearest
// millisecond. Instants before 1970 and after year 9999 are rejected.
func parseTimeText(s string) (int64, *anomaly.Error) {
	if ms, ok := plainSeconds([]byte(s)); ok {
		return ms, nil
	}
	if s != "" && strings.Trim(s, "0123456789.eE+-") == "" {
		if _, err := strconv.ParseFloat(s, 64); err == nil || errors.Is(err, strconv.ErrRange) {
			return parseUnixSeconds(s)
		}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, &anomaly.Error{Code: anomaly.CodeInvalidTimestamp, Index: -1, Err: err,
			Message: fmt.Sprintf("cannot parse %q: use RFC 3339 (2026-01-05T10:00:00Z) or Unix seconds", s)}
	}
	if t.Before(time.Unix(0, 0)) {
		return 0, &anomaly.Error{Code: anomaly.CodeInvalidTimestamp, Index: -1,
			Message: fmt.Sprintf("timestamp %s is before 1970-01-01T00:00:00Z", s)}
	}
	return t.Round(time.Millisecond).UnixMilli(), nil
}

// plainSeconds parses the common form of Unix seconds, digits with an
// optional fraction ("1767614400", "1767614400.25"), exactly and without
// allocating, rounding the fraction half up to the millisecond. ok is false
// for any other form, including values past year 9999.
func plainSeconds(b []byte) (ms int64, ok bool) {
	var sec int64
	i := 0
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		if i == 12 {
			return 0, false
		}
		sec = sec*10 + int64(b[i]-'0')
	}
	if i == 0 || sec > maxUnixSeconds {
		return 0, false
	}
	ms = sec * 1000
	if i == len(b) {
		return ms, true
	}
	if b[i] != '.' || i+1 == len(b) {
		return 0, false
	}
	scale := int64(100)
	for i++; i < len(b); i++ {
		c := b[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		switch {
		case scale >= 1:
			ms += int64(c-'0') * scale
			scale /= 10
		case scale == 0:
			if c >= '5' {
				ms++
			}
			scale = -1
		}
	}
	if ms > maxUnixSeconds*1000 {
		return 0, false
	}
	return ms, true
}

// parseUnixSeconds parses a decimal number of Unix seconds to milliseconds.
// Numbers past year 9999 are future_timestamp errors: the usual cause is a
// timestamp in milliseconds.
func parseUnixSeconds(s string) (int64, *anomaly.Error) {
	f, err := strconv.ParseFloat(s, 64)
	switch {
	case err != nil && !errors.Is(err, strconv.ErrRange), math.IsNaN(f):
		return 0, &anomaly.Error{Code: anomaly.CodeInvalidTimestamp, Index: -1, Err: err,
			Message: fmt.Sprintf("cannot parse %q as Unix seconds", s)}
	case f < 0:
		return 0, &anomaly.Error{Code: anomaly.CodeInvalidTimestamp, Index: -1,
			Message: fmt.Sprintf("timestamp %s is before 1970-01-01T00:00:00Z", s)}
	case f > maxUnixSeconds:
		return 0, &anomaly.Error{Code: anomaly.CodeFutureTimestamp, Index: -1,
			Message: fmt.Sprintf("timestamp %s is after year 9999: numeric timestamps are Unix seconds (fractions allowed), not milliseconds", s)}
	}
	return int64(math.Round(f * 1000)), nil
}

// nonFinite lists the strings clients use for values JSON cannot hold. They
// are recognised only to be rejected with a clear message.
var nonFinite = map[string]bool{
	"nan": true, "inf": true, "+inf": true, "-inf": true,
	"infinity": true, "+infinity": true, "-infinity": true,
}

// parseJSONValue parses a point's value: a finite JSON number.
func parseJSONValue(raw []byte) (float64, *anomaly.Error) {
	switch raw[0] {
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
	case '"':
		if str, _ := jsonString(raw); nonFinite[strings.ToLower(str)] {
			return 0, &anomaly.Error{Code: anomaly.CodeInvalidValue, Index: -1,
				Message: fmt.Sprintf("value %q is not accepted: values must be finite numbers (drop the point instead of sending NaN or Inf)", str)}
		}
		fallthrough
	default:
		return 0, &anomaly.Error{Code: anomaly.CodeInvalidType, Index: -1,
			Message: "value must be a JSON number, got " + jsonType(raw)}
	}
	if f, ok := plainFloat(raw); ok {
		return f, nil
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return 0, &anomaly.Error{Code: anomaly.CodeInvalidValue, Index: -1, Err: err,
				Message: fmt.Sprintf("value %s overflows a 64-bit float", raw)}
		}
		return 0, &anomaly.Error{Code: anomaly.CodeInvalidValue, Index: -1, Err: err,
			Message: fmt.Sprintf("cannot parse value %s", raw)}
	}
	return f, nil
}

// pow10 holds the powers of ten a float64 holds exactly.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15}

// plainFloat parses the common form of a JSON number, an optional minus,
// digits and an optional fraction, no exponent, at most 15 digits in all,
// without a copy. Both the digits as an integer (below 2^53) and the power
// of ten are exact in a float64, so one division rounds correctly: the
// result is strconv.ParseFloat's (which takes the same path for such
// text). ok is false for any other form.
func plainFloat(b []byte) (f float64, ok bool) {
	i := 0
	if len(b) > 0 && b[0] == '-' {
		i = 1
	}
	var m uint64
	digits, frac, dot := 0, 0, false
	for ; i < len(b); i++ {
		c := b[i]
		switch {
		case c >= '0' && c <= '9':
			m = m*10 + uint64(c-'0')
			digits++
			if dot {
				frac++
			}
		case c == '.' && !dot:
			dot = true
		default:
			return 0, false
		}
	}
	if digits == 0 || digits > 15 || dot && frac == 0 {
		return 0, false
	}
	f = float64(m) / pow10[frac]
	if b[0] == '-' {
		f = -f
	}
	return f, true
}

// jsonType names the JSON type of a valid JSON value, for messages.
func jsonType(raw []byte) string {
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// jsonString returns the text of a JSON string value (which must be valid
// JSON); ok is false when raw is not a string. Escapes are decoded as
// encoding/json decodes them, a lone surrogate becoming U+FFFD.
func jsonString(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return string(inner), true
	}
	out, ok := appendUnescaped(make([]byte, 0, len(inner)), inner)
	if !ok {
		return "", false
	}
	return string(out), true
}

// appendUnescaped appends the text of the inside of a JSON string (valid
// JSON, quotes removed) to dst.
func appendUnescaped(dst, inner []byte) ([]byte, bool) {
	for i := 0; i < len(inner); i++ {
		if inner[i] != '\\' {
			// The run up to the next backslash. Escaped series text has
			// one every few bytes (`\"`), too often for bytes.IndexByte's
			// call: eight bytes at a time, as skipSafe reads (jsonscan.go).
			j := i
			for j+8 <= len(inner) {
				bs := binary.LittleEndian.Uint64(inner[j:]) ^ ('\\' * swarOnes)
				if t := (bs - swarOnes) & ^bs & swarHigh; t != 0 {
					j += bits.TrailingZeros64(t) / 8 // the lowest flagged byte is exact
					goto run
				}
				j += 8
			}
			for j < len(inner) && inner[j] != '\\' {
				j++
			}
		run:
			dst = append(dst, inner[i:j]...)
			if j == len(inner) {
				return dst, true
			}
			i = j
		}
		i++
		if i >= len(inner) {
			return dst, false
		}
		switch e := inner[i]; {
		case shortEscape[e] != 0:
			dst = append(dst, shortEscape[e])
		case e == 'u':
			r := hex4(inner[i+1:])
			if r < 0 {
				return dst, false
			}
			i += 4
			if utf16.IsSurrogate(r) {
				if len(inner) >= i+7 && inner[i+1] == '\\' && inner[i+2] == 'u' {
					if dec := utf16.DecodeRune(r, hex4(inner[i+3:])); dec != unicode.ReplacementChar {
						dst = utf8.AppendRune(dst, dec)
						i += 6
						continue
					}
				}
				r = unicode.ReplacementChar
			}
			dst = utf8.AppendRune(dst, r)
		default:
			return dst, false
		}
	}
	return dst, true
}

// shortEscape maps the character after a backslash of JSON's one-letter
// escapes to the byte it stands for (0: not one of them).
var shortEscape = [256]byte{'"': '"', '\\': '\\', '/': '/', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}

// hex4 decodes the four hex digits at the start of b, or returns -1.
func hex4(b []byte) rune {
	if len(b) < 4 {
		return -1
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// eachField calls fn with the (unescaped) key and the raw value of every
// member of the JSON object raw, in order. It returns false when raw is
// not a valid JSON object.
func eachField(raw []byte, fn func(key, val []byte)) bool {
	s := &scanner{b: raw}
	s.ws()
	if s.peek() != '{' {
		return false
	}
	return s.members(func(ks, ke int, esc bool) bool {
		vs := s.i
		if !s.value() {
			return false
		}
		fn(keyText(raw, ks, ke, esc), raw[vs:s.i])
		return true
	}) && s.end()
}
