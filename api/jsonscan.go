package api

import (
	"bytes"
	"encoding/binary"
	"math/bits"
)

// The request bodies are read by one validating pass (scanner) that finds
// the members of the top-level object and, for ingest, decodes the points
// as it goes: nothing is validated twice and no point allocates.
//
// Why a pass written here rather than a library (the libraries were
// measured on this service's points, see README, Performance): the
// maintained strict tokenizer, jsontext (encoding/json/v2's, module
// github.com/go-json-experiment/json), validates at about the speed of
// encoding/json.Valid alone (~2 M points/s), and restarting it at a value
// costs ~700 ns, which made it too slow even as the validator of nested
// values (a body of [0] items took 8 to 18 times json.Valid's time); valyala/fastjson
// parses faster (~3.7 M) but is no validator (it takes invalid escapes,
// control characters and NaN), so it would need its Validate pass too;
// goccy/go-json decodes into Go types only, which cannot keep the per-point
// errors of a batch that is partly valid. The grammar here is RFC 8259 as
// encoding/json reads it (duplicate names and invalid UTF-8 allowed, 10000
// levels at most); the differential tests (decode_diff_test.go) hold it to
// encoding/json and to the decoder it replaced, and error messages still
// come from encoding/json, run only on a body this pass refused.

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

// Eight bytes at a time: swarOnes has 1 in each byte, swarHigh the top
// bit of each byte.
const (
	swarOnes = 0x0101010101010101
	swarHigh = 0x8080808080808080
)

// skipSafe returns the index of the first byte of b at or after i that is
// not strSafe, reading whole 8-byte words while they are all safe; it may
// stop early (within the last 8 bytes of b), and the caller goes on byte by
// byte. A byte is flagged when it is below 0x20 or, XORed with the quote or
// the backslash, zero; the lowest flagged byte of a word is exact (a
// borrow only runs upwards from a flagged byte), and bytes of 0x80 and
// more are never flagged.
func skipSafe(b []byte, i int) int {
	for i+8 <= len(b) {
		w := binary.LittleEndian.Uint64(b[i:])
		q := w ^ ('"' * swarOnes)
		bs := w ^ ('\\' * swarOnes)
		t := ((w - 0x20*swarOnes) & ^w) | ((q - swarOnes) & ^q) | ((bs - swarOnes) & ^bs)
		if t &= swarHigh; t != 0 {
			return i + bits.TrailingZeros64(t)/8
		}
		i += 8
	}
	return i
}

// str reads the string at the cursor (which is at its opening quote) and
// reports whether it holds an escape.
func (s *scanner) str() (esc, ok bool) {
	b, i := s.b, s.i+1
	for {
		i = skipSafe(b, i)
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

// strTo is str that also appends the string's text, unescaped, to *dst,
// in the same pass: runs of plain bytes are copied a word at a time as
// skipSafe reads them. A string with a \u escape is unescaped again by
// appendUnescaped once read (surrogate pairs span two escapes). When ok is
// false, what *dst holds past its old length is unspecified.
func (s *scanner) strTo(dst *[]byte) (esc, ok bool) {
	b, open, d := s.b, s.i, *dst
	i, start, uesc := open+1, len(d), false
	for {
		for i+8 <= len(b) {
			w := binary.LittleEndian.Uint64(b[i:])
			q := w ^ ('"' * swarOnes)
			bs := w ^ ('\\' * swarOnes)
			t := ((w - 0x20*swarOnes) & ^w) | ((q - swarOnes) & ^q) | ((bs - swarOnes) & ^bs)
			d = binary.LittleEndian.AppendUint64(d, w)
			if t &= swarHigh; t != 0 {
				n := bits.TrailingZeros64(t) / 8
				d = d[:len(d)-8+n]
				i += n
				break
			}
			i += 8
		}
		for i < len(b) && strSafe[b[i]] {
			d = append(d, b[i])
			i++
		}
		if i >= len(b) {
			*dst = d
			return false, false
		}
		switch c := b[i]; c {
		case '"':
			s.i = i + 1
			if uesc {
				d, _ = appendUnescaped(d[:start], b[open+1:i])
			}
			*dst = d
			return esc, true
		case '\\':
			esc = true
			if i+1 >= len(b) {
				*dst = d
				return false, false
			}
			switch e := b[i+1]; {
			case shortEscape[e] != 0:
				d = append(d, shortEscape[e])
			case e == 'u':
				if hex4(b[i+2:]) < 0 {
					*dst = d
					return false, false
				}
				uesc = true
				i += 6
				continue
			default:
				*dst = d
				return false, false
			}
			i += 2
		default: // a control character
			*dst = d
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
// skipped).
func (s *scanner) value() bool {
	if c := s.peek(); c == '{' || c == '[' {
		return s.container()
	}
	return s.scalar()
}

// scalar reads the string, number or literal at the cursor.
func (s *scanner) scalar() bool {
	switch s.peek() {
	case '"':
		_, ok := s.str()
		return ok
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

// key reads an object's key, the colon and the space before the value.
func (s *scanner) key() bool {
	_, _, _, ok := s.name()
	return ok
}

// name is key that also returns the raw key's span [ks, ke) (quotes
// included) and whether it holds escapes.
func (s *scanner) name() (ks, ke int, esc, ok bool) {
	if s.peek() != '"' {
		return 0, 0, false, false
	}
	ks = s.i
	if esc, ok = s.str(); !ok {
		return 0, 0, false, false
	}
	ke = s.i
	s.ws()
	if s.peek() != ':' {
		return 0, 0, false, false
	}
	s.i++
	s.ws()
	return ks, ke, esc, true
}

// container reads the array or object at the cursor, at most
// maxNestingDepth levels deep counting those around the cursor, as
// encoding/json allows. It loops over an explicit stack of the open
// containers: no recursion, however deep the value.
func (s *scanner) container() bool {
	var small [32]byte
	open := small[:0] // '{' or '[' per open level
	for {
		// The cursor is at a value.
		if c := s.peek(); c == '{' || c == '[' {
			s.i++
			s.depth++
			if s.depth > maxNestingDepth {
				return false
			}
			open = append(open, c)
			s.ws()
			if s.peek() != c+2 { // not empty: '}' is '{'+2, ']' is '['+2
				if c == '{' && !s.key() {
					return false
				}
				continue
			}
			s.i++
			s.depth--
			open = open[:len(open)-1]
		} else if !s.scalar() {
			return false
		}
		// After a value: a comma, or the ends of containers.
		for {
			if len(open) == 0 {
				return true
			}
			s.ws()
			top := open[len(open)-1]
			c := s.peek()
			if c == ',' {
				s.i++
				s.ws()
				if top == '{' && !s.key() {
					return false
				}
				break
			}
			if c != top+2 {
				return false
			}
			s.i++
			s.depth--
			open = open[:len(open)-1]
		}
	}
}

// end reports whether only white space is left.
func (s *scanner) end() bool {
	s.ws()
	return s.i == len(s.b)
}

// enter steps into the object or array at the cursor, whose closing
// byte is end: ok is false beyond maxNestingDepth; empty is true when the
// container is empty, and then the cursor is past its end.
func (s *scanner) enter(end byte) (empty, ok bool) {
	s.i++
	s.depth++
	if s.depth > maxNestingDepth {
		return false, false
	}
	s.ws()
	if s.peek() == end {
		s.i++
		s.depth--
		return true, true
	}
	return false, true
}

// members reads the object at the cursor, calling member with the span of
// each raw key (quotes included) once the cursor is on its value; member
// must read the value. It reports whether the object is valid.
func (s *scanner) members(member func(ks, ke int, esc bool) bool) bool {
	if empty, ok := s.enter('}'); !ok || empty {
		return ok
	}
	for {
		ks, ke, esc, ok := s.name()
		if !ok {
			return false
		}
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
