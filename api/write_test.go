package api

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"

	"github.com/anomalyd/detector/anomaly"
)

func rwBody(t testing.TB, series ...prompb.TimeSeries) []byte {
	t.Helper()
	raw, err := (&prompb.WriteRequest{Timeseries: series}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return snappy.Encode(nil, raw)
}

func ts(name string, v float64, ms int64) prompb.TimeSeries {
	return prompb.TimeSeries{Labels: []prompb.Label{{Name: "__name__", Value: name}, {Name: "job", Value: "x"}},
		Samples: []prompb.Sample{{Value: v, Timestamp: ms}}}
}

func post(e *env, path, ctype, enc string, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if enc != "" {
		req.Header.Set("Content-Encoding", enc)
	}
	w := httptest.NewRecorder()
	e.api.ServeHTTP(w, req)
	return w
}

func TestRemoteWriteAnswers(t *testing.T) {
	e := newEnv(t, Config{MaxPoints: 3})
	ms := now.UnixMilli()
	const ct = "application/x-protobuf"

	w := post(e, "/api/v1/write", ct, "snappy", rwBody(t, ts("up", 1, ms), ts("load", 2.5, ms-1000)))
	if w.Code != http.StatusNoContent {
		t.Fatalf("good body: %d %s", w.Code, w.Body)
	}
	if len(e.engine.ingested) != 2 || e.engine.ingested[0].Series != `up{job="x"}` || e.engine.ingested[1].Value != 2.5 {
		t.Errorf("ingested %+v", e.engine.ingested)
	}

	// A rejected sample: 400 (not retried), the good one kept.
	e.engine.ingested = nil
	w = post(e, "/api/v1/write", ct, "snappy", rwBody(t, ts("bad_series", 1, ms), ts("ok", 1, ms), ts("future", 1, ms+3_600_000)))
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "2 of 3 samples rejected") {
		t.Errorf("rejected samples: %d %q", w.Code, w.Body)
	}
	if len(e.engine.ingested) != 1 || e.engine.ingested[0].Series != `ok{job="x"}` {
		t.Errorf("ingested %+v, want only ok", e.engine.ingested)
	}

	for name, c := range map[string]struct {
		ctype, enc string
		body       []byte
		want       int
	}{
		"json":          {"application/json", "snappy", rwBody(t, ts("a", 1, ms)), http.StatusUnsupportedMediaType},
		"proto v3":      {ct + ";proto=io.prometheus.write.v3.Request", "snappy", rwBody(t, ts("a", 1, ms)), http.StatusUnsupportedMediaType},
		"gzip":          {ct, "gzip", rwBody(t, ts("a", 1, ms)), http.StatusUnsupportedMediaType},
		"garbage":       {ct, "snappy", []byte("not snappy"), http.StatusBadRequest},
		"too many":      {ct, "snappy", rwBody(t, ts("a", 1, ms), ts("b", 1, ms), ts("c", 1, ms), ts("d", 1, ms)), http.StatusRequestEntityTooLarge},
		"only stale":    {ct, "snappy", rwBody(t, prompb.TimeSeries{Labels: []prompb.Label{{Name: "__name__", Value: "gone"}}, Samples: []prompb.Sample{{Value: math.Float64frombits(0x7ff0000000000002), Timestamp: ms}}}), http.StatusNoContent},
		"empty request": {ct, "snappy", rwBody(t), http.StatusNoContent},
	} {
		if w := post(e, "/api/v1/write", c.ctype, c.enc, c.body); w.Code != c.want {
			t.Errorf("%s: %d %q, want %d", name, w.Code, w.Body, c.want)
		}
	}

	// Whole-request errors: 429 with Retry-After (retried), 503.
	e.engine.err = anomaly.Errorf(anomaly.CodeOverloaded, "full")
	if w := post(e, "/api/v1/write", ct, "snappy", rwBody(t, ts("a", 1, ms))); w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" {
		t.Errorf("overloaded: %d, Retry-After %q", w.Code, w.Header().Get("Retry-After"))
	}
	e.engine.err = anomaly.Errorf(anomaly.CodeUnavailable, "draining")
	if w := post(e, "/api/v1/write", ct, "snappy", rwBody(t, ts("a", 1, ms))); w.Code != http.StatusServiceUnavailable {
		t.Errorf("unavailable: %d", w.Code)
	}
}

func TestRemoteWriteV2(t *testing.T) {
	e := newEnv(t, Config{})
	req := &writev2.Request{Symbols: []string{"", "__name__", "temp", "room", "k1"},
		Timeseries: []writev2.TimeSeries{{LabelsRefs: []uint32{1, 2, 3, 4}, Samples: []writev2.Sample{{Value: 21, Timestamp: now.UnixMilli()}}}}}
	raw, _ := req.Marshal()
	w := post(e, "/api/v1/write", "application/x-protobuf;proto=io.prometheus.write.v2.Request", "snappy", snappy.Encode(nil, raw))
	if w.Code != http.StatusNoContent || w.Header().Get("X-Prometheus-Remote-Write-Samples-Written") != "1" {
		t.Errorf("v2: %d %q, written %q", w.Code, w.Body, w.Header().Get("X-Prometheus-Remote-Write-Samples-Written"))
	}
	if len(e.engine.ingested) != 1 || e.engine.ingested[0].Series != `temp{room="k1"}` {
		t.Errorf("ingested %+v", e.engine.ingested)
	}
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func TestLineProtocolAnswers(t *testing.T) {
	e := newEnv(t, Config{MaxBodyBytes: 4096, BucketLabel: "bucket"})
	sec := now.Unix()
	body := fmt.Sprintf("cpu,host=a user=1,sys=2i %d\ncpu,host=a user=\ncpu,host=b user=3 %d\n", sec, sec)

	w := post(e, "/api/v2/write?org=o&bucket=tg&precision=s", "text/plain", "gzip", gz([]byte(body)))
	var ie influxError
	json.Unmarshal(w.Body.Bytes(), &ie)
	if w.Code != http.StatusBadRequest || ie.Code != "invalid" || ie.Line == nil || *ie.Line != 2 ||
		!strings.Contains(ie.Message, "unable to parse 'cpu,host=a user='") || !strings.Contains(ie.Message, "1 of 3 lines rejected") {
		t.Errorf("partial write: %d %s", w.Code, w.Body)
	}
	want := []string{`cpu_user{host="a",bucket="tg"}`, `cpu_sys{host="a",bucket="tg"}`, `cpu_user{host="b",bucket="tg"}`}
	if len(e.engine.ingested) != 3 {
		t.Fatalf("ingested %+v", e.engine.ingested)
	}
	for i, s := range e.engine.ingested {
		if s.Series != want[i] || s.TimestampMs != now.UnixMilli() {
			t.Errorf("sample %d = %+v, want %s at %d", i, s, want[i], now.UnixMilli())
		}
	}

	e.engine.ingested = nil
	if w := post(e, "/write?db=telegraf", "", "", []byte(fmt.Sprintf("m v=1 %d", now.UnixNano()))); w.Code != http.StatusNoContent ||
		len(e.engine.ingested) != 1 || e.engine.ingested[0].Series != `m_v{bucket="telegraf"}` {
		t.Errorf("1.x write: %d %s %+v", w.Code, w.Body, e.engine.ingested)
	}

	// Rejected by the writer: a partial write too.
	w = post(e, "/write?db=d&precision=s", "", "", []byte(fmt.Sprintf("bad v=1 %d\nok v=1 %d", sec, sec)))
	var e1 map[string]string
	json.Unmarshal(w.Body.Bytes(), &e1)
	if w.Code != http.StatusBadRequest || !strings.HasPrefix(e1["error"], "partial write:") || !strings.Contains(e1["error"], "dropped=1") {
		t.Errorf("writer rejection: %d %s", w.Code, w.Body)
	}

	big := bytes.Repeat([]byte("m v=1\n"), 2000) // 12 kB, gzips to a few hundred bytes
	for name, c := range map[string]struct {
		path, enc string
		body      []byte
		want      int
	}{
		"no bucket":     {"/api/v2/write?org=o", "", []byte("m v=1"), http.StatusBadRequest},
		"no db":         {"/write", "", []byte("m v=1"), http.StatusBadRequest},
		"bad precision": {"/api/v2/write?bucket=b&precision=h", "", []byte("m v=1"), http.StatusBadRequest},
		"gzip bomb":     {"/api/v2/write?bucket=b", "gzip", gz(big), http.StatusRequestEntityTooLarge},
		"too large":     {"/api/v2/write?bucket=b", "", big, http.StatusRequestEntityTooLarge},
		"brotli":        {"/api/v2/write?bucket=b", "br", []byte("m v=1"), http.StatusUnsupportedMediaType},
		"amplification": {"/api/v2/write?bucket=b", "gzip", gz([]byte("m,t=" + strings.Repeat("x", 3000) + " " + strings.Repeat("f=1,", 200) + "g=1")), http.StatusRequestEntityTooLarge},
		"bad gzip":      {"/api/v2/write?bucket=b", "gzip", []byte("m v=1"), http.StatusBadRequest},
		"empty":         {"/api/v2/write?bucket=b", "", nil, http.StatusNoContent},
		"future":        {"/api/v2/write?bucket=b&precision=s", "", []byte(fmt.Sprintf("m v=1 %d", sec+86400)), http.StatusBadRequest},
	} {
		if w := post(e, c.path, "", c.enc, c.body); w.Code != c.want {
			t.Errorf("%s: %d %s, want %d", name, w.Code, w.Body, c.want)
		}
	}

	e.engine.err = anomaly.Errorf(anomaly.CodeOverloaded, "full")
	if w := post(e, "/api/v2/write?bucket=b", "", "", []byte("m v=1")); w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" {
		t.Errorf("overloaded: %d %q", w.Code, w.Header().Get("Retry-After"))
	}
	req := httptest.NewRequest(http.MethodGet, "/ping", nil)
	rec := httptest.NewRecorder()
	e.api.ServeHTTP(rec, req)
	if rec.Code != http.StatusNoContent || rec.Header().Get("X-Influxdb-Version") == "" {
		t.Errorf("ping: %d", rec.Code)
	}
}

// discard is an Ingester that accepts everything, for route benchmarks.
type discard struct{}

func (discard) Ingest(_ context.Context, s []anomaly.Sample) (anomaly.IngestResult, error) {
	return anomaly.IngestResult{Accepted: len(s)}, nil
}
