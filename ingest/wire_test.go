package ingest

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/influxdata/line-protocol/v2/lineprotocol"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/series"
)

func encodeV1(t testing.TB, req *prompb.WriteRequest) []byte {
	t.Helper()
	raw, err := req.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return snappy.Encode(nil, raw)
}

func TestDecodeRemoteWriteV1(t *testing.T) {
	req := &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{
		{Labels: []prompb.Label{{Name: "__name__", Value: "up"}, {Name: "instance", Value: "127.0.0.1:9100"}, {Name: "job", Value: `no"de`}},
			Samples: []prompb.Sample{{Value: 1, Timestamp: 1000}, {Value: math.Float64frombits(value.StaleNaN), Timestamp: 2000}, {Value: 0, Timestamp: 3000}}},
		{Labels: []prompb.Label{{Name: "__name__", Value: "rate"}, {Name: "empty", Value: ""}},
			Samples: []prompb.Sample{{Value: math.NaN(), Timestamp: 1000}, {Value: math.Inf(1), Timestamp: 2000}, {Value: 2.5, Timestamp: 3000}}},
		{Labels: []prompb.Label{{Name: "__name__", Value: "h"}}, Histograms: []prompb.Histogram{{Timestamp: 1}}},
	}}
	got, st, err := DecodeRemoteWrite(nil, encodeV1(t, req), RemoteWriteV1, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	want := []anomaly.Sample{
		{Series: `up{instance="127.0.0.1:9100",job="no\"de"}`, TimestampMs: 1000, Value: 1},
		{Series: `up{instance="127.0.0.1:9100",job="no\"de"}`, TimestampMs: 3000, Value: 0},
		{Series: `rate`, TimestampMs: 3000, Value: 2.5},
	}
	if !slices.Equal(got, want) {
		t.Errorf("samples = %+v, want %+v", got, want)
	}
	if st != (RemoteWriteStats{Samples: 3, Stale: 1, NaN: 1, Inf: 1, Histograms: 1}) {
		t.Errorf("stats = %+v", st)
	}
	for _, s := range got {
		if _, err := series.Parse(s.Series, series.Limits{}); err != nil {
			t.Errorf("series %s does not parse: %v", s.Series, err)
		}
	}
}

func TestDecodeRemoteWriteV2(t *testing.T) {
	req := &writev2.Request{
		Symbols: []string{"", "__name__", "cpu_seconds_total", "mode", "idle", "host", "a\nb"},
		Timeseries: []writev2.TimeSeries{{
			LabelsRefs: []uint32{1, 2, 5, 6, 3, 4},
			Samples:    []writev2.Sample{{Value: 10, Timestamp: 5000}, {Value: 11, Timestamp: 6000}},
		}},
	}
	raw, err := req.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, st, err := DecodeRemoteWrite(nil, snappy.Encode(nil, raw), RemoteWriteV2, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Series != `cpu_seconds_total{host="a\nb",mode="idle"}` || got[1].Value != 11 || st.Samples != 2 {
		t.Errorf("samples = %+v, stats %+v", got, st)
	}
	req.Timeseries[0].LabelsRefs = []uint32{1, 99}
	raw, _ = req.Marshal()
	if _, _, err := DecodeRemoteWrite(nil, snappy.Encode(nil, raw), RemoteWriteV2, Limits{}); err == nil {
		t.Error("a reference past the symbols decoded without error")
	}
}

func TestDecodeRemoteWriteErrors(t *testing.T) {
	good := encodeV1(t, &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{{Labels: []prompb.Label{{Name: "__name__", Value: "x"}}, Samples: []prompb.Sample{{Value: 1}}}}})
	for name, body := range map[string][]byte{
		"not snappy":  []byte("hello world, not snappy at all"),
		"not proto":   snappy.Encode(nil, []byte{0xff, 0xff, 0xff, 0xff}),
		"truncated":   good[:len(good)-2],
		"decoded cap": snappy.Encode(nil, make([]byte, 2048)),
	} {
		if _, _, err := DecodeRemoteWrite(nil, body, RemoteWriteV1, Limits{MaxDecoded: 1024}); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestDecodeLines(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_000)
	body := strings.Join([]string{
		`cpu,host=a,region=eu-west usage_user=1.5,usage_system=2i,ok=true 1700000000123456789`,
		`cpu,host=a bad=`,
		``,
		`# a comment`,
		`mem,host=b used=3u,note="text"`,
		`disk\ io,dev/name=sda,__x=1,9z=q busy=0.25 1700000001000000000`,
		`net,host=c rx=1 notatime`,
		`net,host=c rx=2 1700000002000000000`,
	}, "\n")
	got, st, errs := DecodeLines(nil, []byte(body), LineOptions{Now: now, Labels: [][2]string{{"bucket", "telegraf"}, {"host", "ignored"}}})
	want := []anomaly.Sample{
		{Series: `cpu_usage_user{host="a",region="eu-west",bucket="telegraf"}`, TimestampMs: 1700000000123, Value: 1.5},
		{Series: `cpu_usage_system{host="a",region="eu-west",bucket="telegraf"}`, TimestampMs: 1700000000123, Value: 2},
		{Series: `cpu_ok{host="a",region="eu-west",bucket="telegraf"}`, TimestampMs: 1700000000123, Value: 1},
		{Series: `mem_used{host="b",bucket="telegraf"}`, TimestampMs: now.UnixMilli(), Value: 3},
		{Series: `disk_io_busy{dev_name="sda",_x="1",_9z="q",bucket="telegraf",host="ignored"}`, TimestampMs: 1700000001000, Value: 0.25},
		{Series: `net_rx{host="c",bucket="telegraf"}`, TimestampMs: 1700000002000, Value: 2},
	}
	if !slices.Equal(got, want) {
		t.Errorf("samples:\n got %+v\nwant %+v", got, want)
	}
	if st.Lines != 6 || st.BadLines != 2 || st.StringFields != 1 || st.Samples != 6 {
		t.Errorf("stats = %+v", st)
	}
	if len(errs) != 2 || errs[0].Line != 2 || errs[1].Line != 7 {
		t.Errorf("errors = %+v, want lines 2 and 7", errs)
	}
	for _, s := range got {
		if _, err := series.Parse(s.Series, series.Limits{}); err != nil {
			t.Errorf("series %s does not parse: %v", s.Series, err)
		}
	}
	if n := SeriesName("disk io", "busy", [][2]string{{"dev/name", "sda"}, {"__x", "1"}, {"9z", "q"}, {"e", ""}}); n != `disk_io_busy{dev_name="sda",_x="1",_9z="q"}` {
		t.Errorf("SeriesName = %s", n)
	}
}

func TestDecodeLinesPrecision(t *testing.T) {
	for _, c := range []struct {
		p    string
		ts   string
		want int64
	}{{"s", "1700000000", 1700000000000}, {"ms", "1700000000123", 1700000000123}, {"us", "1700000000123456", 1700000000123}, {"", "1700000000123456789", 1700000000123}} {
		prec, err := ParsePrecision(c.p)
		if err != nil {
			t.Fatal(err)
		}
		got, _, errs := DecodeLines(nil, []byte("m v=1 "+c.ts), LineOptions{Precision: prec})
		if len(errs) > 0 || len(got) != 1 || got[0].TimestampMs != c.want {
			t.Errorf("precision %q: %+v %v, want ts %d", c.p, got, errs, c.want)
		}
	}
	if _, err := ParsePrecision("h"); err == nil {
		t.Error("precision h accepted")
	}
	_ = lineprotocol.Second
}

// TestDecodeLimits: a small body cannot decode to large memory: a long
// remote-write 2.0 symbol shared by many series, or long tags on a line
// with many fields, stop at the limits.
func TestDecodeLimits(t *testing.T) {
	long := strings.Repeat("x", 10_000)
	req := &writev2.Request{Symbols: []string{"", "__name__", "m", "l", long}}
	for i := range 1000 {
		req.Timeseries = append(req.Timeseries, writev2.TimeSeries{LabelsRefs: []uint32{1, 2, 3, 4},
			Samples: []writev2.Sample{{Value: 1, Timestamp: int64(i)}}})
	}
	raw, _ := req.Marshal()
	body := snappy.Encode(nil, raw)
	got, _, err := DecodeRemoteWrite(nil, body, RemoteWriteV2, Limits{MaxSeriesBytes: 1 << 20})
	if !errors.Is(err, ErrLimit) || len(got) != 0 {
		t.Errorf("%d-byte body: err %v, %d samples; want ErrLimit", len(body), err, len(got))
	}
	if _, _, err := DecodeRemoteWrite(nil, body, RemoteWriteV2, Limits{MaxSamples: 999}); !errors.Is(err, ErrLimit) {
		t.Errorf("sample limit: %v", err)
	}

	var line strings.Builder
	line.WriteString("m,t=" + long + " ")
	for i := range 1000 {
		if i > 0 {
			line.WriteByte(',')
		}
		fmt.Fprintf(&line, "f%d=1", i)
	}
	got, st, _ := DecodeLines(nil, []byte(line.String()), LineOptions{Limits: Limits{MaxSeriesBytes: 1 << 20}})
	if !st.OverLimit || len(got) != 0 || st.Samples != 0 {
		t.Errorf("line with long tags: over %v, %d samples", st.OverLimit, len(got))
	}
	if _, st, _ := DecodeLines(nil, []byte("m a=1,b=2,c=3"), LineOptions{Limits: Limits{MaxSamples: 2}}); !st.OverLimit {
		t.Error("sample limit of lines not applied")
	}
}
