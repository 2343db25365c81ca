package series

import (
	"fmt"
	"iter"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/cespare/xxhash/v2"

	"github.com/anomalyd/detector/anomaly"
)

// Default limits on series identity. They bound the memory one series key
// may take and the work one parse may do; `detector serve` exposes each as a
// flag.
const (
	DefaultMaxLabels        = 32   // labels per series, as written
	DefaultMaxNameLen       = 256  // bytes of the metric name
	DefaultMaxLabelNameLen  = 128  // bytes of one label name
	DefaultMaxLabelValueLen = 1024 // bytes of one label value, unescaped
	DefaultMaxKeyLen        = 4096 // bytes of the canonical form
)

// Limits bounds the size of series keys. A zero field means "use the
// default" (see DefaultLimits); there is no way to switch a limit off.
type Limits struct {
	MaxLabels        int // labels per series, counted as written
	MaxNameLen       int // bytes of the metric name
	MaxLabelNameLen  int // bytes of one label name
	MaxLabelValueLen int // bytes of one label value after unescaping
	// MaxKeyLen bounds the canonical form. Input text longer than
	// 2*MaxKeyLen (extra room for whitespace) is rejected before parsing.
	MaxKeyLen int
}

// DefaultLimits returns the limits `detector serve` runs with: 32 labels, a
// 256-byte metric name, 128-byte label names, 1024-byte label values and a
// 4096-byte canonical key.
func DefaultLimits() Limits {
	return Limits{
		MaxLabels:        DefaultMaxLabels,
		MaxNameLen:       DefaultMaxNameLen,
		MaxLabelNameLen:  DefaultMaxLabelNameLen,
		MaxLabelValueLen: DefaultMaxLabelValueLen,
		MaxKeyLen:        DefaultMaxKeyLen,
	}
}

// withDefaults fills zero fields with the defaults.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxLabels <= 0 {
		l.MaxLabels = d.MaxLabels
	}
	if l.MaxNameLen <= 0 {
		l.MaxNameLen = d.MaxNameLen
	}
	if l.MaxLabelNameLen <= 0 {
		l.MaxLabelNameLen = d.MaxLabelNameLen
	}
	if l.MaxLabelValueLen <= 0 {
		l.MaxLabelValueLen = d.MaxLabelValueLen
	}
	if l.MaxKeyLen <= 0 {
		l.MaxKeyLen = d.MaxKeyLen
	}
	return l
}

// Key is the identity of a series: its canonical text and the 64-bit hash
// of that text. The zero Key is invalid. Keys are small values, safe to copy
// and to share between goroutines.
type Key struct {
	canonical string
	hash      uint64
	nameLen   int
}

// Canonical returns the series in canonical Prometheus text form: the metric
// name, then the labels sorted by name in braces (`name{a="x",b="y"}`), with
// values escaped as \\, \" and \n, no whitespace and no empty-valued labels.
// A series without labels is just its name.
func (k Key) Canonical() string { return k.canonical }

// String returns the canonical form.
func (k Key) String() string { return k.canonical }

// Hash returns xxhash64 of the canonical form. It is stable across processes
// and releases (snapshots rely on it) and is the series' identity inside the
// engine.
func (k Key) Hash() uint64 { return k.hash }

// Name returns the metric name.
func (k Key) Name() string { return k.canonical[:k.nameLen] }

// IsZero reports whether k is the zero Key.
func (k Key) IsZero() bool { return k.canonical == "" }

// HashString returns the hash of a canonical series text, as Key.Hash does.
func HashString(canonical string) uint64 { return xxhash.Sum64String(canonical) }

// keyFromCanonical rebuilds a Key from a canonical text the engine stored.
func keyFromCanonical(s string, h uint64) Key {
	n := strings.IndexByte(s, '{')
	if n < 0 {
		n = len(s)
	}
	return Key{canonical: s, hash: h, nameLen: n}
}

// Labels iterates over the labels in name order with their values
// unescaped. Values without escapes are substrings of the canonical form;
// only escaped values allocate.
func (k Key) Labels() iter.Seq2[string, string] {
	return func(yield func(string, string) bool) {
		s := k.canonical[k.nameLen:]
		if len(s) < 2 {
			return
		}
		s = s[1 : len(s)-1] // strip braces
		for len(s) > 0 {
			eq := strings.IndexByte(s, '=')
			name := s[:eq]
			s = s[eq+2:] // skip ="
			end, escaped := 0, false
			for end < len(s) && s[end] != '"' {
				if s[end] == '\\' {
					escaped = true
					end++
				}
				end++
			}
			v := s[:end]
			if escaped {
				v = unescape(v)
			}
			if !yield(name, v) {
				return
			}
			s = s[end+1:]
			if len(s) > 0 && s[0] == ',' {
				s = s[1:]
			}
		}
	}
}

// Label returns the value of the named label, or "" when the series has no
// such label (Prometheus treats the two alike). The name "__name__" returns
// the metric name.
func (k Key) Label(name string) string {
	if name == "__name__" {
		return k.Name()
	}
	for n, v := range k.Labels() {
		if n == name {
			return v
		}
		if n > name {
			break
		}
	}
	return ""
}

func unescape(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' && i+1 < len(s) {
			i++
			switch s[i] {
			case 'n':
				c = '\n'
			default:
				c = s[i]
			}
		}
		b.WriteByte(c)
	}
	return b.String()
}

// label is one parsed label: its name and its value as escaped in the input
// (always the canonical escaping, see scanValue).
type label struct {
	name, raw string
}

// Parse parses and validates a series written as Prometheus writes it:
//
//	name
//	name{label="value", other="x"}
//
// Whitespace is allowed around tokens; a trailing comma inside the braces
// is allowed. Values are double-quoted, with \" \\ and \n the only escapes;
// a raw line feed must be escaped. The rules are Prometheus' (classic, not
// UTF-8, names):
//   - metric name: [a-zA-Z_:][a-zA-Z0-9_:]*
//   - label name: [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__" (reserved)
//   - a label name appears at most once; values are valid UTF-8
//   - a label with an empty value is the same as no label and is dropped
//     from the canonical form
//
// Errors are *anomaly.Error with CodeInvalidSeries for malformed text and
// CodeLimit for text over one of lim's limits (zero fields of lim take the
// defaults); the message names the offending part and byte offset.
//
// Parse does not allocate when s is already canonical; otherwise it
// allocates the canonical string.
func Parse(s string, lim Limits) (Key, error) {
	lim = lim.withDefaults()
	if len(s) > 2*lim.MaxKeyLen {
		return Key{}, anomaly.Errorf(anomaly.CodeLimit, "series is %d bytes long, limit is %d", len(s), lim.MaxKeyLen)
	}
	p := parser{s: s}
	var stack [DefaultMaxLabels]label
	labels := stack[:0]

	p.skipSpace()
	start := p.i
	if p.i < len(s) && isNameStart(s[p.i]) {
		p.i++
		for p.i < len(s) && isNameChar(s[p.i]) {
			p.i++
		}
	}
	name := s[start:p.i]
	if name == "" {
		if p.i >= len(s) {
			return Key{}, p.errf("series is empty, want a metric name")
		}
		return Key{}, p.errf("invalid character %q at byte %d, a metric name starts with a letter, '_' or ':'", p.rune(), p.i)
	}
	if len(name) > lim.MaxNameLen {
		return Key{}, anomaly.Errorf(anomaly.CodeLimit, "metric name %s is %d bytes long, limit is %d", clip(name), len(name), lim.MaxNameLen)
	}
	canonical := start == 0
	if p.skipSpace() {
		canonical = false // `name {` and a trailing blank are not canonical
	}
	if p.i < len(s) && s[p.i] != '{' {
		return Key{}, p.errf("invalid character %q in metric name %s at byte %d, want [a-zA-Z0-9_:] or '{'", p.rune(), clip(name), p.i)
	}
	braces := p.i < len(s)
	if braces {
		p.i++ // '{'
		for {
			ws := p.skipSpace()
			if p.i >= len(s) {
				return Key{}, p.errf("unexpected end of series at byte %d, want a label name or '}'", p.i)
			}
			if s[p.i] == '}' {
				p.i++
				// `name{}` and a trailing comma are not canonical.
				if ws || len(labels) == 0 || s[p.i-2] == ',' {
					canonical = false
				}
				break
			}
			at := p.i // where the label starts, to spot blanks around '='
			if ws {
				canonical = false
			}
			l, err := p.label(&lim)
			if err != nil {
				return Key{}, err
			}
			if p.i-at != len(l.name)+len(l.raw)+3 {
				canonical = false // blanks around '='
			}
			if len(labels) == lim.MaxLabels {
				return Key{}, anomaly.Errorf(anomaly.CodeLimit, "series has more than %d labels", lim.MaxLabels)
			}
			if l.raw == "" {
				canonical = false
			}
			if n := len(labels); n > 0 && labels[n-1].name >= l.name {
				canonical = false
			}
			labels = append(labels, l)
			if p.skipSpace() {
				canonical = false
			}
			if p.i >= len(s) {
				return Key{}, p.errf("unexpected end of series at byte %d, want ',' or '}'", p.i)
			}
			switch s[p.i] {
			case ',':
				p.i++
			case '}':
			default:
				return Key{}, p.errf("unexpected %q at byte %d after the value of label %q, want ',' or '}'", p.rune(), p.i, l.name)
			}
		}
	}
	if p.skipSpace() {
		canonical = false
	}
	if p.i < len(s) {
		return Key{}, p.errf("unexpected %q at byte %d after the end of the series", p.rune(), p.i)
	}

	if !canonical {
		sortLabels(labels)
	}
	for i := 1; i < len(labels); i++ {
		if labels[i].name == labels[i-1].name {
			return Key{}, anomaly.Errorf(anomaly.CodeInvalidSeries, "label %q appears more than once in series %s", labels[i].name, clip(s))
		}
	}
	out := s
	if !canonical {
		out = build(name, labels)
	}
	if len(out) > lim.MaxKeyLen {
		return Key{}, anomaly.Errorf(anomaly.CodeLimit, "series is %d bytes long in canonical form, limit is %d", len(out), lim.MaxKeyLen)
	}
	return Key{canonical: out, hash: xxhash.Sum64String(out), nameLen: len(name)}, nil
}

// MustParse is Parse with the default limits that panics on error, for
// tests and constants.
func MustParse(s string) Key {
	k, err := Parse(s, Limits{})
	if err != nil {
		panic(err)
	}
	return k
}

func sortLabels(ls []label) {
	if len(ls) <= 16 {
		for i := 1; i < len(ls); i++ {
			for j := i; j > 0 && ls[j].name < ls[j-1].name; j-- {
				ls[j], ls[j-1] = ls[j-1], ls[j]
			}
		}
		return
	}
	slices.SortStableFunc(ls, func(a, b label) int { return strings.Compare(a.name, b.name) })
}

func build(name string, labels []label) string {
	n := len(name) + 2
	for _, l := range labels {
		n += len(l.name) + len(l.raw) + 4
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteString(name)
	first := true
	for _, l := range labels {
		if l.raw == "" {
			continue
		}
		if first {
			b.WriteByte('{')
			first = false
		} else {
			b.WriteByte(',')
		}
		b.WriteString(l.name)
		b.WriteString(`="`)
		b.WriteString(l.raw)
		b.WriteByte('"')
	}
	if !first {
		b.WriteByte('}')
	}
	return b.String()
}

type parser struct {
	s string
	i int
}

// skipSpace skips ASCII whitespace and reports whether it skipped any.
func (p *parser) skipSpace() bool {
	j := p.i
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
			continue
		}
		break
	}
	return p.i > j
}

func (p *parser) rune() rune {
	r, _ := utf8.DecodeRuneInString(p.s[p.i:])
	return r
}

func (p *parser) errf(format string, args ...any) *anomaly.Error {
	return anomaly.Errorf(anomaly.CodeInvalidSeries, "series %s: %s", clip(p.s), fmt.Sprintf(format, args...))
}

// label parses `name = "value"` at p.i.
func (p *parser) label(lim *Limits) (label, error) {
	s := p.s
	start := p.i
	if !isLabelStart(s[p.i]) {
		return label{}, p.errf("invalid character %q at byte %d, a label name starts with a letter or '_'", p.rune(), p.i)
	}
	p.i++
	for p.i < len(s) && isLabelChar(s[p.i]) {
		p.i++
	}
	name := s[start:p.i]
	if len(name) > lim.MaxLabelNameLen {
		return label{}, anomaly.Errorf(anomaly.CodeLimit, "label name %s is %d bytes long, limit is %d", clip(name), len(name), lim.MaxLabelNameLen)
	}
	if strings.HasPrefix(name, "__") {
		return label{}, p.errf("label name %q is reserved (names starting with \"__\" are for internal use)", name)
	}
	sp := p.skipSpace()
	if p.i >= len(s) {
		return label{}, p.errf("unexpected end of series after label name %q, want '='", name)
	}
	if s[p.i] != '=' {
		if sp {
			return label{}, p.errf("unexpected %q at byte %d after label name %q, want '='", p.rune(), p.i, name)
		}
		return label{}, p.errf("invalid character %q in label name %q at byte %d, want [a-zA-Z0-9_] or '='", p.rune(), name, p.i)
	}
	p.i++
	p.skipSpace()
	raw, n, err := p.value(name)
	if err != nil {
		return label{}, err
	}
	if n > lim.MaxLabelValueLen {
		return label{}, anomaly.Errorf(anomaly.CodeLimit, "value of label %q is %d bytes long, limit is %d", name, n, lim.MaxLabelValueLen)
	}
	return label{name: name, raw: raw}, nil
}

// value parses a double-quoted value at p.i and returns its escaped text
// (between the quotes) and its unescaped length. The only escapes are \\,
// \" and \n, and a raw line feed is rejected, so the escaped text is already
// in canonical form.
func (p *parser) value(name string) (raw string, n int, err error) {
	s := p.s
	if p.i >= len(s) || s[p.i] != '"' {
		if p.i >= len(s) {
			return "", 0, p.errf("unexpected end of series, want the double-quoted value of label %q", name)
		}
		return "", 0, p.errf("unexpected %q at byte %d, want the double-quoted value of label %q", p.rune(), p.i, name)
	}
	p.i++
	start := p.i
	for p.i < len(s) {
		c := s[p.i]
		switch {
		case c == '"':
			raw = s[start:p.i]
			p.i++
			if !utf8.ValidString(raw) {
				return "", 0, p.errf("value of label %q is not valid UTF-8", name)
			}
			return raw, n, nil
		case c == '\\':
			if p.i+1 >= len(s) {
				return "", 0, p.errf("unterminated value of label %q", name)
			}
			switch s[p.i+1] {
			case '\\', '"', 'n':
			default:
				return "", 0, p.errf("invalid escape \\%c at byte %d in value of label %q (allowed: \\\\ \\\" \\n)", s[p.i+1], p.i, name)
			}
			p.i += 2
		case c == '\n':
			return "", 0, p.errf("raw line feed in value of label %q at byte %d, write it as \\n", name, p.i)
		default:
			p.i++
		}
		n++
	}
	return "", 0, p.errf("unterminated value of label %q, want a closing '\"'", name)
}

func isNameStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == ':'
}
func isNameChar(c byte) bool   { return isNameStart(c) || c >= '0' && c <= '9' }
func isLabelStart(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' }
func isLabelChar(c byte) bool  { return isLabelStart(c) || c >= '0' && c <= '9' }

// clip quotes s for an error message, shortened to at most 80 bytes.
func clip(s string) string {
	const max = 80
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return fmt.Sprintf("%q...", s[:cut])
	}
	return fmt.Sprintf("%q", s)
}
