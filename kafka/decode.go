package kafka

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/influxdata/line-protocol/v2/lineprotocol"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/ingest"
)

// Record value formats (Config.Format).
const (
	// FormatAuto reads a value starting with '{' or '[' as JSON, anything
	// else as line protocol.
	FormatAuto = "auto"
	// FormatJSON is one point {"series","timestamp","value"} (the shape of
	// a POST /api/v1/points item) or a JSON array of them. Other fields
	// are ignored (producers may add their own).
	FormatJSON = "json"
	// FormatLine is InfluxDB line protocol, one or more lines.
	FormatLine = "line"
)

// jsonPoint is the wire shape of a point, as in POST /api/v1/points.
type jsonPoint struct {
	Series    *string         `json:"series"`
	Timestamp json.RawMessage `json:"timestamp"`
	Value     json.RawMessage `json:"value"`
}

// decoder turns record values into samples.
type decoder struct {
	format    string
	precision lineprotocol.Precision
	now       func() time.Time
}

// decode appends the samples of one record value to dst. An error means
// the record is bad as a whole (nothing of it is appended).
func (d *decoder) decode(dst []anomaly.Sample, value []byte) ([]anomaly.Sample, error) {
	v := bytes.TrimSpace(value)
	if len(v) == 0 {
		return dst, fmt.Errorf("empty record value")
	}
	format := d.format
	if format == FormatAuto || format == "" {
		format = FormatLine
		if v[0] == '{' || v[0] == '[' {
			format = FormatJSON
		}
	}
	if format == FormatLine {
		n := len(dst)
		out, _, errs := ingest.DecodeLines(dst, v, ingest.LineOptions{Precision: d.precision, Now: d.now(), MaxErrors: 1})
		if len(errs) > 0 {
			return out[:n], fmt.Errorf("line protocol: %s", errs[0].Error())
		}
		if len(out) == n {
			return out, fmt.Errorf("line protocol: no numeric field")
		}
		return out, nil
	}
	if v[0] == '[' {
		var pts []jsonPoint
		if err := json.Unmarshal(v, &pts); err != nil {
			return dst, fmt.Errorf("json: %w", err)
		}
		n := len(dst)
		for i := range pts {
			s, err := pts[i].sample()
			if err != nil {
				return dst[:n], fmt.Errorf("point %d: %w", i, err)
			}
			dst = append(dst, s)
		}
		return dst, nil
	}
	var p jsonPoint
	if err := json.Unmarshal(v, &p); err != nil {
		return dst, fmt.Errorf("json: %w", err)
	}
	s, err := p.sample()
	if err != nil {
		return dst, err
	}
	return append(dst, s), nil
}

func (p *jsonPoint) sample() (anomaly.Sample, error) {
	var s anomaly.Sample
	if p.Series == nil || *p.Series == "" {
		return s, fmt.Errorf("series is required")
	}
	s.Series = *p.Series
	if len(p.Timestamp) == 0 {
		return s, fmt.Errorf("timestamp is required")
	}
	ms, err := timestampMs(p.Timestamp)
	if err != nil {
		return s, err
	}
	s.TimestampMs = ms
	if len(p.Value) == 0 {
		return s, fmt.Errorf("value is required")
	}
	var f float64
	if err := json.Unmarshal(p.Value, &f); err != nil {
		return s, fmt.Errorf("value must be a number, got %s", clip(p.Value))
	}
	s.Value = f
	return s, nil
}

// timestampMs reads a timestamp as the HTTP API does: a JSON number of
// Unix seconds (fractions allowed), or a string holding RFC 3339 or Unix
// seconds.
func timestampMs(raw json.RawMessage) (int64, error) {
	var text string
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &text); err != nil {
			return 0, fmt.Errorf("timestamp: %w", err)
		}
		if t, err := time.Parse(time.RFC3339Nano, text); err == nil {
			return t.UnixMilli(), nil
		}
	} else {
		text = string(raw)
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1e13 {
		return 0, fmt.Errorf("timestamp must be Unix seconds or RFC 3339, got %s", clip(raw))
	}
	return int64(math.Round(f * 1000)), nil
}

func clip(b []byte) string {
	if len(b) > 64 {
		return string(b[:64]) + "..."
	}
	return string(b)
}
