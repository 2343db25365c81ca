package ingest

import (
	"bytes"
	"math"
	"testing"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
)

// FuzzDecodeRemoteWrite feeds arbitrary bytes, raw and snappy-compressed,
// to both remote-write versions: no panic, never more samples than the
// stats count, every sample finite, and a bounded decompressed size.
func FuzzDecodeRemoteWrite(f *testing.F) {
	v1 := &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{{
		Labels:  []prompb.Label{{Name: "__name__", Value: "up"}, {Name: "job", Value: "node"}},
		Samples: []prompb.Sample{{Value: 1, Timestamp: 1}, {Value: math.NaN(), Timestamp: 2}}}}}
	raw1, _ := v1.Marshal()
	v2 := &writev2.Request{Symbols: []string{"", "__name__", "up"}, Timeseries: []writev2.TimeSeries{{
		LabelsRefs: []uint32{1, 2}, Samples: []writev2.Sample{{Value: 3, Timestamp: 4}}}}}
	raw2, _ := v2.Marshal()
	f.Add(raw1, uint8(1))
	f.Add(raw2, uint8(2))
	f.Add([]byte{}, uint8(1))
	f.Add([]byte{0x0a, 0x05, 0x0a, 0x03}, uint8(1))
	f.Add([]byte{0x12, 0x02, 0x08, 0x09}, uint8(2))
	f.Fuzz(func(t *testing.T, raw []byte, version uint8) {
		v := RemoteWriteVersion(version%2 + 1)
		for _, body := range [][]byte{snappy.Encode(nil, raw), raw} {
			got, st, err := DecodeRemoteWrite(nil, body, v, Limits{MaxDecoded: 1 << 20})
			if err != nil {
				if len(got) != 0 {
					t.Fatalf("error %v with %d samples", err, len(got))
				}
				continue
			}
			if len(got) != st.Samples {
				t.Fatalf("%d samples, stats say %d", len(got), st.Samples)
			}
			for _, s := range got {
				if math.IsNaN(s.Value) || math.IsInf(s.Value, 0) {
					t.Fatalf("non-finite sample %+v", s)
				}
			}
		}
	})
}

// FuzzDecodeLines checks the line-protocol decoder on arbitrary bodies: no
// panic; every rejected line number lies within the body; good lines are
// decoded alike whether or not bad lines surround them.
func FuzzDecodeLines(f *testing.F) {
	for _, s := range []string{
		"cpu,host=a usage=1.5 1700000000000000000",
		"cpu,host=a usage=1.5\ncpu,host=a bad=\nmem free=2i",
		"m,t=\\,x f=\"s\",g=true",
		"# comment\n\n  m v=1u",
		"weather,location=us-midwest temperature=82 1465839830100400200",
		"m v=1 99999999999999999999",
		"m\\ x,t\\=k=v\\ w f\\,g=-1e308",
		"=",
		",,,",
		"m v=1\r\nm v=2\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, st, errs := DecodeLines(nil, body, LineOptions{})
		if len(got) != st.Samples {
			t.Fatalf("%d samples, stats say %d", len(got), st.Samples)
		}
		lines := bytes.Count(body, []byte("\n")) + 1
		for _, e := range errs {
			if e.Line < 1 || e.Line > lines {
				t.Fatalf("error on line %d of a %d-line body: %v", e.Line, lines, e)
			}
		}
		if st.BadLines > st.Lines {
			t.Fatalf("%d bad lines of %d", st.BadLines, st.Lines)
		}
		// Appending a bad line changes nothing about the good ones.
		more, _, _ := DecodeLines(nil, append(append([]byte{}, body...), "\n,bad line"...), LineOptions{})
		if len(more) < len(got) {
			t.Fatalf("a bad line after the body dropped samples: %d -> %d", len(got), len(more))
		}
	})
}
