package series

import (
	"fmt"
	"iter"
	"slices"
	"strings"
	"unicode/utf8"
	"unsafe"

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
	var scratch [fastLabels]fastLabel
	return parse(s, &lim, nil, scratch[:0])
}

// fastLabels is the number of labels parseFast handles with Parse's
// scratch space; a request's scratch (see request.labels) holds
// DefaultMaxLabels.
const fastLabels = 8

// parse is Parse with lim's defaults filled in. When s is not canonical and
// dst is not nil, the canonical form is appended to *dst and the Key's text
// shares those bytes (valid until the caller reuses *dst; bytes already in
// *dst are never changed), and its hash is left zero for the caller to
// fill in with HashString once it has written a run of keys: the hash of
// bytes just written waits for their stores (in the server, 80 ns of a
// 165 ns parse; hashed after the chunk's parse, the hash took 8 ns and the
// parse as a whole 15% less). With a nil dst the canonical form is a new
// string. scratch (len 0) is room for the labels of the fast path: series
// written without blanks, escapes only in values and no empty value, with
// at most cap(scratch) labels (parseFast); every other text, and every
// invalid one, takes the general path (parseSlow), which alone makes
// errors.
func parse(s string, lim *Limits, dst *[]byte, scratch []fastLabel) (Key, error) {
	if len(s) > 2*lim.MaxKeyLen {
		return Key{}, anomaly.Errorf(anomaly.CodeLimit, "series is %d bytes long, limit is %d", len(s), lim.MaxKeyLen)
	}
	if k, ok := parseFast(s, lim, dst, scratch); ok {
		return k, nil
	}
	return parseSlow(s, lim, dst)
}

// Character classes of series text, for parseFast.
const (
	cNameStart  = 1 << iota // [a-zA-Z_:]
	cName                   // [a-zA-Z0-9_:]
	cLabelStart             // [a-zA-Z_]
	cLabel                  // [a-zA-Z0-9_]
	cPlain                  // a byte a value holds as it is: ASCII but '"', '\\' and line feed
)

var charClass = func() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		b := byte(c)
		if isNameStart(b) {
			t[c] |= cNameStart
		}
		if isNameChar(b) {
			t[c] |= cName
		}
		if isLabelStart(b) {
			t[c] |= cLabelStart
		}
		if isLabelChar(b) {
			t[c] |= cLabel
		}
		if c < 0x80 && b != '"' && b != '\\' && b != '\n' {
			t[c] |= cPlain
		}
	}
	return t
}()

// fastLabel is a label as parseFast found it: its text `name="value"`,
// as written and as the canonical form holds it, and the length of the
// name.
type fastLabel struct {
	text    string
	nameLen int
}

func (l *fastLabel) name() string { return l.text[:l.nameLen] }

// parseFast parses the common form of a series in one pass: `name` or
// `name{l="v",...}` with no blanks, no trailing comma, no empty value, at
// most cap(ls) labels and every limit of lim met. It returns ok false,
// having changed nothing (*dst included), for any other text, valid or
// not: parseSlow then decides, and makes the error. Where it returns a
// Key, it is the one parseSlow returns.
func parseFast(s string, lim *Limits, dst *[]byte, ls []fastLabel) (_ Key, ok bool) {
	if len(s) == 0 || charClass[s[0]]&cNameStart == 0 {
		return Key{}, false
	}
	i := 1
	for i < len(s) && charClass[s[i]]&cName != 0 {
		i++
	}
	nameLen := i
	if nameLen > lim.MaxNameLen {
		return Key{}, false
	}
	if i == len(s) {
		if len(s) > lim.MaxKeyLen {
			return Key{}, false
		}
		return Key{canonical: s, hash: xxhash.Sum64String(s), nameLen: nameLen}, true
	}
	if s[i] != '{' {
		return Key{}, false
	}
	i++
	sorted := true
	size := nameLen + 1 // the canonical form's: name, braces, commas and labels
	for {
		// A label name.
		if i >= len(s) || charClass[s[i]]&cLabelStart == 0 {
			return Key{}, false
		}
		ns := i
		for i++; i < len(s) && charClass[s[i]]&cLabel != 0; i++ {
		}
		name := s[ns:i]
		if len(name) > lim.MaxLabelNameLen || len(name) > 1 && name[0] == '_' && name[1] == '_' {
			return Key{}, false
		}
		if i+1 >= len(s) || s[i] != '=' || s[i+1] != '"' {
			return Key{}, false
		}
		i += 2
		// Its value, up to the closing quote.
		vs, escapes, high := i, 0, false
		for {
			for i < len(s) && charClass[s[i]]&cPlain != 0 {
				i++
			}
			if i >= len(s) {
				return Key{}, false
			}
			switch c := s[i]; {
			case c == '"':
			case c == '\\':
				if i+1 >= len(s) {
					return Key{}, false
				}
				switch s[i+1] {
				case '\\', '"', 'n':
				default:
					return Key{}, false
				}
				i += 2
				escapes++
				continue
			case c >= 0x80:
				high = true
				i++
				continue
			default: // a raw line feed
				return Key{}, false
			}
			break
		}
		raw := s[vs:i]
		i++ // the closing quote
		if len(raw) == 0 || len(raw)-escapes > lim.MaxLabelValueLen || high && !utf8.ValidString(raw) {
			return Key{}, false
		}
		n := len(ls)
		if n == cap(ls) || n == lim.MaxLabels {
			return Key{}, false
		}
		if n > 0 && !nameLess(ls[n-1].name(), name) {
			sorted = false
		}
		ls = append(ls, fastLabel{text: s[ns:i], nameLen: len(name)})
		size += i - ns + 1 // name="raw" and the comma or brace before it
		if i >= len(s) {
			return Key{}, false
		}
		if s[i] == ',' {
			i++
			continue
		}
		if s[i] != '}' || i+1 != len(s) {
			return Key{}, false
		}
		break
	}
	if sorted {
		if len(s) > lim.MaxKeyLen {
			return Key{}, false
		}
		return Key{canonical: s, hash: xxhash.Sum64String(s), nameLen: nameLen}, true
	}
	for j := 1; j < len(ls); j++ {
		for k := j; k > 0 && nameLess(ls[k].name(), ls[k-1].name()); k-- {
			ls[k], ls[k-1] = ls[k-1], ls[k]
		}
	}
	for j := 1; j < len(ls); j++ {
		if ls[j].name() == ls[j-1].name() {
			return Key{}, false
		}
	}
	if size > lim.MaxKeyLen {
		return Key{}, false
	}
	var b []byte
	if dst != nil {
		start := len(*dst)
		*dst = slices.Grow(*dst, size)[:start+size]
		b = (*dst)[start:]
	} else {
		b = make([]byte, size)
	}
	w := copy(b, s[:nameLen])
	sep := byte('{')
	for _, l := range ls {
		b[w] = sep
		sep = ','
		w++
		w += copy(b[w:], l.text)
	}
	b[w] = '}'
	out := unsafe.String(unsafe.SliceData(b), len(b))
	if dst != nil {
		return Key{canonical: out, nameLen: nameLen}, true // hashed by the caller (parse)
	}
	return Key{canonical: out, hash: xxhash.Sum64String(out), nameLen: nameLen}, true
}

// nameLess reports whether label name a sorts before b. Names are not
// empty; most differ in their first byte, compared here without a call.
func nameLess(a, b string) bool {
	if a[0] != b[0] {
		return a[0] < b[0]
	}
	return a < b
}

// parseSlow is parse for any text: it accepts blanks, trailing commas and
// empty values, and makes every error.
func parseSlow(s string, lim *Limits, dst *[]byte) (Key, error) {
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
			l, err := p.label(lim)
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
	out, inDst := s, false
	if !canonical {
		if dst != nil {
			start := len(*dst)
			*dst = appendBuild(*dst, name, labels)
			if n := len(*dst) - start; n > lim.MaxKeyLen {
				*dst = (*dst)[:start]
				return Key{}, anomaly.Errorf(anomaly.CodeLimit, "series is %d bytes long in canonical form, limit is %d", n, lim.MaxKeyLen)
			}
			b := (*dst)[start:]
			out, inDst = unsafe.String(unsafe.SliceData(b), len(b)), true
		} else {
			out = build(name, labels)
		}
	}
	if len(out) > lim.MaxKeyLen {
		return Key{}, anomaly.Errorf(anomaly.CodeLimit, "series is %d bytes long in canonical form, limit is %d", len(out), lim.MaxKeyLen)
	}
	if inDst {
		return Key{canonical: out, nameLen: len(name)}, nil // hashed by the caller (parse)
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
	b := appendBuild(make([]byte, 0, n), name, labels)
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// appendBuild appends the canonical form of name and its sorted labels to
// dst.
func appendBuild(dst []byte, name string, labels []label) []byte {
	dst = append(dst, name...)
	first := true
	for _, l := range labels {
		if l.raw == "" {
			continue
		}
		if first {
			dst = append(dst, '{')
			first = false
		} else {
			dst = append(dst, ',')
		}
		dst = append(dst, l.name...)
		dst = append(dst, '=', '"')
		dst = append(dst, l.raw...)
		dst = append(dst, '"')
	}
	if !first {
		dst = append(dst, '}')
	}
	return dst
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
