package api

import (
	"bytes"
	"sync"

	"github.com/go-json-experiment/json/jsontext"
)

// The request bodies are read by one validating pass (scanner) that finds
// the members of the top-level object and, for ingest, decodes the points
// as it goes: nothing is validated twice and no point allocates.
//
// Why a hand-written pass for the flat part and a library for the rest:
// the hot path is one shape, an array of flat objects of strings and
// numbers, and a loop specialised to it validates and decodes it at
// several times the speed of a general tokenizer. Measured on this
// service's points (api/decode_timing_test.go and README, Performance):
// encoding/json's Valid alone ~2.3 M points/s, jsontext (the tokenizer of
// encoding/json/v2, github.com/go-json-experiment/json) ~2 M, valyala/
// fastjson's tree parser ~3.7 M but it is not a validator (it accepts
// invalid escapes, control characters and NaN), goccy/go-json decodes only
// into types, which cannot keep the per-point errors of a partly valid
// batch. Everything outside that shape (nested objects and arrays, in the
// points or in any other body) is validated by jsontext, the maintained
// strict RFC 8259 tokenizer, with encoding/json's settings (duplicate names
// and invalid UTF-8 allowed, depth 10000). Error messages still come from
// encoding/json, run only on a body this pass refused.

// maxNestingDepth is encoding/json's limit of nested arrays and objects.
const maxNestingDepth = 10000

// scanner is a validating cursor over a JSON text. After a method returns
// false the text is not valid JSON (ok is false); what the cursor then
// points at is unspecified.
type scanner struct {
	b     []byte
	i     int
	depth int // arrays and objects open around the cursor
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek returns the byte at the cursor, 0 at the end.
func (s *scanner) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// strSafe marks the bytes a JSON string holds as they are: not the quote,
// the backslash or a control character. Bytes of 0x80 and more (UTF-8,
// valid or not, as encoding/json accepts) are safe.
var strSafe = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// str reads the string at the cursor (which is at its opening quote) and
// reports whether it holds an escape.
func (s *scanner) str() (esc, ok bool) {
	b, i := s.b, s.i+1
	for {
		for i < len(b) && strSafe[b[i]] {
			i++
		}
		if i >= len(b) {
			return false, false
		}
		switch b[i] {
		case '"':
			s.i = i + 1
			return esc, true
		case '\\':
			esc = true
			if i+1 >= len(b) {
				return false, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if hex4(b[i+2:]) < 0 {
					return false, false
				}
				i += 6
			default:
				return false, false
			}
		default: // a control character
			return false, false
		}
	}
}

// num reads the number at the cursor: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) num() bool {
	b, i := s.b, s.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i++; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		}
	default:
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return false
		}
		for i++; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return false
		}
		for i++; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		}
	}
	s.i = i
	return true
}

// lit reads the literal word at the cursor.
func (s *scanner) lit(word string) bool {
	if !bytes.HasPrefix(s.b[s.i:], []byte(word)) {
		return false
	}
	s.i += len(word)
	return true
}

// value reads any JSON value at the cursor (leading space already
// skipped). Arrays and objects are handed to jsontext.
func (s *scanner) value() bool {
	switch c := s.peek(); c {
	case '"':
		_, ok := s.str()
		return ok
	case '{', '[':
		return s.container()
	case 't':
		return s.lit("true")
	case 'f':
		return s.lit("false")
	case 'n':
		return s.lit("null")
	default:
		return s.num()
	}
}

// delegate is a jsontext decoder reading straight from a body's bytes.
type delegate struct {
	buf bytes.Buffer
	dec *jsontext.Decoder
}

var delegates = sync.Pool{New: func() any {
	d := new(delegate)
	d.dec = jsontext.NewDecoder(&d.buf)
	return d
}}

// container validates the array or object at the cursor with jsontext,
// with encoding/json's rules: duplicate names and invalid UTF-8 allowed,
// at most maxNestingDepth levels counting those around the cursor.
func (s *scanner) container() bool {
	d := delegates.Get().(*delegate)
	defer delegates.Put(d)
	d.buf = *bytes.NewBuffer(s.b[s.i:]) // read in place, not copied
	d.dec.Reset(&d.buf, jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
	v, err := d.dec.ReadValue()
	end := s.i + int(d.dec.InputOffset())
	d.buf = bytes.Buffer{}
	d.dec.Reset(&d.buf) // drop the reference to the body
	if err != nil {
		return false
	}
	// A value nested k deep is at least 2k bytes: count only when it may
	// reach the limit with the levels around it.
	if s.depth > 0 && len(v) >= 2*(maxNestingDepth-s.depth) && s.depth+nesting(v) > maxNestingDepth {
		return false
	}
	s.i = end
	return true
}

// nesting returns the deepest nesting of arrays and objects in the valid
// JSON value v.
func nesting(v []byte) int {
	depth, most := 0, 0
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '"':
			for i++; i < len(v) && v[i] != '"'; i++ {
				if v[i] == '\\' {
					i++
				}
			}
		case '{', '[':
			depth++
			most = max(most, depth)
		case '}', ']':
			depth--
		}
	}
	return most
}

// end reports whether only white space is left.
func (s *scanner) end() bool {
	s.ws()
	return s.i == len(s.b)
}

// members reads the object at the cursor, calling member with the span of
// each raw key (quotes included) once the cursor is on its value; member
// must read the value. It reports whether the object is valid.
func (s *scanner) members(member func(ks, ke int, esc bool) bool) bool {
	s.i++ // {
	s.depth++
	if s.depth > maxNestingDepth {
		return false
	}
	s.ws()
	if s.peek() == '}' {
		s.i++
		s.depth--
		return true
	}
	for {
		if s.peek() != '"' {
			return false
		}
		ks := s.i
		esc, ok := s.str()
		if !ok {
			return false
		}
		ke := s.i
		s.ws()
		if s.peek() != ':' {
			return false
		}
		s.i++
		s.ws()
		if !member(ks, ke, esc) {
			return false
		}
		s.ws()
		switch s.peek() {
		case ',':
			s.i++
			s.ws()
		case '}':
			s.i++
			s.depth--
			return true
		default:
			return false
		}
	}
}

// keyIs reports whether the raw key b[ks:ke] (quotes included) is name.
func keyIs(b []byte, ks, ke int, esc bool, name string) bool {
	if !esc {
		return string(b[ks+1:ke-1]) == name
	}
	k, _ := jsonString(b[ks:ke])
	return k == name
}

// keyText returns the unescaped text of the raw key b[ks:ke].
func keyText(b []byte, ks, ke int, esc bool) []byte {
	if !esc {
		return b[ks+1 : ke-1]
	}
	k, _ := jsonString(b[ks:ke])
	return []byte(k)
}
