package ingest

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"

	"github.com/anomalyd/detector/anomaly"
)

// RemoteWriteVersion is the Prometheus Remote-Write message a body holds.
type RemoteWriteVersion uint8

const (
	// RemoteWriteV1 is prometheus.WriteRequest (Remote-Write 1.0).
	RemoteWriteV1 RemoteWriteVersion = 1
	// RemoteWriteV2 is io.prometheus.write.v2.Request (Remote-Write 2.0).
	RemoteWriteV2 RemoteWriteVersion = 2
)

// RemoteWriteStats counts what a remote-write body held besides the
// samples returned: Prometheus staleness markers (a series went away: not a
// value, never learned), other NaN and infinite values (no number to
// learn), native histograms and exemplars (not modelled).
type RemoteWriteStats struct {
	Samples    int // float samples returned
	Stale      int
	NaN        int
	Inf        int
	Histograms int
	Exemplars  int
}

// ErrRemoteWrite wraps every error of DecodeRemoteWrite: the body is not a
// valid snappy block or protobuf message (answered 400, not retried).
var ErrRemoteWrite = errors.New("remote write")

// MaxRemoteWriteDecoded bounds the decompressed size of one remote-write
// body when Limits.MaxDecoded is 0.
const MaxRemoteWriteDecoded = 64 << 20

// ErrLimit wraps the errors of a body that decodes to more than a
// caller's limits allow (answered 413).
var ErrLimit = errors.New("over the limit")

// Limits bound what one body may decode to, so that a small body cannot
// make large memory: a remote-write 2.0 symbol or a line's tags are
// repeated in the text of every series that uses them. Zero fields take
// the defaults in their comments.
type Limits struct {
	// MaxDecoded bounds a decompressed remote-write body; default
	// MaxRemoteWriteDecoded.
	MaxDecoded int
	// MaxSamples bounds the samples of one body; default 1,000,000.
	MaxSamples int
	// MaxSeriesBytes bounds the bytes of all the series texts built for
	// one body; default 256 MiB.
	MaxSeriesBytes int
}

func (l Limits) withDefaults() Limits {
	if l.MaxDecoded <= 0 {
		l.MaxDecoded = MaxRemoteWriteDecoded
	}
	if l.MaxSamples <= 0 {
		l.MaxSamples = 1_000_000
	}
	if l.MaxSeriesBytes <= 0 {
		l.MaxSeriesBytes = 256 << 20
	}
	return l
}

// budget tracks a body's use of Limits.
type budget struct {
	lim            Limits
	samples, bytes int
}

// series charges one series text of n bytes; false when over the limit.
func (b *budget) series(n int) bool {
	b.bytes += n
	return b.bytes <= b.lim.MaxSeriesBytes
}

func (b *budget) err() error {
	return fmt.Errorf("%w: the body decodes to more than %d samples or %d bytes of series names", ErrLimit, b.lim.MaxSamples, b.lim.MaxSeriesBytes)
}

// DecodeRemoteWrite turns a snappy-compressed (block format) remote-write
// body into samples appended to dst. Each time series becomes one series
// text `name{label="value",...}` (the __name__ label is the name; other
// labels keep their names and values, escaped as the Prometheus text
// format escapes them), shared by all its samples. Timestamps stay in
// milliseconds. Stale markers, NaN and ±Inf samples, histograms and
// exemplars are skipped and counted in the stats. lim bounds the
// decompressed size (checked before anything is decompressed), the samples
// and the bytes of series texts; over them the error wraps ErrLimit.
//
// The returned samples do not alias body.
func DecodeRemoteWrite(dst []anomaly.Sample, body []byte, v RemoteWriteVersion, lim Limits) ([]anomaly.Sample, RemoteWriteStats, error) {
	var st RemoteWriteStats
	lim = lim.withDefaults()
	bud := budget{lim: lim}
	maxDecoded := lim.MaxDecoded
	n, err := snappy.DecodedLen(body)
	if err != nil {
		return dst, st, fmt.Errorf("%w: body is not snappy-compressed (block format): %v", ErrRemoteWrite, err)
	}
	if n > maxDecoded {
		return dst, st, fmt.Errorf("%w: %w: body decompresses to %d bytes, the limit is %d", ErrRemoteWrite, ErrLimit, n, maxDecoded)
	}
	raw, err := snappy.Decode(nil, body)
	if err != nil {
		return dst, st, fmt.Errorf("%w: %v", ErrRemoteWrite, err)
	}
	var b strings.Builder
	var pairs [][2]string // reused: seriesText copies what it needs
	switch v {
	case RemoteWriteV2:
		var req writev2.Request
		if err := req.Unmarshal(raw); err != nil {
			return dst, st, fmt.Errorf("%w: protobuf io.prometheus.write.v2.Request: %v", ErrRemoteWrite, err)
		}
		for i := range req.Timeseries {
			ts := &req.Timeseries[i]
			st.Histograms += len(ts.Histograms)
			st.Exemplars += len(ts.Exemplars)
			if len(ts.Samples) == 0 {
				continue
			}
			refs := ts.LabelsRefs
			if len(refs)%2 != 0 {
				return dst, st, fmt.Errorf("%w: time series %d has an odd number of label references", ErrRemoteWrite, i)
			}
			var name string
			pairs = pairs[:0]
			for j := 0; j < len(refs); j += 2 {
				if int(refs[j]) >= len(req.Symbols) || int(refs[j+1]) >= len(req.Symbols) {
					return dst, st, fmt.Errorf("%w: time series %d references symbol %d of %d", ErrRemoteWrite, i, max(refs[j], refs[j+1]), len(req.Symbols))
				}
				k, val := req.Symbols[refs[j]], req.Symbols[refs[j+1]]
				if k == "__name__" {
					name = val
					continue
				}
				pairs = append(pairs, [2]string{k, val})
			}
			s := seriesText(&b, name, pairs)
			if !bud.series(len(s)) || st.Samples+len(ts.Samples) > lim.MaxSamples {
				st.Samples = 0
				return dst[:0], st, bud.err()
			}
			for _, smp := range ts.Samples {
				dst = appendSample(dst, &st, s, smp.Timestamp, smp.Value)
			}
		}
	default:
		var req prompb.WriteRequest
		if err := req.Unmarshal(raw); err != nil {
			return dst, st, fmt.Errorf("%w: protobuf prometheus.WriteRequest: %v", ErrRemoteWrite, err)
		}
		for i := range req.Timeseries {
			ts := &req.Timeseries[i]
			st.Histograms += len(ts.Histograms)
			st.Exemplars += len(ts.Exemplars)
			if len(ts.Samples) == 0 {
				continue
			}
			var name string
			pairs = pairs[:0]
			for _, l := range ts.Labels {
				if l.Name == "__name__" {
					name = l.Value
					continue
				}
				pairs = append(pairs, [2]string{l.Name, l.Value})
			}
			s := seriesText(&b, name, pairs)
			if !bud.series(len(s)) || st.Samples+len(ts.Samples) > lim.MaxSamples {
				st.Samples = 0
				return dst[:0], st, bud.err()
			}
			for _, smp := range ts.Samples {
				dst = appendSample(dst, &st, s, smp.Timestamp, smp.Value)
			}
		}
	}
	return dst, st, nil
}

func appendSample(dst []anomaly.Sample, st *RemoteWriteStats, series string, ts int64, v float64) []anomaly.Sample {
	switch {
	case value.IsStaleNaN(v):
		st.Stale++
	case math.IsNaN(v):
		st.NaN++
	case math.IsInf(v, 0):
		st.Inf++
	default:
		st.Samples++
		dst = append(dst, anomaly.Sample{Series: series, TimestampMs: ts, Value: v})
	}
	return dst
}

// seriesText writes name{k="v",...} with values escaped as the Prometheus
// text format does (\\, \" and \n). Labels with empty values are left out
// (an empty value is the same as no label). The engine validates the
// result.
func seriesText(b *strings.Builder, name string, pairs [][2]string) string {
	b.Reset()
	b.WriteString(name)
	return seriesTextFrom(b, pairs)
}

func writeEscaped(b *strings.Builder, s string) {
	if !strings.ContainsAny(s, "\\\"\n") {
		b.WriteString(s)
		return
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			b.WriteString(`\\`)
		case '"':
			b.WriteString(`\"`)
		case '\n':
			b.WriteString(`\n`)
		default:
			b.WriteByte(c)
		}
	}
}
