package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/anomalyd/detector/anomaly"
)

func TestParseTimestamp(t *testing.T) {
	shape := &pointShape{checkFuture: true, now: now, maxFuture: 10 * time.Minute}
	cases := []struct {
		in   string // raw JSON
		ms   int64
		code anomaly.Code // "" for success
	}{
		{`1767614400`, 1767614400000, ""},
		{`1767614400.1234`, 1767614400123, ""},
		{`1767614400.1236`, 1767614400124, ""},
		{`1.7676144e9`, 1767614400000, ""},
		{`0`, 0, ""},
		{`1767614400.0005`, 1767614400001, ""},
		{`1767614400.00049999`, 1767614400000, ""},
		{`1767614400.9996`, 1767614401000, ""},
		{`"017"`, 17000, ""},
		{`253402300799`, 253402300799000, anomaly.CodeFutureTimestamp},
		{`253402300800`, 0, anomaly.CodeFutureTimestamp},
		{`1000000000000`, 0, anomaly.CodeFutureTimestamp},
		{`"1767614400.5"`, 1767614400500, ""},
		{`"2026-01-05T12:00:00Z"`, 1767614400000, ""},
		{`"2026-01-05T12:00:00.1236Z"`, 1767614400124, ""},
		{`"2026-01-05T13:00:00+01:00"`, 1767614400000, ""},
		{`"2026-01-05T12:10:00Z"`, 1767615000000, ""}, // exactly at the limit
		{`"2026-01-05T12:10:00.001Z"`, 0, anomaly.CodeFutureTimestamp},
		{`1767615000.001`, 0, anomaly.CodeFutureTimestamp},
		{`1e999`, 0, anomaly.CodeFutureTimestamp},
		{`"1e999"`, 0, anomaly.CodeFutureTimestamp},
		{`-0.001`, 0, anomaly.CodeInvalidTimestamp},
		{`"-1e999"`, 0, anomaly.CodeInvalidTimestamp},
		{`"1969-12-31T23:59:59.999Z"`, 0, anomaly.CodeInvalidTimestamp},
		{`""`, 0, anomaly.CodeInvalidTimestamp},
		{`"0x10"`, 0, anomaly.CodeInvalidTimestamp},
		{`"1_000"`, 0, anomaly.CodeInvalidTimestamp},
		{`"Inf"`, 0, anomaly.CodeInvalidTimestamp},
		{`"NaN"`, 0, anomaly.CodeInvalidTimestamp},
		{`"2026-01-05"`, 0, anomaly.CodeInvalidTimestamp},
		{`"2026-01-05 12:00:00Z"`, 0, anomaly.CodeInvalidTimestamp},
		{`"--"`, 0, anomaly.CodeInvalidTimestamp},
		{`true`, 0, anomaly.CodeInvalidType},
		{`{}`, 0, anomaly.CodeInvalidType},
	}
	for _, c := range cases {
		ms, err := parseJSONTimestamp([]byte(c.in), shape)
		var code anomaly.Code
		if err != nil {
			code = err.Code
		}
		if code != c.code || (c.code == "" && ms != c.ms) {
			t.Errorf("parseJSONTimestamp(%s) = %d, %v, want %d, code %q", c.in, ms, err, c.ms, c.code)
		}
	}
	// Without the future check, far timestamps up to year 9999 are fine.
	if ms, err := parseJSONTimestamp([]byte(`"9999-12-31T23:59:59Z"`), &pointShape{}); err != nil || ms != maxUnixSeconds*1000 {
		t.Errorf("parseJSONTimestamp(9999-12-31T23:59:59Z) without the future check = %d, %v, want %d", ms, err, maxUnixSeconds*1000)
	}
}

func TestParseValue(t *testing.T) {
	cases := []struct {
		in   string
		v    float64
		code anomaly.Code
	}{
		{`1.5`, 1.5, ""},
		{`-0`, 0, ""},
		{`1e-400`, 0, ""}, // underflow rounds to zero
		{`1.7976931348623157e308`, 1.7976931348623157e308, ""},
		{`1.8e308`, 0, anomaly.CodeInvalidValue},
		{`"nan"`, 0, anomaly.CodeInvalidValue},
		{`"-Infinity"`, 0, anomaly.CodeInvalidValue},
		{`"1"`, 0, anomaly.CodeInvalidType},
		{`false`, 0, anomaly.CodeInvalidType},
		{`[]`, 0, anomaly.CodeInvalidType},
	}
	for _, c := range cases {
		v, err := parseJSONValue([]byte(c.in))
		var code anomaly.Code
		if err != nil {
			code = err.Code
		}
		if code != c.code || (c.code == "" && v != c.v) {
			t.Errorf("parseJSONValue(%s) = %v, %v, want %v, code %q", c.in, v, err, c.v, c.code)
		}
	}
}

func TestEachField(t *testing.T) {
	cases := []struct{ in, want string }{
		{`{}`, ``},
		{` { "a" : 1 , "b":"x,}" ,"c":{"d":[1,{"e":"]"}]},"f":null} `, `a=1;b="x,}";c={"d":[1,{"e":"]"}]};f=null;`},
		{`{"k\"ey":"v\\"}`, `k"ey="v\\";`},
		{`{"\u0061":true}`, `a=true;`},
	}
	for _, c := range cases {
		var b strings.Builder
		ok := eachField([]byte(c.in), func(k, v []byte) { fmt.Fprintf(&b, "%s=%s;", k, v) })
		if !ok || b.String() != c.want {
			t.Errorf("eachField(%s) = %v %q, want true %q", c.in, ok, b.String(), c.want)
		}
	}
	for _, in := range []string{`[]`, `"{}"`, `1`, `null`, ``} {
		if eachField([]byte(in), func(k, v []byte) {}) {
			t.Errorf("eachField(%s) = true, want false (not an object)", in)
		}
	}
}

// FuzzEachField checks the object scanner against encoding/json on valid
// JSON: same members, same values.
func FuzzEachField(f *testing.F) {
	for _, s := range []string{`{"series":"cpu","timestamp":1,"value":2}`, `{"a":{"b":[1,"]}"]},"c":"\""}`, `[1]`, `{"x":"\u00e9"}`, ` {"a" : 1 } `} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !json.Valid(data) || !utf8.Valid(data) {
			return
		}
		var want map[string]json.RawMessage
		isObj := json.Unmarshal(data, &want) == nil && want != nil
		got := map[string]string{}
		ok := eachField(data, func(k, v []byte) { got[string(k)] = string(v) })
		if ok != isObj {
			t.Fatalf("eachField(%s) object = %v, encoding/json says %v", data, ok, isObj)
		}
		if !ok {
			return
		}
		if len(got) != len(want) {
			t.Fatalf("eachField(%s) found %d members, want %d", data, len(got), len(want))
		}
		for k, v := range want {
			var a, b bytes.Buffer
			json.Compact(&a, v)
			json.Compact(&b, []byte(got[k]))
			if a.String() != b.String() {
				t.Fatalf("eachField(%s)[%q] = %s, want %s", data, k, b.String(), a.String())
			}
		}
	})
}

// FuzzParsePoint checks that no valid JSON item panics the point decoder
// and that an accepted point is well-formed.
func FuzzParsePoint(f *testing.F) {
	for _, s := range []string{`{"series":"cpu","timestamp":1767614400,"value":1}`, `{"series":"a","timestamp":"2026-01-05T00:00:00Z","value":"NaN"}`, `{"timestamp":1e999,"value":-1e999}`} {
		f.Add([]byte(s))
	}
	shape := &pointShape{series: true, checkFuture: true, now: now, maxFuture: time.Minute}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !json.Valid(data) {
			return
		}
		s, err := parsePoint(data, 3, shape)
		if err != nil {
			if err.Index != 3 || err.Code == "" || err.Message == "" {
				t.Fatalf("parsePoint(%s) error %+v lacks index, code or message", data, err)
			}
			return
		}
		if s.Series == "" || s.TimestampMs < 0 || s.TimestampMs > now.Add(time.Minute).UnixMilli() || s.Value != s.Value {
			t.Fatalf("parsePoint(%s) accepted %+v", data, s)
		}
	})
}

// FuzzJSONString checks the string decoder against encoding/json.
func FuzzJSONString(f *testing.F) {
	for _, s := range []string{`"cpu{host=\"a\"}"`, `"\u00e9\ud83d\ude00\n\t\\\/"`, `"\ud800x"`, `"\ud800\u0041"`, `"\udc00\ud800"`, `"plain"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var want string
		if !utf8.Valid(data) || json.Unmarshal(data, &want) != nil {
			return
		}
		got, ok := jsonString(bytes.TrimSpace(data))
		if !ok || got != want {
			t.Fatalf("jsonString(%s) = %q, %v, want %q", data, got, ok, want)
		}
		checkStrTo(t, bytes.TrimSpace(data), want)
	})
}

// checkStrTo fails t unless the scanner's copying string reader reads
// the JSON string raw whole as want, after what its buffer held.
func checkStrTo(t *testing.T, raw []byte, want string) {
	t.Helper()
	if len(raw) == 0 || raw[0] != '"' {
		return
	}
	s := scanner{b: raw}
	dst := []byte("prefix")
	if _, ok := s.strTo(&dst); !ok || s.i != len(raw) || string(dst) != "prefix"+want {
		t.Fatalf("strTo(%s) = %q, %v, cursor %d, want %q, cursor %d", raw, dst, ok, s.i, "prefix"+want, len(raw))
	}
}

// TestStrTo holds strTo to encoding/json on generated strings: plain
// runs of every length around the word size, every escape, surrogates.
func TestStrTo(t *testing.T) {
	pieces := []string{"a", "play_starts{title=", `\"`, `\\`, `\/`, `\b`, `\f`, `\n`, `\r`, `\t`, `\u00e9`, `\ud83d\ude00`, `\ud800`, `\udc00x`, "é", "日本", "12345678", "\x7f"}
	r := rand.New(rand.NewPCG(7, 8))
	for range 100_000 {
		var b strings.Builder
		b.WriteByte('"')
		for range r.IntN(10) {
			b.WriteString(pieces[r.IntN(len(pieces))])
		}
		b.WriteByte('"')
		raw := []byte(b.String())
		var want string
		if err := json.Unmarshal(raw, &want); err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		checkStrTo(t, raw, want)
		// Invalid: cut short, or with a control character.
		s := scanner{b: raw[:len(raw)-1]}
		dst := []byte{}
		if _, ok := s.strTo(&dst); ok {
			t.Fatalf("strTo(%s) ok, want unterminated", raw[:len(raw)-1])
		}
	}
	s := scanner{b: []byte("\"a\x01b\"")}
	if _, ok := s.strTo(new([]byte)); ok {
		t.Fatal("strTo took a control character")
	}
}

// FuzzPlainSeconds checks the exact fast path against strconv on inputs
// with at most millisecond digits, where both must agree.
func FuzzPlainSeconds(f *testing.F) {
	for _, s := range []string{"0", "1767614400", "1767614400.25", "1.5", "253402300799.999", "12.0004"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ms, ok := plainSeconds([]byte(s))
		if !ok {
			return
		}
		if dot := strings.IndexByte(s, '.'); dot >= 0 && len(s)-dot-1 > 3 {
			return
		}
		want, err := parseUnixSeconds(s)
		if err != nil || ms != want {
			t.Fatalf("plainSeconds(%q) = %d, parseUnixSeconds = %d, %v", s, ms, want, err)
		}
	})
}

// FuzzPlainFloat holds the fast path of values to strconv.ParseFloat: the
// same bits wherever it takes the text.
func FuzzPlainFloat(f *testing.F) {
	for _, s := range []string{"0", "-0", "100.0", "312.7", "-1.5", "0.1", "123456789012345", "9007199254740993", "1.", ".5", "1e3", "--1", "0.30000000000000004"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, ok := plainFloat([]byte(s))
		if !ok {
			return
		}
		want, err := strconv.ParseFloat(s, 64)
		if err != nil || math.Float64bits(v) != math.Float64bits(want) {
			t.Fatalf("plainFloat(%q) = %v, strconv.ParseFloat = %v, %v", s, v, want, err)
		}
	})
}

func TestPlainFloatMatchesParseFloat(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for range 300_000 {
		var b []byte
		if r.IntN(4) == 0 {
			b = append(b, '-')
		}
		for range 1 + r.IntN(9) {
			b = append(b, byte('0'+r.IntN(10)))
		}
		if r.IntN(3) > 0 {
			b = append(b, '.')
			for range 1 + r.IntN(9) {
				b = append(b, byte('0'+r.IntN(10)))
			}
		}
		v, ok := plainFloat(b)
		want, err := strconv.ParseFloat(string(b), 64)
		if ok && (err != nil || math.Float64bits(v) != math.Float64bits(want)) {
			t.Fatalf("plainFloat(%q) = %v, strconv.ParseFloat = %v, %v", b, v, want, err)
		}
	}
}
