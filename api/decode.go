package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf16"

	"github.com/anomalyd/detector/anomaly"
)

// body is a request body that has been read whole and checked to be one
// JSON object with known members only. fields holds each member's raw
// value, a slice of the body (the last one wins when a key repeats).
type body struct {
	fields map[string][]byte
	raw    []byte // the whole body
}

// readBody reads the request body (bounded by http.MaxBytesReader in wrap),
// checks it is one valid JSON object and that every member is one of
// allowed. It makes one validating pass over the body; the members and the
// items of arrays are then found by a scanner that relies on that
// validation. Errors are whole-request *anomaly.Error.
func readBody(r *http.Request, allowed ...string) (*body, error) {
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
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, anomaly.Errorf(anomaly.CodeInvalidJSON, "request body is empty: send a JSON object")
	}
	if !json.Valid(raw) {
		// Slow path, errors only: let encoding/json say where.
		var v any
		err := json.Unmarshal(raw, &v)
		if err == nil {
			err = errors.New("invalid JSON")
		}
		return nil, bodyError(err)
	}
	b := &body{fields: make(map[string][]byte, len(allowed)), raw: raw}
	var unknown, dup []byte
	isObject := eachField(raw, func(key, val []byte) {
		if slices.Contains(allowed, string(key)) {
			if _, seen := b.fields[string(key)]; seen && dup == nil {
				dup = key
			}
			b.fields[string(key)] = val
		} else if unknown == nil {
			unknown = key
		}
	})
	if !isObject {
		return nil, anomaly.Errorf(anomaly.CodeInvalidType, "the body must be a JSON object, got %s", jsonType(bytes.TrimSpace(raw)))
	}
	if dup != nil {
		return nil, &anomaly.Error{Code: anomaly.CodeInvalidJSON, Field: string(dup), Index: -1,
			Message: fmt.Sprintf("field %q appears more than once", dup)}
	}
	if unknown != nil {
		return nil, &anomaly.Error{Code: anomaly.CodeInvalidJSON, Field: string(unknown), Index: -1,
			Message: fmt.Sprintf("unknown field %q; this body takes %s", unknown, strings.Join(allowed, ", "))}
	}
	return b, nil
}

// present returns the raw value of a member; null counts as absent.
func (b *body) present(name string) ([]byte, bool) {
	v, ok := b.fields[name]
	if !ok || string(v) == "null" {
		return nil, false
	}
	return v, true
}

// array returns the items of the array member name, which is required.
func (b *body) array(name string) ([][]byte, error) {
	v, ok := b.present(name)
	if !ok {
		return nil, &anomaly.Error{Code: anomaly.CodeMissingField, Field: name, Index: -1,
			Message: name + " is required: an array"}
	}
	var items [][]byte
	if !eachItem(v, func(item []byte) { items = append(items, item) }) {
		return nil, &anomaly.Error{Code: anomaly.CodeInvalidType, Field: name, Index: -1,
			Message: fmt.Sprintf("%s must be an array, got %s", name, jsonType(v))}
	}
	return items, nil
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
}

// parsePoint decodes item i of a batch. raw is one item of an array that
// readBody has checked to be valid JSON. Errors are item
// errors (*anomaly.Error with Index i and the field).
func parsePoint(raw []byte, i int, shape *pointShape) (anomaly.Sample, *anomaly.Error) {
	var (
		s                    anomaly.Sample
		series, tsRaw, value []byte
		unknown              []byte
	)
	ok := eachField(raw, func(key, val []byte) {
		switch string(key) {
		case "series":
			if shape.series {
				series = val
				return
			}
		case "timestamp":
			tsRaw = val
			return
		case "value":
			value = val
			return
		}
		if unknown == nil {
			unknown = key
		}
	})
	if !ok {
		return s, anomaly.FieldError(anomaly.CodeInvalidType, i, "",
			`each point must be a JSON object like {"timestamp":..., "value":...}, got %s`, jsonType(raw))
	}
	if unknown != nil {
		return s, anomaly.FieldError(anomaly.CodeInvalidJSON, i, string(unknown), "unknown field %q", unknown)
	}
	if shape.series {
		if series == nil {
			return s, anomaly.FieldError(anomaly.CodeMissingField, i, "series", "series is required")
		}
		str, ok := jsonString(series)
		if !ok {
			return s, anomaly.FieldError(anomaly.CodeInvalidType, i, "series",
				`series must be a string like "cpu{host=\"a\"}", got %s`, jsonType(series))
		}
		if str == "" {
			return s, anomaly.FieldError(anomaly.CodeInvalidSeries, i, "series", "series is empty")
		}
		s.Series = str
	}
	if tsRaw == nil {
		return s, anomaly.FieldError(anomaly.CodeMissingField, i, "timestamp", "timestamp is required")
	}
	ms, err := parseJSONTimestamp(tsRaw, shape)
	if err != nil {
		err.Index, err.Field = i, "timestamp"
		return s, err
	}
	s.TimestampMs = ms
	if value == nil {
		return s, anomaly.FieldError(anomaly.CodeMissingField, i, "value", "value is required")
	}
	v, err := parseJSONValue(value)
	if err != nil {
		err.Index, err.Field = i, "value"
		return s, err
	}
	s.Value = v
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
	if shape.checkFuture {
		if err := anomaly.CheckFuture(ms, shape.now, shape.maxFuture); err != nil {
			return 0, err
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
	first := bytes.IndexByte(inner, '\\')
	if first < 0 {
		return string(inner), true
	}
	var sb strings.Builder
	sb.Grow(len(inner))
	sb.Write(inner[:first])
	for i := first; i < len(inner); i++ {
		c := inner[i]
		if c != '\\' {
			sb.WriteByte(c)
			continue
		}
		i++
		if i >= len(inner) {
			return "", false
		}
		switch inner[i] {
		case '"', '\\', '/':
			sb.WriteByte(inner[i])
		case 'b':
			sb.WriteByte('\b')
		case 'f':
			sb.WriteByte('\f')
		case 'n':
			sb.WriteByte('\n')
		case 'r':
			sb.WriteByte('\r')
		case 't':
			sb.WriteByte('\t')
		case 'u':
			r := hex4(inner[i+1:])
			if r < 0 {
				return "", false
			}
			i += 4
			if utf16.IsSurrogate(r) {
				if len(inner) >= i+7 && inner[i+1] == '\\' && inner[i+2] == 'u' {
					if dec := utf16.DecodeRune(r, hex4(inner[i+3:])); dec != unicode.ReplacementChar {
						sb.WriteRune(dec)
						i += 6
						continue
					}
				}
				r = unicode.ReplacementChar
			}
			sb.WriteRune(r)
		default:
			return "", false
		}
	}
	return sb.String(), true
}

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
// member of the JSON object raw, in order. raw must be valid JSON (readBody
// checks it). It returns false when raw is not an object.
func eachField(raw []byte, fn func(key, val []byte)) bool {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return false
	}
	i++
	for {
		i = skipSpace(raw, i)
		if i >= len(raw) || raw[i] == '}' {
			return true
		}
		if raw[i] == ',' {
			i = skipSpace(raw, i+1)
		}
		end := skipValue(raw, i) // the key, a string
		key := raw[i:end]
		if bytes.IndexByte(key, '\\') >= 0 {
			s, _ := jsonString(key)
			key = []byte(s)
		} else if len(key) >= 2 {
			key = key[1 : len(key)-1]
		}
		i = skipSpace(raw, end)
		i = skipSpace(raw, i+1) // the colon
		end = skipValue(raw, i)
		fn(key, raw[i:end])
		i = end
	}
}

// eachItem calls fn with every item of the JSON array raw, in order. raw
// must be valid JSON. It returns false when raw is not an array.
func eachItem(raw []byte, fn func(item []byte)) bool {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '[' {
		return false
	}
	i++
	for {
		i = skipSpace(raw, i)
		if i >= len(raw) || raw[i] == ']' {
			return true
		}
		if raw[i] == ',' {
			i = skipSpace(raw, i+1)
		}
		end := skipValue(raw, i)
		fn(raw[i:end])
		i = end
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the index just past the valid JSON value starting at i.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = skipString(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	}
	for i < len(b) {
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i
		}
		i++
	}
	return i
}

// skipString returns the index just past the JSON string starting at i: the
// first quote not escaped by an odd run of backslashes.
func skipString(b []byte, i int) int {
	for j := i + 1; j < len(b); {
		k := bytes.IndexByte(b[j:], '"')
		if k < 0 {
			return len(b)
		}
		q := j + k
		n := 0
		for p := q - 1; p > i && b[p] == '\\'; p-- {
			n++
		}
		if n%2 == 0 {
			return q + 1
		}
		j = q + 1
	}
	return len(b)
}
