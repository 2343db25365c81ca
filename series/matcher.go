package series

import (
	"regexp"
	"strings"

	"github.com/anomalyd/detector/anomaly"
)

// MatchType is the operator of a label matcher.
type MatchType uint8

const (
	MatchEqual     MatchType = iota // =
	MatchNotEqual                   // !=
	MatchRegexp                     // =~
	MatchNotRegexp                  // !~
)

func (t MatchType) String() string {
	switch t {
	case MatchEqual:
		return "="
	case MatchNotEqual:
		return "!="
	case MatchRegexp:
		return "=~"
	case MatchNotRegexp:
		return "!~"
	}
	return "?"
}

// Matcher selects series by one label, as a Prometheus selector does. A
// series without the label is matched as if its value were "". The name
// "__name__" matches the metric name. Regular expressions are anchored at
// both ends (RE2 syntax, `.` matches a line feed too).
type Matcher struct {
	Name  string
	Type  MatchType
	Value string
	re    *regexp.Regexp
}

// Matches reports whether a label value satisfies the matcher.
func (m *Matcher) Matches(v string) bool {
	switch m.Type {
	case MatchEqual:
		return v == m.Value
	case MatchNotEqual:
		return v != m.Value
	case MatchRegexp:
		return m.re.MatchString(v)
	case MatchNotRegexp:
		return !m.re.MatchString(v)
	}
	return false
}

// Matchers is a conjunction: a series matches when every matcher matches.
// The empty Matchers matches every series. Safe for concurrent use.
type Matchers []*Matcher

// Matches reports whether the series matches every matcher.
func (ms Matchers) Matches(k Key) bool {
	for _, m := range ms {
		if !m.Matches(k.Label(m.Name)) {
			return false
		}
	}
	return true
}

// ParseMatchers parses a Prometheus series selector:
//
//	{device="tv_sony", app=~"api.*"}
//	play_starts{title!="81234"}
//	play_starts
//
// with the operators =, !=, =~ and !~ and the value escapes of Parse
// (\\, \" and \n). An optional metric name before the braces means
// __name__="name". The empty string (or "{}") matches every series.
// Errors are *anomaly.Error with CodeInvalidArgument.
//
// A selector is bounded: MaxSelectorLen bytes, MaxMatchers matchers,
// regular expressions of MaxRegexLen bytes and MaxRegexCost (see
// matcherlimits.go). Compiled expressions are cached.
func ParseMatchers(s string) (Matchers, error) {
	if err := checkSelector(s); err != nil {
		return nil, err
	}
	p := parser{s: s}
	var ms Matchers
	p.skipSpace()
	start := p.i
	if p.i < len(s) && isNameStart(s[p.i]) {
		p.i++
		for p.i < len(s) && isNameChar(s[p.i]) {
			p.i++
		}
		ms = append(ms, &Matcher{Name: "__name__", Type: MatchEqual, Value: s[start:p.i]})
	}
	p.skipSpace()
	if p.i < len(s) {
		if s[p.i] != '{' {
			return nil, matcherErr(s, "unexpected %q at byte %d, want a metric name or '{'", p.rune(), p.i)
		}
		p.i++
		for {
			p.skipSpace()
			if p.i >= len(s) {
				return nil, matcherErr(s, "unexpected end at byte %d, want a label name or '}'", p.i)
			}
			if s[p.i] == '}' {
				p.i++
				break
			}
			m, err := p.matcher()
			if err != nil {
				return nil, err
			}
			if ms = append(ms, m); len(ms) > MaxMatchers {
				return nil, tooManyMatchers(s)
			}
			p.skipSpace()
			if p.i >= len(s) {
				return nil, matcherErr(s, "unexpected end at byte %d, want ',' or '}'", p.i)
			}
			switch s[p.i] {
			case ',':
				p.i++
			case '}':
			default:
				return nil, matcherErr(s, "unexpected %q at byte %d, want ',' or '}'", p.rune(), p.i)
			}
		}
		p.skipSpace()
		if p.i < len(s) {
			return nil, matcherErr(s, "unexpected %q at byte %d after '}'", p.rune(), p.i)
		}
	}
	return ms, nil
}

func matcherErr(s, format string, args ...any) *anomaly.Error {
	e := anomaly.Errorf(anomaly.CodeInvalidArgument, format, args...)
	e.Message = "matcher " + clip(s) + ": " + e.Message
	return e
}

func (p *parser) matcher() (*Matcher, error) {
	s := p.s
	start := p.i
	if !isLabelStart(s[p.i]) {
		return nil, matcherErr(s, "invalid character %q at byte %d, a label name starts with a letter or '_'", p.rune(), p.i)
	}
	for p.i < len(s) && isLabelChar(s[p.i]) {
		p.i++
	}
	m := &Matcher{Name: s[start:p.i]}
	p.skipSpace()
	switch {
	case strings.HasPrefix(s[p.i:], "=~"):
		m.Type, p.i = MatchRegexp, p.i+2
	case strings.HasPrefix(s[p.i:], "!~"):
		m.Type, p.i = MatchNotRegexp, p.i+2
	case strings.HasPrefix(s[p.i:], "!="):
		m.Type, p.i = MatchNotEqual, p.i+2
	case strings.HasPrefix(s[p.i:], "="):
		m.Type, p.i = MatchEqual, p.i+1
	default:
		if p.i >= len(s) {
			return nil, matcherErr(s, "unexpected end after label name %q, want =, !=, =~ or !~", m.Name)
		}
		return nil, matcherErr(s, "unexpected %q at byte %d after label name %q, want =, !=, =~ or !~", p.rune(), p.i, m.Name)
	}
	p.skipSpace()
	raw, _, err := p.value(m.Name)
	if err != nil {
		// Re-code the series error as an argument error.
		e := err.(*anomaly.Error)
		return nil, matcherErr(s, "%s", strings.TrimPrefix(e.Message, "series "+clip(s)+": "))
	}
	m.Value = raw
	if strings.IndexByte(raw, '\\') >= 0 {
		m.Value = unescape(raw)
	}
	if m.Type == MatchRegexp || m.Type == MatchNotRegexp {
		re, err := compileMatcherRegexp(s, m.Name, m.Value)
		if err != nil {
			return nil, err
		}
		m.re = re
	}
	return m, nil
}
