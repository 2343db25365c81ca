package api

import (
	"bytes"
	"sync"

	"github.com/anomalyd/detector/anomaly"
)

// span is the position of a raw JSON value in a body, quotes included; s
// is -1 when the value is absent.
type span struct{ s, e int }

var absent = span{-1, -1}

// pointRaw is one point object as the scanner found it: the raw values of
// its known members (the last one wins when a key repeats, as in
// encoding/json) and the first unknown key.
type pointRaw struct {
	series, ts, value span
	seriesEsc         bool // the series string holds an escape
	unknown           span // the first unknown key
	unknownEsc        bool
	text              span // the series' text, unescaped, in point's text buffer (when given one)
}

// point reads the object at the cursor as a point. It is the hot loop of
// ingest: no closure, no allocation, each byte read once. With a text
// buffer, a series given as a string is also unescaped onto it in the
// same pass (p.text; the last one when the key repeats).
func (s *scanner) point(p *pointRaw, wantSeries bool, text *[]byte) bool {
	*p = pointRaw{series: absent, ts: absent, value: absent, unknown: absent, text: absent}
	b := s.b
	mark := 0
	if text != nil {
		mark = len(*text)
	}
	if empty, ok := s.enter('}'); !ok || empty {
		return ok
	}
	for {
		// The key is read here rather than by name (jsonscan.go): a
		// call per key costs about 5% of the points route.
		if s.peek() != '"' {
			return false
		}
		ks := s.i
		var which *span
		if k, n := knownKey(b[ks:]); n > 0 {
			// A key written plainly, closing quote included: no scan.
			s.i += n
			switch k {
			case keySeries:
				if wantSeries {
					which = &p.series
				} else if p.unknown.s < 0 {
					p.unknown, p.unknownEsc = span{ks, s.i}, false
				}
			case keyTimestamp:
				which = &p.ts
			case keyValue:
				which = &p.value
			}
		} else {
			esc, ok := s.str()
			if !ok {
				return false
			}
			ke := s.i
			key := b[ks+1 : ke-1]
			if esc {
				k, _ := jsonString(b[ks:ke])
				key = []byte(k)
			}
			switch string(key) {
			case "series":
				if wantSeries {
					which = &p.series
				}
			case "timestamp":
				which = &p.ts
			case "value":
				which = &p.value
			}
			if which == nil && p.unknown.s < 0 {
				p.unknown, p.unknownEsc = span{ks, ke}, esc
			}
		}
		s.ws()
		if s.peek() != ':' {
			return false
		}
		s.i++
		s.ws()
		vs := s.i
		if s.peek() == '"' {
			if which == &p.series && text != nil {
				*text = (*text)[:mark]
				vesc, ok := s.strTo(text)
				if !ok {
					return false
				}
				p.seriesEsc, p.text = vesc, span{mark, len(*text)}
			} else {
				vesc, ok := s.str()
				if !ok {
					return false
				}
				if which == &p.series {
					p.seriesEsc = vesc
				}
			}
		} else if !s.value() {
			return false
		}
		if which != nil {
			*which = span{vs, s.i}
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

// The keys of a point, as knownKey finds them.
const (
	keySeries = iota + 1
	keyTimestamp
	keyValue
)

// knownKey reports whether b starts with one of a point's keys written
// plainly, quotes included ("series", "timestamp", "value"), and how many
// bytes that is (0 when it does not). The closing quote ends a JSON key,
// so what follows does not matter.
func knownKey(b []byte) (key, n int) {
	switch {
	case len(b) >= 8 && string(b[:8]) == `"series"`:
		return keySeries, 8
	case len(b) >= 7 && string(b[:7]) == `"value"`:
		return keyValue, 7
	case len(b) >= 11 && string(b[:11]) == `"timestamp"`:
		return keyTimestamp, 11
	}
	return 0, 0
}

// check applies the rules of a point, in the order the API has always
// reported them: unknown field, series, timestamp, value. b is the text
// the spans point into and i the point's index in the request.
func (p *pointRaw) check(b []byte, i int, shape *pointShape) (ms int64, v float64, _ *anomaly.Error) {
	if p.unknown.s >= 0 {
		k := keyText(b, p.unknown.s, p.unknown.e, p.unknownEsc)
		return 0, 0, anomaly.FieldError(anomaly.CodeInvalidJSON, i, string(k), "unknown field %q", k)
	}
	if shape.series {
		if p.series.s < 0 {
			return 0, 0, anomaly.FieldError(anomaly.CodeMissingField, i, "series", "series is required")
		}
		raw := b[p.series.s:p.series.e]
		if raw[0] != '"' {
			return 0, 0, anomaly.FieldError(anomaly.CodeInvalidType, i, "series",
				`series must be a string like "cpu{host=\"a\"}", got %s`, jsonType(raw))
		}
		if len(raw) == 2 {
			return 0, 0, anomaly.FieldError(anomaly.CodeInvalidSeries, i, "series", "series is empty")
		}
	}
	if p.ts.s < 0 {
		return 0, 0, anomaly.FieldError(anomaly.CodeMissingField, i, "timestamp", "timestamp is required")
	}
	ms, err := parseJSONTimestamp(b[p.ts.s:p.ts.e], shape)
	if err != nil {
		err.Index, err.Field = i, "timestamp"
		return 0, 0, err
	}
	if p.value.s < 0 {
		return 0, 0, anomaly.FieldError(anomaly.CodeMissingField, i, "value", "value is required")
	}
	v, err = parseJSONValue(b[p.value.s:p.value.e])
	if err != nil {
		err.Index, err.Field = i, "value"
		return 0, 0, err
	}
	return ms, v, nil
}

// pointBatch is the "points" array of a request, decoded in the body's one
// pass. Batches are pooled: samples and errors are reused, and the series
// texts of one batch share one string (see finish).
type pointBatch struct {
	n       int              // items in the array, decoded or not
	samples []anomaly.Sample // the valid points, in order
	orig    []int            // orig[j] is the request index of samples[j]
	refs    []span           // refs[j] is the series text of samples[j] in text (when the shape has series)
	errs    []*anomaly.Error // the item errors, in index order
	// text holds the series texts of the decoded samples, unescaped
	// during the pass while they are still in the cache (consecutive
	// points of one series share theirs); last is where the latest of
	// them lies in the body, to spot the repeats.
	text []byte
	last span
}

// maxPooledText is the largest series text buffer a pooled batch keeps.
const maxPooledText = 4 << 20

var batches = sync.Pool{New: func() any { return new(pointBatch) }}

func getBatch() *pointBatch { return batches.Get().(*pointBatch) }

// release returns pb to the pool. The caller must not use pb or its samples
// afterwards; the series strings stay valid (they are not pooled).
func (pb *pointBatch) release() {
	if pb == nil {
		return
	}
	clear(pb.samples) // the series strings
	clear(pb.errs)
	pb.n, pb.samples, pb.orig, pb.refs, pb.errs = 0, pb.samples[:0], pb.orig[:0], pb.refs[:0], pb.errs[:0]
	pb.text = pb.text[:0]
	if cap(pb.text) > maxPooledText {
		pb.text = nil // an outlier batch does not keep its buffer
	}
	batches.Put(pb)
}

// points reads the array at the cursor into pb: items up to max are
// decoded as points, the rest only validated (the request is refused
// for its size, and n says how many there were).
func (s *scanner) points(pb *pointBatch, shape *pointShape, max int) bool {
	if empty, ok := s.enter(']'); !ok || empty {
		return ok
	}
	var p pointRaw
	for {
		idx := pb.n
		pb.n++
		switch {
		case idx >= max:
			if !s.value() {
				return false
			}
		case s.peek() == '{':
			mark := len(pb.text)
			var text *[]byte
			if shape.series {
				text = &pb.text
			}
			if !s.point(&p, shape.series, text) {
				return false
			}
			ms, v, err := p.check(s.b, idx, shape)
			if err != nil {
				pb.text = pb.text[:mark]
				pb.errs = append(pb.errs, err)
				break
			}
			pb.samples = append(pb.samples, anomaly.Sample{TimestampMs: ms, Value: v})
			pb.orig = append(pb.orig, idx)
			if shape.series {
				pb.addSeries(s.b, p.series, p.text, mark)
			}
		default:
			vs := s.i
			if !s.value() {
				return false
			}
			pb.errs = append(pb.errs, anomaly.FieldError(anomaly.CodeInvalidType, idx, "",
				`each point must be a JSON object like {"timestamp":..., "value":...}, got %s`, jsonType(s.b[vs:s.i])))
		}
		s.ws()
		switch s.peek() {
		case ',':
			s.i++
			s.ws()
		case ']':
			s.i++
			s.depth--
			return true
		default:
			return false
		}
	}
}

// addSeries records the series text of the sample just decoded: the
// JSON string b[at.s:at.e], which point unescaped onto pb.text at txt (all
// of pb.text past mark). When the raw string is the sample before's, that
// copy is dropped and the sample shares the text before.
func (pb *pointBatch) addSeries(b []byte, at, txt span, mark int) {
	if n := len(pb.refs); n > 0 && bytes.Equal(b[at.s:at.e], b[pb.last.s:pb.last.e]) {
		pb.text = pb.text[:mark]
		pb.refs = append(pb.refs, pb.refs[n-1])
		return
	}
	pb.refs = append(pb.refs, txt)
	pb.last = at
}

// finish sets the series of the decoded samples: all of them are
// substrings of one string allocated for the batch, a copy of pb.text, so
// that a point costs no allocation and nothing refers to the pooled body
// or batch once the request is done. The engine, the verdict sink and the
// peer groups may keep a series string past the request (the engine's
// verdicts carry the text it was given): that keeps the batch's string
// alive, never a buffer that is reused. b, the body, is no longer read:
// the texts were unescaped during the pass (addSeries).
func (pb *pointBatch) finish(b []byte) {
	all := string(pb.text)
	for j, r := range pb.refs {
		pb.samples[j].Series = all[r.s:r.e]
	}
}

// first returns the item error of the lowest index, nil when there is none.
func (pb *pointBatch) first() *anomaly.Error {
	if len(pb.errs) == 0 {
		return nil
	}
	return pb.errs[0]
}
