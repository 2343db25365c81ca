package api

// The decoder as it was before the one-pass scanner (json.Valid, then a
// scanner relying on it), kept as the oracle of the differential tests:
// the new decoder must answer every body with the same errors, fields and
// indices, and decode the same points.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/anomalyd/detector/anomaly"
)

// legacyReadBody is the old readBody on raw.
func legacyReadBody(raw []byte, allowed ...string) (map[string][]byte, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, anomaly.Errorf(anomaly.CodeInvalidJSON, "request body is empty: send a JSON object")
	}
	if !json.Valid(raw) {
		var v any
		err := json.Unmarshal(raw, &v)
		if err == nil {
			err = errors.New("invalid JSON")
		}
		return nil, bodyError(err)
	}
	fields := make(map[string][]byte, len(allowed))
	var unknown, dup []byte
	isObject := legacyEachField(raw, func(key, val []byte) {
		if slices.Contains(allowed, string(key)) {
			if _, seen := fields[string(key)]; seen && dup == nil {
				dup = key
			}
			fields[string(key)] = val
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
	return fields, nil
}

// legacyPoints is the old (*API).points on the fields of a body.
func legacyPoints(fields map[string][]byte, maxPoints int) ([][]byte, error) {
	v, ok := fields["points"]
	if !ok || string(v) == "null" {
		return nil, &anomaly.Error{Code: anomaly.CodeMissingField, Field: "points", Index: -1,
			Message: "points is required: an array"}
	}
	var items [][]byte
	if !legacyEachItem(v, func(item []byte) { items = append(items, item) }) {
		return nil, &anomaly.Error{Code: anomaly.CodeInvalidType, Field: "points", Index: -1,
			Message: fmt.Sprintf("%s must be an array, got %s", "points", jsonType(v))}
	}
	if len(items) > maxPoints {
		return nil, &anomaly.Error{Code: anomaly.CodeLimit, Field: "points", Index: -1,
			Message: fmt.Sprintf("%d points in one request; the limit is %d: split the batch", len(items), maxPoints)}
	}
	return items, nil
}

// legacyParsePoint decodes item i of a batch. raw is one item of an array that
// readBody has checked to be valid JSON. Errors are item
// errors (*anomaly.Error with Index i and the field).
func legacyParsePoint(raw []byte, i int, shape *pointShape) (anomaly.Sample, *anomaly.Error) {
	var (
		s                    anomaly.Sample
		series, tsRaw, value []byte
		unknown              []byte
	)
	ok := legacyEachField(raw, func(key, val []byte) {
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

// legacyEachField calls fn with the (unescaped) key and the raw value of every
// member of the JSON object raw, in order. raw must be valid JSON (readBody
// checks it). It returns false when raw is not an object.
func legacyEachField(raw []byte, fn func(key, val []byte)) bool {
	i := legacySkipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return false
	}
	i++
	for {
		i = legacySkipSpace(raw, i)
		if i >= len(raw) || raw[i] == '}' {
			return true
		}
		if raw[i] == ',' {
			i = legacySkipSpace(raw, i+1)
		}
		end := legacySkipValue(raw, i) // the key, a string
		key := raw[i:end]
		if bytes.IndexByte(key, '\\') >= 0 {
			s, _ := jsonString(key)
			key = []byte(s)
		} else if len(key) >= 2 {
			key = key[1 : len(key)-1]
		}
		i = legacySkipSpace(raw, end)
		i = legacySkipSpace(raw, i+1) // the colon
		end = legacySkipValue(raw, i)
		fn(key, raw[i:end])
		i = end
	}
}

// legacyEachItem calls fn with every item of the JSON array raw, in order. raw
// must be valid JSON. It returns false when raw is not an array.
func legacyEachItem(raw []byte, fn func(item []byte)) bool {
	i := legacySkipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '[' {
		return false
	}
	i++
	for {
		i = legacySkipSpace(raw, i)
		if i >= len(raw) || raw[i] == ']' {
			return true
		}
		if raw[i] == ',' {
			i = legacySkipSpace(raw, i+1)
		}
		end := legacySkipValue(raw, i)
		fn(raw[i:end])
		i = end
	}
}

func legacySkipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// legacySkipValue returns the index just past the valid JSON value starting at i.
func legacySkipValue(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '"':
		return legacySkipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = legacySkipString(b, i)
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

// legacySkipString returns the index just past the JSON string starting at i: the
// first quote not escaped by an odd run of backslashes.
func legacySkipString(b []byte, i int) int {
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
