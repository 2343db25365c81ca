package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/anomalyd/detector/anomaly"
)

// decodeBody decodes the JSON request body into dst, a pointer to a struct
// whose fields the body may hold. Any unknown field, trailing data, a body
// over the limit (already wrapped by http.MaxBytesReader in wrap) or
// malformed JSON is a whole-request *anomaly.Error.
func decodeBody(r *http.Request, dst any) error {
	if r.Body == nil {
		return anomaly.Errorf(anomaly.CodeInvalidJSON, "request body is empty: send a JSON object")
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return bodyError(err)
	}
	// Only whitespace may follow the object.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err == nil {
			return anomaly.Errorf(anomaly.CodeInvalidJSON, "unexpected data after the JSON object")
		}
		return bodyError(err)
	}
	return nil
}

// bodyError turns an error of encoding/json (or of the body reader) into a
// whole-request *anomaly.Error.
func bodyError(err error) error {
	var (
		maxErr  *http.MaxBytesError
		synErr  *json.SyntaxError
		typeErr *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &maxErr):
		return &anomaly.Error{Code: anomaly.CodeTooLarge, Index: -1, Err: err,
			Message: fmt.Sprintf("request body exceeds the limit of %d bytes: send smaller batches", maxErr.Limit)}
	case errors.Is(err, io.EOF):
		return anomaly.Errorf(anomaly.CodeInvalidJSON, "request body is empty: send a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &anomaly.Error{Code: anomaly.CodeInvalidJSON, Index: -1, Err: err,
			Message: "malformed JSON: the body ends before the JSON value does"}
	case errors.As(err, &synErr):
		return &anomaly.Error{Code: anomaly.CodeInvalidJSON, Index: -1, Err: err,
			Message: fmt.Sprintf("malformed JSON at byte %d: %s", synErr.Offset, strings.TrimPrefix(synErr.Error(), "json: "))}
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			return &anomaly.Error{Code: anomaly.CodeInvalidType, Index: -1, Err: err,
				Message: fmt.Sprintf("the body must be a JSON object, got %s", typeErr.Value)}
		}
		return &anomaly.Error{Code: anomaly.CodeInvalidType, Field: field, Index: -1, Err: err,
			Message: fmt.Sprintf("%s must be %s, got %s", field, jsonTypeOf(typeErr.Type.Kind().String()), typeErr.Value)}
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name, _ = strconv.Unquote(name)
		return &anomaly.Error{Code: anomaly.CodeInvalidJSON, Field: name, Index: -1, Err: err,
			Message: fmt.Sprintf("unknown field %q", name)}
	}
	return &anomaly.Error{Code: anomaly.CodeInvalidJSON, Index: -1, Err: err, Message: "malformed JSON: " + err.Error()}
}

// jsonTypeOf names the JSON type that holds a Go kind, for messages.
func jsonTypeOf(kind string) string {
	switch kind {
	case "slice", "array":
		return "an array"
	case "string":
		return "a string"
	case "struct", "map":
		return "an object"
	case "bool":
		return "a boolean"
	}
	return "a number"
}

// pointShape says which fields a point of a request may or must have.
type pointShape struct {
	series      bool // "series" is required in the point (ingest); otherwise it is an unknown field
	checkFuture bool // reject timestamps more than maxFuture ahead of now
	now         time.Time
	maxFuture   time.Duration
}

// parsePoint decodes item i of a batch. raw is one element of an array the
// top-level decoder has already checked to be valid JSON. Errors are item
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
		ms, err = parseUnixSeconds(string(raw))
	default:
		return 0, &anomaly.Error{Code: anomaly.CodeInvalidType, Index: -1,
			Message: "timestamp must be an RFC 3339 string or a number of Unix seconds, got " + jsonType(raw)}
	}
	if err != nil {
		return 0, err
	}
	if shape.checkFuture {
		limit := shape.now.Add(shape.maxFuture).UnixMilli()
		if ms > limit {
			ahead := time.Duration(ms-shape.now.UnixMilli()) * time.Millisecond
			msg := fmt.Sprintf("timestamp %s is %s ahead of the server clock; the limit is %s",
				time.UnixMilli(ms).UTC().Format(time.RFC3339Nano), ahead.Round(time.Second), shape.maxFuture)
			return 0, &anomaly.Error{Code: anomaly.CodeFutureTimestamp, Index: -1, Message: msg}
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

// jsonString returns the text of a JSON string value; ok is false when raw
// is not a string.
func jsonString(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return string(inner), true
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

// eachField calls fn with the (unescaped) key and the raw value of every
// member of the JSON object raw, in order. raw must be valid JSON, as the
// elements of a json.RawMessage slice decoded by encoding/json are. It
// returns false when raw is not an object.
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

// skipString returns the index just past the JSON string starting at i.
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return i
}
