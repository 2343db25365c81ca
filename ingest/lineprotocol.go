package ingest

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/influxdata/line-protocol/v2/lineprotocol"

	"github.com/anomalyd/detector/anomaly"
)

// LineError is one line of a line-protocol body that was rejected.
type LineError struct {
	Line    int    // 1-based line number in the body
	Message string // what was wrong, as InfluxDB words it where it can
}

func (e LineError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Message) }

// LineOptions tune DecodeLines.
type LineOptions struct {
	// Precision of timestamps without a unit: lineprotocol.Nanosecond
	// (InfluxDB's default), Microsecond, Millisecond or Second.
	Precision lineprotocol.Precision
	// Now is the time of lines without a timestamp.
	Now time.Time
	// Labels are added to every series (for example bucket="telegraf");
	// a tag of the same name wins.
	Labels [][2]string
	// MaxErrors bounds the line errors kept (the rest are only counted);
	// 0 keeps 100.
	MaxErrors int
	// Limits bound the samples and series bytes of the body (MaxDecoded
	// does not apply); over them decoding stops and LineStats.OverLimit is
	// set.
	Limits Limits
}

// LineStats counts what a line-protocol body held besides the samples.
type LineStats struct {
	Lines        int // lines with a measurement (good or bad)
	Samples      int // samples returned: one per numeric field
	StringFields int // string fields, skipped: nothing to learn
	BadLines     int // rejected lines (the first MaxErrors are in the errors)
	// OverLimit is set when the body decodes to more than Limits allow;
	// decoding stopped there and the samples are to be discarded.
	OverLimit bool
}

// ParsePrecision reads the precision query parameter of the InfluxDB write
// APIs: ns, us, ms, s (2.x) and n, u, ms, s (1.x; "" means nanoseconds).
// Minutes and hours (1.x "m", "h") are not supported by the decoder.
func ParsePrecision(s string) (lineprotocol.Precision, error) {
	switch s {
	case "", "ns", "n":
		return lineprotocol.Nanosecond, nil
	case "us", "u", "µ":
		return lineprotocol.Microsecond, nil
	case "ms":
		return lineprotocol.Millisecond, nil
	case "s":
		return lineprotocol.Second, nil
	}
	return 0, fmt.Errorf("invalid precision %q: want ns, us, ms or s", s)
}

// DecodeLines turns an InfluxDB line-protocol body into samples appended to
// dst. Every numeric field of a line becomes one sample of the series
// `<measurement>_<field>{<tags>}`: float, integer and unsigned fields as
// their value, booleans as 1 or 0; string fields are skipped. Names are
// made valid Prometheus names: any byte outside [a-zA-Z0-9_:] (label
// names: [a-zA-Z0-9_]) becomes '_', a name starting with a digit gets a
// leading '_', and a tag key starting with "__" (reserved) loses one '_'.
// Tags with empty values are dropped. Timestamps are truncated to
// milliseconds.
//
// A malformed line is rejected on its own: its error goes into the
// returned list and every valid line of the body is still decoded, as
// InfluxDB keeps the valid points of a partial write. A line is either
// decoded whole or rejected whole.
func DecodeLines(dst []anomaly.Sample, body []byte, o LineOptions) ([]anomaly.Sample, LineStats, []LineError) {
	var (
		st    LineStats
		errs  []LineError
		b     strings.Builder
		tags  [][2]string
		names []byte
		vals  []lpField
	)
	if o.MaxErrors <= 0 {
		o.MaxErrors = 100
	}
	if o.Precision == 0 {
		o.Precision = lineprotocol.Nanosecond
	}
	bud := budget{lim: o.Limits.withDefaults()}
	fail := func(line int, err error) {
		st.BadLines++
		if len(errs) < o.MaxErrors {
			errs = append(errs, LineError{Line: line, Message: lineMessage(err)})
		}
	}
	dec := lineprotocol.NewDecoderWithBytes(body)
	for dec.Next() {
		st.Lines++
		m, err := dec.Measurement()
		if err != nil {
			fail(lineOf(err, st.Lines), err)
			continue
		}
		tags = tags[:0]
		names = names[:0]
		var tagErr error
		for {
			k, v, err := dec.NextTag()
			if err != nil {
				tagErr = err
				break
			}
			if k == nil {
				break
			}
			if len(v) == 0 {
				continue
			}
			start := len(names)
			names = appendName(names, k, false)
			tags = append(tags, [2]string{string(names[start:]), string(v)})
		}
		if tagErr != nil {
			fail(lineOf(tagErr, st.Lines), tagErr)
			continue
		}
		vals = vals[:0]
		var fieldErr error
		for {
			k, v, err := dec.NextField()
			if err != nil {
				fieldErr = err
				break
			}
			if k == nil {
				break
			}
			var f float64
			switch v.Kind() {
			case lineprotocol.Float:
				f = v.FloatV()
			case lineprotocol.Int:
				f = float64(v.IntV())
			case lineprotocol.Uint:
				f = float64(v.UintV())
			case lineprotocol.Bool:
				if v.BoolV() {
					f = 1
				}
			default:
				st.StringFields++
				continue
			}
			vals = append(vals, lpField{name: string(k), v: f})
		}
		if fieldErr != nil {
			fail(lineOf(fieldErr, st.Lines), fieldErr)
			continue
		}
		t, err := dec.Time(o.Precision, o.Now)
		if err != nil {
			fail(lineOf(err, st.Lines), err)
			continue
		}
		ms := t.UnixMilli()
		labels := mergeLabels(tags, o.Labels)
		for _, f := range vals {
			b.Reset()
			b.Grow(len(m) + 1 + len(f.name))
			writeName(&b, m, f.name)
			s := seriesTextFrom(&b, labels)
			if !bud.series(len(s)) || st.Samples >= bud.lim.MaxSamples {
				st.OverLimit, st.Samples = true, 0
				return dst[:0], st, errs
			}
			dst = append(dst, anomaly.Sample{Series: s, TimestampMs: ms, Value: f.v})
			st.Samples++
		}
	}
	return dst, st, errs
}

type lpField struct {
	name string
	v    float64
}

// lineOf returns the line number of a decoder error, or def.
func lineOf(err error, def int) int {
	var de *lineprotocol.DecodeError
	if errors.As(err, &de) && de.Line > 0 {
		return int(de.Line)
	}
	return def
}

// lineMessage is the decoder's message without its "at line N:M" prefix.
func lineMessage(err error) string {
	var de *lineprotocol.DecodeError
	if errors.As(err, &de) && de.Err != nil {
		return fmt.Sprintf("column %d: %v", de.Column, de.Err)
	}
	return err.Error()
}

// mergeLabels returns tags plus the extra labels whose names no tag has.
func mergeLabels(tags, extra [][2]string) [][2]string {
	if len(extra) == 0 {
		return tags
	}
outer:
	for _, e := range extra {
		for _, t := range tags {
			if t[0] == e[0] {
				continue outer
			}
		}
		tags = append(tags, e)
	}
	return tags
}

// writeName writes the series name <measurement>_<field>, made valid.
func writeName(b *strings.Builder, m []byte, field string) {
	var buf [128]byte
	out := appendName(buf[:0], m, true)
	out = append(out, '_')
	out = appendName(out, []byte(field), true)
	if len(out) > 0 && out[0] >= '0' && out[0] <= '9' {
		b.WriteByte('_')
	}
	b.Write(out)
}

// appendName appends s with invalid bytes replaced by '_'. Metric names
// may hold ':', label names not; a label name starting with a digit gets a
// leading '_' and one starting with "__" loses one '_'.
func appendName(dst, s []byte, metric bool) []byte {
	if !metric {
		if len(s) > 0 && s[0] >= '0' && s[0] <= '9' {
			dst = append(dst, '_')
		}
		if len(s) >= 2 && s[0] == '_' && s[1] == '_' {
			s = s[1:]
		}
	}
	for _, c := range s {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || metric && c == ':'
		if !ok {
			c = '_'
		}
		dst = append(dst, c)
	}
	return dst
}

// seriesTextFrom finishes the series text whose name is in b: the labels
// with their values escaped as the Prometheus text format does. Labels
// with empty values are left out (an empty value is the same as no label;
// line protocol has no empty tag values).
func seriesTextFrom(b *strings.Builder, labels [][2]string) string {
	n := 0
	for _, p := range labels {
		if p[1] == "" {
			continue
		}
		if n == 0 {
			b.WriteByte('{')
		} else {
			b.WriteByte(',')
		}
		n++
		b.WriteString(p[0])
		b.WriteString(`="`)
		writeEscaped(b, p[1])
		b.WriteByte('"')
	}
	if n > 0 {
		b.WriteByte('}')
	}
	return b.String()
}

// SeriesName returns the series DecodeLines makes of one field of a
// measurement with these tags (the same names, escapes and rules), so that
// history read back from InfluxDB lands on the series live line-protocol
// writes feed.
func SeriesName(measurement, field string, tags [][2]string) string {
	var b strings.Builder
	writeName(&b, []byte(measurement), field)
	var names []byte
	clean := make([][2]string, 0, len(tags))
	for _, t := range tags {
		if t[1] == "" {
			continue
		}
		names = appendName(names[:0], []byte(t[0]), false)
		clean = append(clean, [2]string{string(names), t[1]})
	}
	return seriesTextFrom(&b, clean)
}
