package api

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/anomalyd/detector/anomaly"
)

// Limits of the fuzzed API: small, so that the fuzzer reaches them.
const (
	fuzzMaxBody   = 4096
	fuzzMaxPoints = 16
)

// FuzzIngestBody sends arbitrary bodies through the whole POST
// /api/v1/points path (routing, body limit, validation, per-point decoding,
// the engine call, merging of item errors, the answer's encoding) and checks
// it against encoding/json:
//   - the answer is never a 5xx and always a JSON object;
//   - a body encoding/json reads as {"points":[...]} (at most the limits)
//     is answered 200, any other body 4xx;
//   - on 200, accepted + rejected is the number of points, item errors
//     have sorted, distinct indices into the request, and the engine got,
//     in order, exactly the points without an error, each with the series
//     and value encoding/json finds in that item.
func FuzzIngestBody(f *testing.F) {
	for _, s := range []string{
		`{"points":[{"series":"cpu{host=\"a\"}","timestamp":1767614400,"value":1.5}]}`,
		`{"points":[{"series":"a","timestamp":"2026-01-05T10:00:00Z","value":"NaN"},{"series":"bad","timestamp":1,"value":2}]}`,
		`{"points":[]}`,
		`{"points":null}`,
		`{"points":[1,"x",null,{},{"series":""}]}`,
		`{"\u0070oints":[{"series":"b","timestamp":"1767614400.5","value":-0}],"points":[]}`,
		`{"points":[{"series":"c","timestamp":1e999,"value":1}],"extra":1}`,
		`[{"series":"c","timestamp":1,"value":1}]`,
		`{"points":[{"series":"c","timestamp":1767621600,"value":1}]}`,
		`{"points":[{"series":"c","timestamp":1,"value":1}`,
	} {
		f.Add([]byte(s))
	}
	e := &fakeEngine{}
	a, err := New(Config{MaxBodyBytes: fuzzMaxBody, MaxPoints: fuzzMaxPoints}, Deps{
		Engine: e,
		Now:    func() time.Time { return now },
	})
	if err != nil {
		f.Fatalf("New: %v", err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e.mu.Lock()
		e.ingested, e.calls = nil, 0
		e.mu.Unlock()
		req := httptest.NewRequest(http.MethodPost, "/api/v1/points", bytes.NewReader(data))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		a.ServeHTTP(rec, req)
		var answer map[string]json.RawMessage
		if err := json.Unmarshal(rec.Body.Bytes(), &answer); err != nil {
			t.Fatalf("POST %q: answer %d %q is not a JSON object: %v", data, rec.Code, rec.Body, err)
		}
		points, wantOK := pointsOf(data)
		if rec.Code >= 500 || (rec.Code == 200) != wantOK {
			t.Fatalf("POST %q = %d %s, want 200: %v", data, rec.Code, rec.Body, wantOK)
		}
		if rec.Code != 200 {
			if _, ok := answer["error"]; !ok {
				t.Fatalf("POST %q = %d %s, want an error member", data, rec.Code, rec.Body)
			}
			return
		}
		var res anomaly.IngestResult
		if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil {
			t.Fatalf("POST %q: answer %s: %v", data, rec.Body, err)
		}
		if res.Accepted+res.Rejected != len(points) || len(res.Errors) != res.Rejected {
			t.Fatalf("POST %q: accepted %d + rejected %d (%d errors), want %d points", data, res.Accepted, res.Rejected, len(res.Errors), len(points))
		}
		failed := map[int]bool{}
		for j, ie := range res.Errors {
			if ie.Index < 0 || ie.Index >= len(points) || failed[ie.Index] || (j > 0 && ie.Index < res.Errors[j-1].Index) {
				t.Fatalf("POST %q: item errors %+v: indices not sorted, distinct and in [0, %d)", data, res.Errors, len(points))
			}
			failed[ie.Index] = true
		}
		e.mu.Lock()
		got := e.ingested
		e.mu.Unlock()
		if len(got) != res.Accepted {
			t.Fatalf("POST %q: engine got %d points, answer says %d accepted", data, len(got), res.Accepted)
		}
		k := 0
		for i, raw := range points {
			if failed[i] {
				continue
			}
			s := got[k]
			k++
			var item struct {
				Series string
				Value  json.RawMessage
			}
			if err := json.Unmarshal(raw, &item); err != nil {
				t.Fatalf("POST %q: point %d %s accepted as %+v, encoding/json: %v", data, i, raw, s, err)
			}
			if utf8.Valid(raw) && item.Series != s.Series {
				t.Fatalf("POST %q: point %d series %q, encoding/json reads %q", data, i, s.Series, item.Series)
			}
			if s.TimestampMs < 0 || s.TimestampMs > now.Add(10*time.Minute).UnixMilli() {
				t.Fatalf("POST %q: point %d accepted with timestamp %d ms", data, i, s.TimestampMs)
			}
			var v float64
			if json.Unmarshal(item.Value, &v) == nil && v != s.Value {
				t.Fatalf("POST %q: point %d value %v, encoding/json reads %v", data, i, s.Value, v)
			}
			var vs string
			if json.Unmarshal(item.Value, &vs) == nil {
				if want, err := strconv.ParseFloat(vs, 64); err == nil && want != s.Value && !(math.IsNaN(want) && math.IsNaN(s.Value)) {
					t.Fatalf("POST %q: point %d value %v, the string %q reads %v", data, i, s.Value, vs, want)
				}
			}
		}
	})
}

// pointsOf returns the items of a body that encoding/json reads as one
// object whose only member is "points", an array within the fuzzed limits;
// ok is false for every other body.
func pointsOf(data []byte) (points []json.RawMessage, ok bool) {
	if len(data) > fuzzMaxBody || !json.Valid(data) {
		return nil, false
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(data, &obj) != nil || obj == nil || len(obj) != 1 || topLevelKeys(data) != 1 {
		return nil, false // a repeated key is refused too
	}
	raw, found := obj["points"]
	if !found || json.Unmarshal(raw, &points) != nil || points == nil || len(points) > fuzzMaxPoints {
		return nil, false
	}
	return points, true
}

// topLevelKeys counts the members of the JSON object data, repeated keys
// included (-1 when data is not an object).
func topLevelKeys(data []byte) int {
	d := json.NewDecoder(bytes.NewReader(data))
	if t, err := d.Token(); err != nil || t != json.Delim('{') {
		return -1
	}
	n := 0
	for d.More() {
		if _, err := d.Token(); err != nil {
			return -1
		}
		var v json.RawMessage
		if d.Decode(&v) != nil {
			return -1
		}
		n++
	}
	return n
}

// FuzzTimestamp checks the timestamp parsers of request bodies: the text
// form and the JSON string form of the same text agree; a valid JSON number
// gives what the same digits give as text; an accepted instant lies between
// 1970 and the end of year 9999 (and, with the future check on, not past the
// limit); errors carry a timestamp code and a message.
func FuzzTimestamp(f *testing.F) {
	for _, s := range []string{"1767614400", "1767614400.25", "1767614400.0005", "-0", "-1", "1e9", "1E400", "-1e400",
		"253402300799.9995", "2026-01-05T10:00:00Z", "2026-01-05T10:00:00.0005+02:00", "1969-12-31T23:59:59.9999Z",
		"9999-12-31T23:59:59.9999999Z", "0001-01-01T00:00:00Z", "", " 1", "0x10", "1_000", "NaN", "1767614400000"} {
		f.Add(s)
	}
	const maxMs = (maxUnixSeconds + 1) * 1000
	limit := now.Add(time.Minute).UnixMilli()
	f.Fuzz(func(t *testing.T, s string) {
		ms, err := parseTimeText(s)
		if err != nil {
			if (err.Code != anomaly.CodeInvalidTimestamp && err.Code != anomaly.CodeFutureTimestamp) || err.Message == "" {
				t.Fatalf("parseTimeText(%q) error %+v, want a timestamp code and a message", s, err)
			}
		} else if ms < 0 || ms > maxMs {
			t.Fatalf("parseTimeText(%q) = %d ms, outside [1970, 9999]", s, ms)
		}
		same := func(what string, ms2 int64, err2 *anomaly.Error) {
			if (err == nil) != (err2 == nil) || ms != ms2 || (err != nil && err.Code != err2.Code) {
				t.Fatalf("%s = %d, %v; parseTimeText(%q) = %d, %v", what, ms2, err2, s, ms, err)
			}
		}
		if utf8.ValidString(s) {
			raw, _ := json.Marshal(s)
			ms2, err2 := parseJSONTimestamp(raw, &pointShape{})
			same("parseJSONTimestamp("+string(raw)+")", ms2, err2)
		}
		if len(s) > 0 && (s[0] == '-' || s[0] >= '0' && s[0] <= '9') && json.Valid([]byte(s)) {
			ms2, err2 := parseJSONTimestamp([]byte(s), &pointShape{})
			same("parseJSONTimestamp(number "+s+")", ms2, err2)
		}
		if err == nil && utf8.ValidString(s) {
			raw, _ := json.Marshal(s)
			ms2, err2 := parseJSONTimestamp(raw, &pointShape{checkFuture: true, now: now, maxFuture: time.Minute})
			if (ms <= limit) != (err2 == nil) || (err2 == nil && ms2 != ms) || (err2 != nil && err2.Code != anomaly.CodeFutureTimestamp) {
				t.Fatalf("parseJSONTimestamp(%s) with the future check = %d, %v; without it %d", raw, ms2, err2, ms)
			}
		}
	})
}
