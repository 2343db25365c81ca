package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/anomalyd/detector/anomaly"
)

// diffMaxPoints is the points limit of the differential tests: small, so
// that fuzzed bodies reach it.
const diffMaxPoints = 8

// checkDecode decodes data as a POST /api/v1/points body with the one-pass
// decoder and checks it against encoding/json and against the decoder as
// it was (legacy_decode_test.go):
//   - the scanner accepts exactly the texts encoding/json.Valid accepts;
//   - a body is refused with the same code, message, field and index;
//   - each point is decoded to the same sample or the same item error, and
//     its series is the string encoding/json reads (for valid UTF-8; the
//     bytes are kept as they are otherwise, as they always were).
func checkDecode(t *testing.T, data []byte) {
	t.Helper()
	sc := scanner{b: data}
	sc.ws()
	if got, want := sc.value() && sc.end(), json.Valid(data); got != want {
		t.Fatalf("scanner says valid=%v for %.200q, encoding/json says %v", got, data, want)
	}
	// The shapes of ingest and of what-if (no series in the points).
	checkDecodeShape(t, data, &pointShape{series: true, checkFuture: true, now: now, maxFuture: time.Minute})
	checkDecodeShape(t, data, &pointShape{})
}

func checkDecodeShape(t *testing.T, data []byte, shape *pointShape) {
	t.Helper()
	b, err := parseBody(data, shape, diffMaxPoints, []string{"points"})
	if b != nil {
		defer b.pts.release()
	}
	fields, lerr := legacyReadBody(data, "points")
	var pts *pointBatch
	var items [][]byte
	if err == nil && lerr == nil {
		pts, err = (&API{cfg: Config{MaxPoints: diffMaxPoints}}).points(b)
		items, lerr = legacyPoints(fields, diffMaxPoints)
	}
	sameError(t, data, "body", err, lerr)
	if err != nil {
		return
	}
	pts.finish(data)
	j, k := 0, 0 // next sample, next item error
	for i, item := range items {
		ws, werr := legacyParsePoint(item, i, shape)
		if werr != nil {
			if k >= len(pts.errs) || pts.errs[k].Index != i {
				t.Fatalf("%.200q: point %d: no error, want %+v", data, i, werr)
			}
			sameError(t, data, "point", pts.errs[k], werr)
			k++
			continue
		}
		if j >= len(pts.samples) || pts.orig[j] != i {
			t.Fatalf("%.200q: point %d %s not decoded, want %+v (errors %v)", data, i, item, ws, pts.errs)
		}
		got := pts.samples[j]
		j++
		if got != ws {
			t.Fatalf("%.200q: point %d decoded as %+v, want %+v", data, i, got, ws)
		}
		var ref struct{ Series string }
		if shape.series && json.Unmarshal(item, &ref) == nil && utf8.Valid(item) && ref.Series != got.Series {
			t.Fatalf("%.200q: point %d series %q, encoding/json reads %q", data, i, got.Series, ref.Series)
		}
	}
	if j != len(pts.samples) || k != len(pts.errs) {
		t.Fatalf("%.200q: %d samples and %d errors, want %d and %d", data, len(pts.samples), len(pts.errs), j, k)
	}
}

func sameError(t *testing.T, data []byte, what string, got, want error) {
	t.Helper()
	if (got == nil) != (want == nil) {
		t.Fatalf("%.200q: %s error %v, want %v", data, what, got, want)
	}
	if got == nil {
		return
	}
	var g, w *anomaly.Error
	if !errors.As(got, &g) || !errors.As(want, &w) {
		t.Fatalf("%.200q: %s errors %T %v / %T %v, want *anomaly.Error", data, what, got, got, want, want)
	}
	if g.Code != w.Code || g.Message != w.Message || g.Field != w.Field || g.Index != w.Index {
		t.Fatalf("%.200q: %s error\n got %s %q field %q index %d\nwant %s %q field %q index %d",
			data, what, g.Code, g.Message, g.Field, g.Index, w.Code, w.Message, w.Field, w.Index)
	}
}

// decodeCases are bodies at the edges of JSON and of the point rules.
func decodeCases() []string {
	p := func(items ...string) string { return `{"points":[` + strings.Join(items, ",") + `]}` }
	pt := func(series, ts, value string) string {
		return `{"series":` + series + `,"timestamp":` + ts + `,"value":` + value + `}`
	}
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	deepObj := func(n int) string { return strings.Repeat(`{"a":`, n) + "1" + strings.Repeat("}", n) }
	return []string{
		p(pt(`"cpu"`, `1767614400`, `1.5`)),
		p(pt(`"cpu"`, `"2026-01-05T11:59:00Z"`, `-0`), pt(`"cpu"`, `1767614400.25`, `0`)),
		// duplicate keys: last wins inside a point, refused at the top
		p(`{"series":"a","series":"b","timestamp":1,"timestamp":1767614400,"value":2,"value":3}`),
		`{"points":[],"points":[]}`,
		`{"points":[],"\u0070oints":[]}`,
		// escapes
		p(pt(`"cpu{host=\"a\\\\b\"}"`, `1767614400`, `1`)),
		p(pt(`"\u00e9\ud83d\ude00\n\t\/"`, `1767614400`, `1`)),
		p(pt(`"\ud800x"`, `1767614400`, `1`), pt(`"\udc00\ud800"`, `1767614400`, `1`)),
		p(`{"\u0073eries":"a","timestamp":1767614400,"value":1}`),
		p(`{"ser\u0069es2":"a","timestamp":1767614400,"value":1}`),
		p(pt(`"\x"`, `1`, `1`)),
		p(pt(`"\u12"`, `1`, `1`)),
		p(pt(`"\u12G4"`, `1`, `1`)),
		p(pt(`""`, `1767614400`, `1`)),
		// numbers
		p(pt(`"a"`, `1767614400`, `1e400`), pt(`"a"`, `1767614400`, `-1e400`), pt(`"a"`, `1767614400`, `1e-400`)),
		p(pt(`"a"`, `1e400`, `1`), pt(`"a"`, `-0`, `1`), pt(`"a"`, `-0.0e0`, `1`)),
		p(pt(`"a"`, `1767614400`, `1E+308`), pt(`"a"`, `1767614400`, `1e99999999999999999999`)),
		p(pt(`"a"`, `1767614400`, `01`)), p(pt(`"a"`, `1767614400`, `1.`)), p(pt(`"a"`, `1767614400`, `.5`)),
		p(pt(`"a"`, `1767614400`, `+1`)), p(pt(`"a"`, `1767614400`, `1e`)), p(pt(`"a"`, `1767614400`, `-`)),
		p(pt(`"a"`, `1767614400`, `0x10`)), p(pt(`"a"`, `1767614400`, `1.5e+`)), p(pt(`"a"`, `1767614400`, `Infinity`)),
		// NaN and friends as strings, and as bare words
		p(pt(`"a"`, `1767614400`, `"NaN"`), pt(`"a"`, `1767614400`, `"-Infinity"`), pt(`"a"`, `1767614400`, `"+inf"`)),
		p(pt(`"a"`, `1767614400`, `NaN`)),
		p(pt(`"a"`, `"NaN"`, `1`)),
		// items of other types, nested values, missing and unknown fields
		p(`1`, `"x"`, `null`, `true`, `[]`, `{}`, `{"series":""}`, `{"series":1,"timestamp":1,"value":1}`),
		p(`{"series":"a","timestamp":1767614400,"value":{"x":[1,2,{"y":null}]}}`),
		p(`{"series":"a","timestamp":[1767614400],"value":1,"extra":{"deep":[[[]]]}}`),
		p(`{"series":"a","value":1}`, `{"series":"a","timestamp":1767614400}`, `{"timestamp":1767614400,"value":1}`),
		p(`{"series":null,"timestamp":null,"value":null}`),
		// the points limit: counted past it, decoded up to it
		p(strings.Repeat(pt(`"a"`, `1767614400`, `1`)+",", diffMaxPoints) + pt(`"a"`, `1767614400`, `1`)),
		p(strings.Repeat(`1,`, diffMaxPoints) + `{`),
		// deep nesting: encoding/json's limit is 10000 levels, the body's own included
		p(pt(`"a"`, `1767614400`, deep(9997))),
		p(pt(`"a"`, `1767614400`, deep(9998))),
		p(`{"series":"a","timestamp":1767614400,"value":1,"x":` + deepObj(9996) + `}`),
		p(`{"series":"a","timestamp":1767614400,"value":1,"x":` + deepObj(9997) + `}`),
		`{"x":` + deep(9999) + `}`, `{"x":` + deep(10000) + `}`,
		deep(10000), deep(10001),
		// trailing garbage, truncation, white space, BOM
		p(pt(`"a"`, `1767614400`, `1`)) + ` x`,
		p(pt(`"a"`, `1767614400`, `1`)) + `{}`,
		p(pt(`"a"`, `1767614400`, `1`)) + "\n\t\r ",
		" \n" + p(pt(`"a"`, `1767614400`, `1`)),
		p(pt(`"a"`, `1767614400`, `1`))[:20],
		"\ufeff" + p(pt(`"a"`, `1767614400`, `1`)),
		p(pt(`"a"`, `1767614400`, `1`)) + "\u00a0",
		`{"points":[1,]}`, `{"points":[,1]}`, `{"points":[1 2]}`, `{"points" [1]}`, `{"points":[1],}`, `{,}`,
		`{"points":[{"series":"a",}]}`, `{"points":[{"series" "a"}]}`, `{"points":[{1:2}]}`,
		// invalid UTF-8 and control characters
		p(pt("\"cpu\xff\xfe\"", `1767614400`, `1`)),
		p(pt("\"cpu\xc3\"", `1767614400`, `1`)),
		"{\"points\xff\":[]}",
		p(pt("\"a\tb\"", `1767614400`, `1`)),
		p(pt("\"a\x00b\"", `1767614400`, `1`)),
		p(pt("\"a\x7fb\"", `1767614400`, `1`)),
		// not an object, not an array
		`[]`, `"points"`, `null`, `1`, `{"points":null}`, `{"points":{}}`, `{"points":"[]"}`, `{}`, `{"other":1}`,
		``, ` `, `{`, `}`, `{"points":[`, `tru`, `nul`, `falsey`,
	}
}

// TestDecodeMatchesEncodingJSON runs the differential check on the edge
// cases: duplicate keys, escapes, numbers out of range, NaN strings, deep
// nesting, trailing garbage, a BOM, invalid UTF-8.
func TestDecodeMatchesEncodingJSON(t *testing.T) {
	for _, c := range decodeCases() {
		checkDecode(t, []byte(c))
	}
}

// FuzzDecodeDifferential is checkDecode on any body.
func FuzzDecodeDifferential(f *testing.F) {
	for _, c := range decodeCases() {
		if len(c) < 1000 {
			f.Add([]byte(c))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecode(t, data)
	})
}

// TestSeriesTextsOutliveTheBody checks what the pooled buffers promise:
// once a request is done its body buffer is reused, and the series texts
// handed to the engine (which it may keep: verdicts, peer groups) do not
// change.
func TestSeriesTextsOutliveTheBody(t *testing.T) {
	e := newEnv(t, Config{})
	var kept []string
	for i := range 50 {
		body := []byte(`{"points":[{"series":"cpu{host=\"h` + strings.Repeat("x", i) + `\"}","timestamp":1767614400,"value":1},` +
			`{"series":"esc\u00e9` + strings.Repeat("y", i) + `","timestamp":1767614400,"value":2},` +
			`{"series":"plain` + strings.Repeat("z", 50-i) + `","timestamp":1767614400,"value":3}]}`)
		w := e.do("POST", "/api/v1/points", string(body))
		if w.Code != 200 {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
	}
	e.engine.mu.Lock()
	for _, s := range e.engine.ingested {
		kept = append(kept, s.Series)
	}
	e.engine.mu.Unlock()
	if len(kept) != 150 {
		t.Fatalf("engine got %d points, want 150", len(kept))
	}
	for i := range 50 {
		for k, want := range []string{`cpu{host="h` + strings.Repeat("x", i) + `"}`, "esc\u00e9" + strings.Repeat("y", i), "plain" + strings.Repeat("z", 50-i)} {
			if got := kept[3*i+k]; got != want {
				t.Errorf("point %d series %q, want %q", 3*i+k, got, want)
			}
		}
	}
	// The buffers are reused: a larger body after the others still reads right.
	big := bytes.Repeat([]byte(`{"series":"z","timestamp":1767614400,"value":3},`), 1000)
	w := e.do("POST", "/api/v1/points", `{"points":[`+string(big[:len(big)-1])+`]}`)
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"accepted":1000`) {
		t.Fatalf("big body: %d %.300s", w.Code, w.Body)
	}
}
