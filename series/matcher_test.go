package series

import (
	"errors"
	"strings"
	"testing"

	"github.com/anomalyd/detector/anomaly"
)

func TestMatchers(t *testing.T) {
	series := []string{
		`play_starts{app="api-gw",device="tv_sony",title="1"}`,
		`play_starts{app="web",device="tv_lg",title="2"}`,
		`play_starts{device="phone"}`,
		`errors{app="api",device="tv_sony"}`,
		`errors{app="api\nv2"}`,
		`up`,
	}
	tests := []struct {
		sel  string
		want []int // indices into series
	}{
		{``, []int{0, 1, 2, 3, 4, 5}},
		{`{}`, []int{0, 1, 2, 3, 4, 5}},
		{`  { }  `, []int{0, 1, 2, 3, 4, 5}},
		{`up`, []int{5}},
		{`play_starts`, []int{0, 1, 2}},
		{`{device="tv_sony"}`, []int{0, 3}},
		{`play_starts{device="tv_sony"}`, []int{0}},
		{`{device!="tv_sony"}`, []int{1, 2, 4, 5}},
		{`{app=~"api.*"}`, []int{0, 3, 4}},
		{`{app=~"api"}`, []int{3}}, // anchored
		{`{app=~"pi"}`, []int{}},   // anchored at the start too
		{`{app=~"api.v2"}`, []int{4}},
		{`{app="api\nv2"}`, []int{4}},
		{`{app!~"api.*"}`, []int{1, 2, 5}},
		{`{app=""}`, []int{2, 5}},
		{`{app!=""}`, []int{0, 1, 3, 4}},
		{`{device=~"tv_.*", app=~"api.*"}`, []int{0, 3}},
		{`{device=~"tv_.*",app=~"api.*",}`, []int{0, 3}},
		{`{__name__=~"play.*|up"}`, []int{0, 1, 2, 5}},
		{`{__name__!="play_starts", device="tv_sony"}`, []int{3}},
		{`{title=~"1|2"}`, []int{0, 1}},
	}
	for _, tt := range tests {
		ms, err := ParseMatchers(tt.sel)
		if err != nil {
			t.Errorf("ParseMatchers(%q) error %v", tt.sel, err)
			continue
		}
		got := []int{}
		for i, s := range series {
			if ms.Matches(MustParse(s)) {
				got = append(got, i)
			}
		}
		if !equalInts(got, tt.want) {
			t.Errorf("ParseMatchers(%q) matches %v, want %v", tt.sel, got, tt.want)
		}
	}
}

func TestParseMatchersInvalid(t *testing.T) {
	tests := []struct{ sel, msg string }{
		{`{`, "unexpected end"},
		{`{a}`, "want =, !=, =~ or !~"},
		{`{a=}`, "double-quoted value"},
		{`{a==b}`, "double-quoted value"},
		{`{a=="b"}`, "double-quoted value"},
		{`{a<"b"}`, "want =, !=, =~ or !~"},
		{`{a="b"`, "want ',' or '}'"},
		{`{a="b" c="d"}`, "want ',' or '}'"},
		{`{a=~"("}`, "invalid regular expression"},
		{`{a="b"}x`, "after '}'"},
		{`9m`, "want a metric name or '{'"},
		{`m x`, "want a metric name or '{'"},
		{`{1a="b"}`, "label name starts with"},
		{`{a="\q"}`, "invalid escape"},
	}
	for _, tt := range tests {
		ms, err := ParseMatchers(tt.sel)
		var ae *anomaly.Error
		if !errors.As(err, &ae) || ae.Code != anomaly.CodeInvalidArgument || !strings.Contains(ae.Message, tt.msg) {
			t.Errorf("ParseMatchers(%q) = %v, %v, want %s containing %q", tt.sel, ms, err, anomaly.CodeInvalidArgument, tt.msg)
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func FuzzParseMatchers(f *testing.F) {
	for _, s := range []string{`{a="b"}`, `m{a=~"x.*",b!="c"}`, `{}`, ``} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ms, err := ParseMatchers(s)
		if err != nil {
			if anomaly.ErrorCode(err) != anomaly.CodeInvalidArgument {
				t.Fatalf("ParseMatchers(%q) error code %s, want %s", s, anomaly.ErrorCode(err), anomaly.CodeInvalidArgument)
			}
			return
		}
		ms.Matches(MustParse(`m{a="b"}`))
	})
}
