package series

import "testing"

// Blanks after the metric name and around '=' are not part of the
// canonical form: every spelling of a series is one series, and the
// canonical text always reads back as labels.
func TestParseDropsBlanks(t *testing.T) {
	cases := []struct{ in, want string }{
		{"A   ", "A"},
		{`a {b="c"}`, `a{b="c"}`},
		{`a{b = "c"}`, `a{b="c"}`},
		{`a{b= "c",d ="e"}`, `a{b="c",d="e"}`},
		{"\ta\n", "a"},
	}
	for _, c := range cases {
		k, err := Parse(c.in, Limits{})
		if err != nil || k.Canonical() != c.want || k.Hash() != HashString(c.want) {
			t.Errorf("Parse(%q) = %q, %v; want %q", c.in, k.Canonical(), err, c.want)
			continue
		}
		for range k.Labels() {
		}
		_ = k.Label("b")
	}
}
