package main

import (
	"encoding/binary"
	"fmt"
	"math"
	"net/http"
	"strconv"

	"github.com/golang/snappy"
)

// The wire formats the harness drives. All three name the same series:
// JSON play_starts{title,device,bitrate}, line protocol measurement play
// with field starts (series play_starts{...}), remote write __name__
// play_starts. So one run learns the series once and then measures each
// format's steady state on the same baselines.
const (
	formatJSON        = "json"
	formatLine        = "line"
	formatRemoteWrite = "remote_write"
)

var formats = []string{formatJSON, formatLine, formatRemoteWrite}

// seriesLabels returns the labels of series i: title, device, bitrate.
func seriesLabels(i int) (title, device, bitrate string) {
	devices := [...]string{"tv_sony", "tv_samsung", "web_chrome", "web_safari", "ios_phone", "android_phone", "console_ps5", "stick_roku"}
	bitrates := [...]string{"235", "750", "1750", "3000", "5800"}
	per := len(devices) * len(bitrates)
	return strconv.Itoa(80000 + i/per), devices[i%len(devices)], bitrates[(i/len(devices))%len(bitrates)]
}

// seriesKey is the JSON route's name of series i.
func seriesKey(i int) string {
	t, d, b := seriesLabels(i)
	return fmt.Sprintf(`play_starts{title="%s",device="%s",bitrate="%s"}`, t, d, b)
}

// value10 is point r of series i in tenths: a daily cycle plus noise,
// always within [1000, 9999] so that its text is always five bytes
// ("ddd.d") and a pre-encoded body can be patched in place.
func value10(i, r int) int {
	phase := 2 * math.Pi * float64(r%1440) / 1440
	v := 300 + float64(i%50) + 20*math.Sin(phase+float64(i%7))
	return int(math.Round(v*10)) + (i*31+r*17)%21
}

func putValue(b []byte, v10 int) {
	b[0] = byte('0' + v10/1000)
	b[1] = byte('0' + v10/100%10)
	b[2] = byte('0' + v10/10%10)
	b[3] = '.'
	b[4] = byte('0' + v10%10)
}

// putSeconds writes a ten-digit Unix time.
func putSeconds(b []byte, s int64) {
	for i := 9; i >= 0; i-- {
		b[i] = byte('0' + s%10)
		s /= 10
	}
}

// body is one pre-encoded request: its points are written once, then
// each round patches their timestamps and values in place, so that the
// client spends its CPU on sending, not on encoding.
type body struct {
	raw   []byte  // the request body (remote write: before snappy)
	at    []int32 // per point: offset of the patched field
	first int     // index of the first series of the body
	wire  []byte  // remote write: the snappy block sent
}

// encoder builds and patches the bodies of one format.
type encoder interface {
	build(lo, hi int) *body
	patch(b *body, ts int64, r int)
	// request returns the path and headers of this format's POST.
	request() (path string, header http.Header)
}

func newEncoder(format string) (encoder, error) {
	switch format {
	case formatJSON:
		return jsonEncoder{}, nil
	case formatLine:
		return lineEncoder{}, nil
	case formatRemoteWrite:
		return rwEncoder{}, nil
	}
	return nil, fmt.Errorf("unknown format %q: want json, line or remote_write", format)
}

// jsonEncoder: POST /api/v1/points, {"points":[{"series","timestamp","value"}]}
// with Unix-second timestamps.
type jsonEncoder struct{}

const jsonTsToValue = len(`1700000000,"value":`)

func (jsonEncoder) build(lo, hi int) *body {
	b := &body{first: lo, at: make([]int32, 0, hi-lo)}
	dst := make([]byte, 0, (hi-lo)*100+16)
	dst = append(dst, `{"points":[`...)
	for i := lo; i < hi; i++ {
		if i > lo {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"series":`...)
		dst = strconv.AppendQuote(dst, seriesKey(i))
		dst = append(dst, `,"timestamp":`...)
		b.at = append(b.at, int32(len(dst)))
		dst = append(dst, `1700000000,"value":100.0}`...)
	}
	b.raw = append(dst, "]}"...)
	return b
}

func (jsonEncoder) patch(b *body, ts int64, r int) {
	for j, at := range b.at {
		putSeconds(b.raw[at:], ts)
		putValue(b.raw[int(at)+jsonTsToValue:], value10(b.first+j, r))
	}
}

func (jsonEncoder) request() (string, http.Header) {
	return "/api/v1/points", http.Header{"Content-Type": {"application/json"}}
}

// lineEncoder: POST /api/v2/write, InfluxDB line protocol with second
// precision: play,bitrate=..,device=..,title=.. starts=ddd.d 1700000000
type lineEncoder struct{}

func (lineEncoder) build(lo, hi int) *body {
	b := &body{first: lo, at: make([]int32, 0, hi-lo)}
	dst := make([]byte, 0, (hi-lo)*72)
	for i := lo; i < hi; i++ {
		t, d, br := seriesLabels(i)
		dst = append(dst, "play,bitrate="...)
		dst = append(dst, br...)
		dst = append(dst, ",device="...)
		dst = append(dst, d...)
		dst = append(dst, ",title="...)
		dst = append(dst, t...)
		dst = append(dst, " starts="...)
		b.at = append(b.at, int32(len(dst)))
		dst = append(dst, "100.0 1700000000\n"...)
	}
	b.raw = dst
	return b
}

func (lineEncoder) patch(b *body, ts int64, r int) {
	for j, at := range b.at {
		putValue(b.raw[at:], value10(b.first+j, r))
		putSeconds(b.raw[at+6:], ts)
	}
}

func (lineEncoder) request() (string, http.Header) {
	return "/api/v2/write?org=load&bucket=load&precision=s", http.Header{"Content-Type": {"text/plain; charset=utf-8"}}
}

// rwEncoder: POST /api/v1/write, Prometheus Remote-Write 1.0 (a protobuf
// prometheus.WriteRequest, snappy block). The protobuf is written by hand
// so that every sample's value (fixed64) and millisecond timestamp (a
// six-byte varint for any time between 1971 and 2109) sit at fixed
// offsets; the snappy block is made anew for every request, as
// Prometheus does.
type rwEncoder struct{}

func appendTag(dst []byte, field, wire int) []byte {
	return binary.AppendUvarint(dst, uint64(field<<3|wire))
}

func appendBytesField(dst []byte, field int, p []byte) []byte {
	dst = appendTag(dst, field, 2)
	dst = binary.AppendUvarint(dst, uint64(len(p)))
	return append(dst, p...)
}

func (rwEncoder) build(lo, hi int) *body {
	b := &body{first: lo, at: make([]int32, 0, hi-lo)}
	dst := make([]byte, 0, (hi-lo)*100)
	var ts, lab []byte
	label := func(name, value string) {
		lab = appendBytesField(lab[:0], 1, []byte(name))
		lab = appendBytesField(lab, 2, []byte(value))
		ts = appendBytesField(ts, 1, lab)
	}
	for i := lo; i < hi; i++ {
		t, d, br := seriesLabels(i)
		ts = ts[:0]
		label("__name__", "play_starts")
		label("bitrate", br)
		label("device", d)
		label("title", t)
		// Sample: 1 value double (tag 0x09, 8 bytes), 2 timestamp int64
		// varint (tag 0x10, 6 bytes): 16 bytes.
		ts = append(ts, 0x12, 16, 0x09)
		sampleAt := len(ts)
		ts = append(ts, make([]byte, 8)...)
		ts = append(ts, 0x10)
		ts = binary.AppendUvarint(ts, 1_700_000_000_000)
		dst = appendTag(dst, 1, 2)
		dst = binary.AppendUvarint(dst, uint64(len(ts)))
		b.at = append(b.at, int32(len(dst)+sampleAt))
		dst = append(dst, ts...)
	}
	b.raw = dst
	return b
}

func (rwEncoder) patch(b *body, ts int64, r int) {
	ms := uint64(ts * 1000)
	for j, at := range b.at {
		p := b.raw[at:]
		binary.LittleEndian.PutUint64(p, math.Float64bits(float64(value10(b.first+j, r))/10))
		v := ms
		for k := 9; k < 15; k++ {
			p[k] = byte(v&0x7f) | 0x80
			v >>= 7
		}
		p[14] &^= 0x80
	}
	b.wire = snappy.Encode(b.wire[:cap(b.wire)], b.raw)
}

func (rwEncoder) request() (string, http.Header) {
	return "/api/v1/write", http.Header{
		"Content-Type":                      {"application/x-protobuf"},
		"Content-Encoding":                  {"snappy"},
		"X-Prometheus-Remote-Write-Version": {"0.1.0"},
	}
}
