package series

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/anomalyd/detector/anomaly"
)

func TestParseValid(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{`up`, `up`},
		{`  up  `, `up`},
		{`up{}`, `up`},
		{`up { } `, `up`},
		{`a:b_c9`, `a:b_c9`},
		{`:colon_start`, `:colon_start`},
		{`_under`, `_under`},
		{`play_starts{title="81234",device="tv_sony",bitrate="3000"}`,
			`play_starts{bitrate="3000",device="tv_sony",title="81234"}`},
		{`m{b="2",a="1"}`, `m{a="1",b="2"}`},
		{`m{a="1",b="2"}`, `m{a="1",b="2"}`},
		{`m{a="1",}`, `m{a="1"}`},
		{` m { a = "1" , b="2" , } `, `m{a="1",b="2"}`},
		{"m{\ta=\"1\"\n}", `m{a="1"}`},
		{`m{a=""}`, `m`},
		{`m{a="",b="x"}`, `m{b="x"}`},
		{`m{a="say \"hi\""}`, `m{a="say \"hi\""}`},
		{`m{a="back\\slash"}`, `m{a="back\\slash"}`},
		{`m{a="line\nfeed"}`, `m{a="line\nfeed"}`},
		{`m{a="日本語"}`, `m{a="日本語"}`},
		{`m{a="{},=\" "}`, `m{a="{},=\" "}`},
		{`m{_a="1",A="2",a="3"}`, `m{A="2",_a="1",a="3"}`},
	}
	for _, tt := range tests {
		k, err := Parse(tt.in, Limits{})
		if err != nil {
			t.Errorf("Parse(%q) error %v, want %q", tt.in, err, tt.want)
			continue
		}
		if k.Canonical() != tt.want {
			t.Errorf("Parse(%q) = %q, want %q", tt.in, k.Canonical(), tt.want)
		}
		if k.Hash() != HashString(tt.want) {
			t.Errorf("Parse(%q).Hash() = %x, want HashString(canonical) = %x", tt.in, k.Hash(), HashString(tt.want))
		}
		// The canonical form is a fixed point.
		k2, err := Parse(k.Canonical(), Limits{})
		if err != nil || k2 != k {
			t.Errorf("Parse(%q) = %v, %v, want the same key %v", k.Canonical(), k2, err, k)
		}
	}
}

func TestParseInvalid(t *testing.T) {
	tests := []struct {
		in   string
		code anomaly.Code
		msg  string // substring of the message
	}{
		{``, anomaly.CodeInvalidSeries, "empty"},
		{`   `, anomaly.CodeInvalidSeries, "empty"},
		{`9lives`, anomaly.CodeInvalidSeries, "metric name starts with"},
		{`{a="1"}`, anomaly.CodeInvalidSeries, "metric name starts with"},
		{`my-metric`, anomaly.CodeInvalidSeries, "invalid character '-' in metric name"},
		{`my metric`, anomaly.CodeInvalidSeries, "invalid character 'm' in metric name"},
		{`métrique`, anomaly.CodeInvalidSeries, "invalid character 'é'"},
		{`m{`, anomaly.CodeInvalidSeries, "unexpected end"},
		{`m{a`, anomaly.CodeInvalidSeries, "after label name \"a\""},
		{`m{a=`, anomaly.CodeInvalidSeries, "double-quoted value"},
		{`m{a=1}`, anomaly.CodeInvalidSeries, "double-quoted value"},
		{`m{a='1'}`, anomaly.CodeInvalidSeries, "double-quoted value"},
		{`m{a="1}`, anomaly.CodeInvalidSeries, "unterminated"},
		{`m{a="1"`, anomaly.CodeInvalidSeries, "want ',' or '}'"},
		{`m{a="1" b="2"}`, anomaly.CodeInvalidSeries, "want ',' or '}'"},
		{`m{a="1"}x`, anomaly.CodeInvalidSeries, "after the end"},
		{`m{a="1"}}`, anomaly.CodeInvalidSeries, "after the end"},
		{`m{1a="1"}`, anomaly.CodeInvalidSeries, "label name starts with"},
		{`m{a-b="1"}`, anomaly.CodeInvalidSeries, "invalid character '-' in label name \"a\""},
		{`m{a:b="1"}`, anomaly.CodeInvalidSeries, "invalid character ':' in label name"},
		{`m{,}`, anomaly.CodeInvalidSeries, "label name starts with"},
		{`m{__name__="x"}`, anomaly.CodeInvalidSeries, "reserved"},
		{`m{__a="x"}`, anomaly.CodeInvalidSeries, "reserved"},
		{`m{a="1",a="2"}`, anomaly.CodeInvalidSeries, "label \"a\" appears more than once"},
		{`m{b="1",a="2",b="3"}`, anomaly.CodeInvalidSeries, "label \"b\" appears more than once"},
		{`m{a="\t"}`, anomaly.CodeInvalidSeries, "invalid escape \\t"},
		{`m{a="\x41"}`, anomaly.CodeInvalidSeries, "invalid escape \\x"},
		{"m{a=\"bad\xffutf8\"}", anomaly.CodeInvalidSeries, "not valid UTF-8"},
		{"m{a=\"raw\nfeed\"}", anomaly.CodeInvalidSeries, "raw line feed"},
		{`m{a="\`, anomaly.CodeInvalidSeries, "unterminated"},
	}
	for _, tt := range tests {
		k, err := Parse(tt.in, Limits{})
		var ae *anomaly.Error
		if !errors.As(err, &ae) {
			t.Errorf("Parse(%q) = %v, %v, want *anomaly.Error %s", tt.in, k, err, tt.code)
			continue
		}
		if ae.Code != tt.code || !strings.Contains(ae.Message, tt.msg) {
			t.Errorf("Parse(%q) error = %s %q, want %s containing %q", tt.in, ae.Code, ae.Message, tt.code, tt.msg)
		}
	}
}

func TestParseLimits(t *testing.T) {
	lim := Limits{MaxLabels: 3, MaxNameLen: 10, MaxLabelNameLen: 5, MaxLabelValueLen: 8, MaxKeyLen: 40}
	tests := []struct {
		in   string
		code anomaly.Code // "" for valid
		msg  string
	}{
		{`abcdefghij`, "", ""},
		{`abcdefghijk`, anomaly.CodeLimit, "metric name"},
		{`m{a="1",b="2",c="3"}`, "", ""},
		{`m{a="1",b="2",c="3",d="4"}`, anomaly.CodeLimit, "more than 3 labels"},
		{`m{abcde="1"}`, "", ""},
		{`m{abcdef="1"}`, anomaly.CodeLimit, "label name"},
		{`m{a="12345678"}`, "", ""},
		{`m{a="123456789"}`, anomaly.CodeLimit, "value of label \"a\""},
		{`m{a="\"\"\"\"\"\"\"\""}`, "", ""}, // 8 bytes unescaped
		{`m{a="日本"}`, "", ""},               // 6 bytes
		{`m{a="日本語"}`, anomaly.CodeLimit, "value of label"},
		{`m{a="12345678",b="12345678",c="1234567"}`, "", ""}, // 40 bytes
		{`m{a="12345678",b="12345678",c="12345678"}`, anomaly.CodeLimit, "canonical form"},
		{strings.Repeat(" ", 81) + "m", anomaly.CodeLimit, "bytes long"},
	}
	for _, tt := range tests {
		_, err := Parse(tt.in, lim)
		if tt.code == "" {
			if err != nil {
				t.Errorf("Parse(%q, %+v) error %v, want nil", tt.in, lim, err)
			}
			continue
		}
		var ae *anomaly.Error
		if !errors.As(err, &ae) || ae.Code != tt.code || !strings.Contains(ae.Message, tt.msg) {
			t.Errorf("Parse(%q, %+v) error = %v, want %s containing %q", tt.in, lim, err, tt.code, tt.msg)
		}
	}
}

func TestDefaultLimits(t *testing.T) {
	d := DefaultLimits()
	if d != (Limits{}).withDefaults() {
		t.Errorf("Limits{}.withDefaults() = %+v, want %+v", (Limits{}).withDefaults(), d)
	}
	many := "m{"
	for i := range DefaultMaxLabels + 1 {
		many += "l" + string(rune('a'+i%26)) + string(rune('a'+i/26)) + `="v",`
	}
	many += "}"
	if _, err := Parse(many, Limits{}); anomaly.ErrorCode(err) != anomaly.CodeLimit {
		t.Errorf("Parse(%d labels) error = %v, want %s", DefaultMaxLabels+1, err, anomaly.CodeLimit)
	}
	long := "m{a=\"" + strings.Repeat("x", DefaultMaxLabelValueLen) + "\"}"
	if _, err := Parse(long, Limits{}); err != nil {
		t.Errorf("Parse(value of %d bytes) error = %v, want nil", DefaultMaxLabelValueLen, err)
	}
}

// TestHashPinned pins the hash of fixed keys: snapshots store hashes, so a
// change here breaks every persisted state.
func TestHashPinned(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
	}{
		{`up`, 0x23af5a217b078e8f},
		{`play_starts{title="81234",device="tv_sony",bitrate="3000"}`, 0xbfec1b6aa4a52896},
	}
	// The published xxhash64 test vector for the empty input (seed 0).
	if got, want := HashString(""), uint64(0xef46db3751d8e999); got != want {
		t.Errorf("HashString(\"\") = %#x, want %#x", got, want)
	}
	for _, tt := range tests {
		if got := MustParse(tt.in).Hash(); got != tt.want {
			t.Errorf("Parse(%q).Hash() = %#x, want %#x", tt.in, got, tt.want)
		}
	}
}

func TestKeyLabels(t *testing.T) {
	k := MustParse(`m{z="last",a="x\"y\\z\nw",mid="plain"}`)
	if k.Name() != "m" {
		t.Errorf("Name() = %q, want %q", k.Name(), "m")
	}
	var got []string
	for n, v := range k.Labels() {
		got = append(got, n+"="+v)
	}
	want := []string{"a=x\"y\\z\nw", "mid=plain", "z=last"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("Labels() = %q, want %q", got, want)
	}
	for name, want := range map[string]string{"a": "x\"y\\z\nw", "mid": "plain", "z": "last", "missing": "", "__name__": "m"} {
		if v := k.Label(name); v != want {
			t.Errorf("Label(%q) = %q, want %q", name, v, want)
		}
	}
	n := 0
	for range MustParse("up").Labels() {
		n++
	}
	if n != 0 {
		t.Errorf("Labels() of a series without labels yielded %d labels, want 0", n)
	}
}

func TestParseCanonicalNoAlloc(t *testing.T) {
	s := `play_starts{bitrate="3000",device="tv_sony",title="81234"}`
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := Parse(s, Limits{}); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Parse(canonical) allocs = %v, want 0", allocs)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{`up`, `m{a="1",b="2"}`, `m{b="\"",a="\\n"}`, ` m { a = "1" , } `, `m{a=""}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkFastSlow(t, s, Limits{})
		k, err := Parse(s, Limits{})
		if err != nil {
			if anomaly.ErrorCode(err) == anomaly.CodeInternal {
				t.Fatalf("Parse(%q) error without a code: %v", s, err)
			}
			return
		}
		k2, err := Parse(k.Canonical(), Limits{})
		if err != nil || k2 != k {
			t.Fatalf("Parse(Parse(%q).Canonical() = %q) = %v, %v, want the same key", s, k.Canonical(), k2, err)
		}
	})
}

// checkFastSlow fails t when parseFast takes s and returns another key
// than parseSlow, or leaves *dst changed when it does not take s.
func checkFastSlow(t *testing.T, s string, lim Limits) {
	t.Helper()
	lim = lim.withDefaults()
	var scratch [fastLabels]fastLabel
	dst := []byte("prefix")
	fast, ok := parseFast(s, &lim, &dst, scratch[:0])
	slowDst := []byte("prefix")
	slow, err := parseSlow(s, &lim, &slowDst)
	if !ok {
		if string(dst) != "prefix" {
			t.Fatalf("parseFast(%q) declined but changed dst to %q", s, dst)
		}
		return
	}
	if err != nil {
		t.Fatalf("parseFast(%q) = %q, parseSlow refuses it: %v", s, fast.Canonical(), err)
	}
	if fast != slow || string(dst) != string(slowDst) {
		t.Fatalf("parseFast(%q) = %+v (dst %q), parseSlow = %+v (dst %q)", s, fast, dst, slow, slowDst)
	}
}

// TestParseFastMatchesSlow holds the fast path to the general one on
// every text of the parse tests and on texts made of their pieces.
func TestParseFastMatchesSlow(t *testing.T) {
	texts := []string{
		`up`, `m{a="1"}`, `m{b="2",a="1"}`, `m{a="1",a="2"}`, `m{b="1",a="2",b="3"}`,
		`play_starts{title="81234",device="tv_sony",bitrate="3000"}`,
		`m{a="say \"hi\""}`, `m{a="back\\slash",B="x"}`, `m{a="line\nfeed",_="1"}`,
		`m{z="日本語",a="x"}`, "m{a=\"bad\xffutf8\"}", `m{a="{},=\" "}`, `m{_a="1",A="2",a="3"}`,
		`m{__a="1"}`, `m{_="1",__="2"}`, `m{a=""}`, `m{a="1",}`, `m{}`, `m {a="1"}`, `m{a="1"} `,
		`m{a="\t"}`, "m{a=\"tab\there\"}", "m{a=\"raw\nfeed\"}", `m{a="\`, `m{a="1"`, `m{a="1"}}`,
		`m{a="1",b="2",c="3",d="4",e="5",f="6",g="7",h="8"}`,
		`m{i="9",a="1",b="2",c="3",d="4",e="5",f="6",g="7",h="8"}`,
	}
	lims := []Limits{{}, {MaxLabels: 3, MaxNameLen: 10, MaxLabelNameLen: 5, MaxLabelValueLen: 8, MaxKeyLen: 40}}
	for _, lim := range lims {
		for _, s := range texts {
			checkFastSlow(t, s, lim)
		}
	}
	// Random texts from the pieces of series: names, labels, quotes,
	// escapes, blanks, separators.
	pieces := []string{"m", "a", "b", "B", "_", "__", "z9", ":", "{", "}", "=", `"`, `\"`, `\\`, `\n`, `\t`, ",", " ", "\n", "日", "\xff", "1", "-"}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200_000 {
		var b strings.Builder
		b.WriteString("m{")
		for range r.IntN(12) {
			b.WriteString(pieces[r.IntN(len(pieces))])
		}
		if r.IntN(2) == 0 {
			b.WriteString(`"}`)
		}
		for _, lim := range lims {
			checkFastSlow(t, b.String(), lim)
		}
	}
	// Well-formed series with shuffled labels.
	for range 50_000 {
		n := 1 + r.IntN(10)
		var b strings.Builder
		b.WriteString("metric_x{")
		for j := range n {
			if j > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `%c%c="%s"`, 'a'+rune(r.IntN(4)), 'a'+rune(r.IntN(3)), strings.Repeat("v", r.IntN(10)))
		}
		b.WriteByte('}')
		for _, lim := range lims {
			checkFastSlow(t, b.String(), lim)
		}
	}
}

// BenchmarkParse parses the series of the load harness (labels out of
// order: canonicalised) and of the engine benchmark (canonical).
func BenchmarkParse(b *testing.B) {
	for _, tt := range []struct{ name, s string }{
		{"unsorted", `play_starts{title="81234",device="tv_sony",bitrate="3000"}`},
		{"canonical", `bench_requests{host="h0012345",region="r0"}`},
	} {
		b.Run(tt.name, func(b *testing.B) {
			lim := DefaultLimits()
			var scratch [DefaultMaxLabels]fastLabel
			dst := make([]byte, 0, 1<<16)
			for range b.N {
				if len(dst) > 1<<15 {
					dst = dst[:0]
				}
				if _, err := parse(tt.s, &lim, &dst, scratch[:0]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
