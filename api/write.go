package api

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/ingest"
)

// The write routes speak the wire formats of other systems, so their
// answers are those systems' answers, not this API's JSON errors:
//
//   - POST /api/v1/write: Prometheus Remote-Write 1.0 and 2.0. 204 when
//     every sample was taken; 400 (text) for a body that does not decode
//     and for rejected samples (the valid samples of the body are kept; a
//     4xx is not retried); 413 when over the limits; 415 for an unknown
//     content type or encoding; 429 with Retry-After when the queues are
//     full and 503 while draining (both retried by Prometheus). Stale
//     markers, NaN and ±Inf samples are skipped and counted, never an error.
//   - POST /api/v2/write and POST /write: InfluxDB line protocol (2.x and
//     1.x APIs), gzip bodies included. 204 on success; a partial write keeps
//     every valid line and answers 400 with InfluxDB's error JSON
//     ({"code":"invalid","message":...,"line":N} for 2.x,
//     {"error":"partial write: ..."} for 1.x).
func (a *API) writeRoutes(r *mux.Router) {
	r.Handle("/api/v1/write", a.ingestRoute(a.wrapWrite(a.remoteWrite))).Methods(http.MethodPost)
	r.Handle("/api/v2/write", a.ingestRoute(a.wrapWrite(a.influxWriteV2))).Methods(http.MethodPost)
	r.Handle("/write", a.ingestRoute(a.wrapWrite(a.influxWriteV1))).Methods(http.MethodPost)
	r.Handle("/ping", http.HandlerFunc(influxPing)).Methods(http.MethodGet, http.MethodHead)
}

// writer is the ingester of the write routes.
func (a *API) writer() Ingester {
	if a.deps.Ingest != nil {
		return a.deps.Ingest
	}
	if a.deps.Engine != nil {
		return a.deps.Engine
	}
	return nil
}

// writeMetrics counts what the wire-format routes skipped on purpose.
type writeMetrics struct {
	skipped *prometheus.CounterVec
}

func newWriteMetrics(reg prometheus.Registerer) (*writeMetrics, error) {
	m := &writeMetrics{skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "detector_write_skipped_total",
		Help: "Values of remote-write and line-protocol bodies not ingested on purpose, by format and reason (stale, nan, inf, histogram, exemplar, string_field).",
	}, []string{"format", "reason"})}
	if reg == nil {
		return m, nil
	}
	var err error
	m.skipped, err = register(reg, m.skipped)
	return m, err
}

func (m *writeMetrics) add(format, reason string, n int) {
	if n > 0 && m != nil {
		m.skipped.WithLabelValues(format, reason).Add(float64(n))
	}
}

// writeFunc handles one write request and writes its own answer.
type writeFunc func(w http.ResponseWriter, r *http.Request)

// wrapWrite bounds a write route like wrap does a JSON route: the body is
// received under a reader turn with the slow-client deadlines, then
// decoded and applied under one of the Config.MaxInFlight turns. Refusals
// are plain text with their status (429 with Retry-After, 408, 413), as
// Prometheus and InfluxDB clients read them.
func (a *API) wrapWrite(f writeFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r, release, err := a.admitBody(w, r, false)
		if err != nil {
			code := anomaly.CodeInternal
			var ae *anomaly.Error
			switch {
			case errors.As(err, &ae):
				code = ae.Code
			case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
				infoOf(r).code = codeClientClosed // nobody reads an answer
				w.WriteHeader(StatusClientClosed)
				return
			}
			status := StatusOf(code)
			if status == http.StatusTooManyRequests {
				a.retryAfter(w)
			}
			infoOf(r).code = code
			http.Error(w, err.Error(), status)
			return
		}
		defer release()
		defer recycleBody(r) // bodybuf.go
		b, _ := bodyBytes(r)
		r.Body = io.NopCloser(bytes.NewReader(b))
		a.runIngest(r, func() { f(w, r) }) // admission.go
	})
}

func (a *API) retryAfter(w http.ResponseWriter) {
	secs := int64(math.Ceil(a.cfg.RetryAfter.Seconds()))
	w.Header().Set("Retry-After", strconv.FormatInt(max(secs, 1), 10))
}

// readWriteBody reads the body, gunzipped when Content-Encoding says gzip,
// at most Config.MaxBodyBytes before and after decompression.
func (a *API) readWriteBody(r *http.Request, allowGzip bool) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	var src io.Reader = r.Body
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		if !allowGzip {
			return nil, &encodingError{enc}
		}
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			if mb := (*http.MaxBytesError)(nil); errors.As(err, &mb) {
				return nil, err
			}
			return nil, fmt.Errorf("gzip body: %w", err)
		}
		defer zr.Close()
		src = io.LimitReader(zr, a.cfg.MaxBodyBytes+1)
	default:
		return nil, &encodingError{enc}
	}
	var buf bytes.Buffer
	if r.ContentLength > 0 && r.ContentLength < 64<<20 {
		buf.Grow(int(r.ContentLength) + bytes.MinRead)
	}
	if _, err := buf.ReadFrom(src); err != nil {
		return nil, err
	}
	if int64(buf.Len()) > a.cfg.MaxBodyBytes {
		return nil, &http.MaxBytesError{Limit: a.cfg.MaxBodyBytes}
	}
	return buf.Bytes(), nil
}

type encodingError struct{ enc string }

func (e *encodingError) Error() string {
	return fmt.Sprintf("unsupported Content-Encoding %q", e.enc)
}

// writeOutcome is the result of handing decoded samples to the writer.
type writeOutcome struct {
	accepted int
	rejected []anomaly.ItemError // early (timestamp) and writer item errors, indices into the decoded samples
	err      error               // whole-request error of the writer
}

// overloaded reports whether any sample was refused because queues were
// full: the sender should retry the request.
func (o *writeOutcome) overloaded() bool {
	if anomaly.ErrorCode(o.err) == anomaly.CodeOverloaded {
		return true
	}
	for _, e := range o.rejected {
		if e.Code == anomaly.CodeOverloaded {
			return true
		}
	}
	return false
}

// summary returns a short text naming the rejected samples.
func (o *writeOutcome) summary(samples []anomaly.Sample) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d of %d samples rejected", len(o.rejected), len(samples))
	for i, e := range o.rejected {
		if i == 3 {
			b.WriteString("; ...")
			break
		}
		series := ""
		if e.Index >= 0 && e.Index < len(samples) {
			series = samples[e.Index].Series
		}
		fmt.Fprintf(&b, "; %s %s: %s", e.Code, series, e.Message)
	}
	return b.String()
}

// ingestSamples checks the timestamps (not before 1970, not more than
// Config.MaxFuture ahead) and hands the valid samples to the writer.
func (a *API) ingestSamples(r *http.Request, samples []anomaly.Sample) writeOutcome {
	var out writeOutcome
	ing := a.writer()
	if ing == nil {
		out.err = unavailable("the write path")
		return out
	}
	limit := a.deps.Now().Add(a.cfg.MaxFuture).UnixMilli()
	valid := samples
	var orig []int
	for i, s := range samples {
		if s.TimestampMs >= 0 && s.TimestampMs <= limit {
			if orig != nil {
				valid = append(valid, s)
				orig = append(orig, i)
			}
			continue
		}
		if orig == nil { // first bad one: copy what came before
			valid = make([]anomaly.Sample, i, len(samples))
			copy(valid, samples[:i])
			orig = make([]int, i, len(samples))
			for j := range orig {
				orig[j] = j
			}
		}
		code, msg := anomaly.CodeFutureTimestamp, fmt.Sprintf("timestamp %s is more than %s ahead of the server clock",
			time.UnixMilli(s.TimestampMs).UTC().Format(time.RFC3339Nano), a.cfg.MaxFuture)
		if s.TimestampMs < 0 {
			code, msg = anomaly.CodeInvalidTimestamp, "timestamp is before 1970-01-01T00:00:00Z"
		}
		out.rejected = append(out.rejected, anomaly.ItemError{Index: i, Code: code, Field: "timestamp", Message: msg})
	}
	if len(valid) == 0 {
		return out
	}
	res, err := ing.Ingest(r.Context(), valid)
	out.accepted = res.Accepted
	for _, e := range res.Errors {
		if orig != nil && e.Index >= 0 && e.Index < len(orig) {
			e.Index = orig[e.Index]
		}
		out.rejected = append(out.rejected, e)
	}
	out.err = err
	return out
}

// decodeLimits bound what one wire-format body may decode to: remote write
// decompresses to at most 4 x MaxBodyBytes, a body yields at most
// MaxPoints samples (+1, so that tooMany words the answer) and 4 x
// MaxBodyBytes of series names.
func (a *API) decodeLimits() ingest.Limits {
	return ingest.Limits{MaxDecoded: int(4 * a.cfg.MaxBodyBytes), MaxSamples: a.cfg.MaxPoints + 1, MaxSeriesBytes: int(4 * a.cfg.MaxBodyBytes)}
}

// tooMany answers whether n samples exceed Config.MaxPoints.
func (a *API) tooMany(n int) error {
	if n > a.cfg.MaxPoints {
		return fmt.Errorf("%d samples in one request; the limit is %d: send smaller batches", n, a.cfg.MaxPoints)
	}
	return nil
}

// Remote-Write content types.
const (
	protoV1 = "prometheus.WriteRequest"
	protoV2 = "io.prometheus.write.v2.Request"
)

// remoteWrite handles POST /api/v1/write.
func (a *API) remoteWrite(w http.ResponseWriter, r *http.Request) {
	inf := infoOf(r)
	fail := func(status int, code anomaly.Code, msg string) {
		inf.code = code
		if status == http.StatusTooManyRequests {
			a.retryAfter(w)
		}
		http.Error(w, msg, status)
	}
	version := ingest.RemoteWriteV1
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		ct = "application/x-protobuf"
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/x-protobuf" {
		fail(http.StatusUnsupportedMediaType, anomaly.CodeInvalidArgument,
			fmt.Sprintf("unsupported Content-Type %q: want application/x-protobuf;proto=%s or ;proto=%s", ct, protoV1, protoV2))
		return
	}
	switch params["proto"] {
	case "", protoV1:
	case protoV2:
		version = ingest.RemoteWriteV2
	default:
		fail(http.StatusUnsupportedMediaType, anomaly.CodeInvalidArgument,
			fmt.Sprintf("unsupported remote-write message %q: want %s or %s", params["proto"], protoV1, protoV2))
		return
	}
	if enc := strings.ToLower(r.Header.Get("Content-Encoding")); enc != "" && enc != "snappy" {
		fail(http.StatusUnsupportedMediaType, anomaly.CodeInvalidArgument,
			fmt.Sprintf("unsupported Content-Encoding %q: want snappy", enc))
		return
	}
	r.Header.Del("Content-Encoding") // snappy is the decoder's business
	body, err := a.readWriteBody(r, false)
	if err != nil {
		if mb := (*http.MaxBytesError)(nil); errors.As(err, &mb) {
			fail(http.StatusRequestEntityTooLarge, anomaly.CodeTooLarge, fmt.Sprintf("request body exceeds the limit of %d bytes", mb.Limit))
			return
		}
		fail(http.StatusBadRequest, anomaly.CodeInvalidArgument, "cannot read the body: "+err.Error())
		return
	}
	samples, st, err := ingest.DecodeRemoteWrite(nil, body, version, a.decodeLimits())
	a.writes.add("remote_write", "stale", st.Stale)
	a.writes.add("remote_write", "nan", st.NaN)
	a.writes.add("remote_write", "inf", st.Inf)
	a.writes.add("remote_write", "histogram", st.Histograms)
	a.writes.add("remote_write", "exemplar", st.Exemplars)
	if errors.Is(err, ingest.ErrLimit) {
		fail(http.StatusRequestEntityTooLarge, anomaly.CodeLimit, err.Error()+": send smaller batches")
		return
	}
	if err != nil {
		fail(http.StatusBadRequest, anomaly.CodeInvalidArgument, err.Error())
		return
	}
	if err := a.tooMany(len(samples)); err != nil {
		fail(http.StatusRequestEntityTooLarge, anomaly.CodeLimit, err.Error())
		return
	}
	out := a.ingestSamples(r, samples)
	if version == ingest.RemoteWriteV2 { // the written counts, as Remote-Write 2.0 asks
		h := w.Header()
		h.Set("X-Prometheus-Remote-Write-Samples-Written", strconv.Itoa(out.accepted))
		h.Set("X-Prometheus-Remote-Write-Histograms-Written", "0")
		h.Set("X-Prometheus-Remote-Write-Exemplars-Written", "0")
	}
	switch {
	case out.err != nil && anomaly.ErrorCode(out.err) == anomaly.CodeUnavailable:
		fail(http.StatusServiceUnavailable, anomaly.CodeUnavailable, out.err.Error())
	case out.overloaded():
		// Retried whole: the samples already taken come back as duplicates
		// (a repeated last timestamp) or out of order, both harmless.
		fail(http.StatusTooManyRequests, anomaly.CodeOverloaded, "ingest queues are full; retry later")
	case out.err != nil:
		inf.err = out.err
		fail(http.StatusInternalServerError, anomaly.CodeInternal, "internal error")
	case len(out.rejected) > 0:
		fail(http.StatusBadRequest, out.rejected[0].Code, out.summary(samples))
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

// influxError is the error body of the InfluxDB 2.x API.
type influxError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Line    *int   `json:"line,omitempty"`
}

// influxWriteV2 handles POST /api/v2/write?org=&bucket=&precision=.
func (a *API) influxWriteV2(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	fail := func(status int, code, msg string, line int) {
		e := influxError{Code: code, Message: msg}
		if line > 0 {
			e.Line = &line
		}
		if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
			a.retryAfter(w)
		}
		infoOf(r).code = anomaly.Code(code)
		writeJSON(w, status, e)
	}
	bucket := q.Get("bucket")
	if bucket == "" {
		fail(http.StatusBadRequest, "invalid", "bucket is required: ?bucket=<name>", 0)
		return
	}
	a.influxWrite(w, r, q.Get("precision"), bucket, fail)
}

// influxWriteV1 handles POST /write?db=&precision= (InfluxDB 1.x).
func (a *API) influxWriteV1(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	fail := func(status int, code, msg string, _ int) {
		if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
			a.retryAfter(w)
		}
		infoOf(r).code = anomaly.Code(code)
		w.Header().Set("X-Influxdb-Error", msg)
		writeJSON(w, status, map[string]string{"error": msg})
	}
	db := q.Get("db")
	if db == "" {
		fail(http.StatusBadRequest, "invalid", "database is required", 0)
		return
	}
	a.influxWrite(w, r, q.Get("precision"), db, fail)
}

func (a *API) influxWrite(w http.ResponseWriter, r *http.Request, precision, bucket string, fail func(status int, code, msg string, line int)) {
	prec, err := ingest.ParsePrecision(precision)
	if err != nil {
		fail(http.StatusBadRequest, "invalid", err.Error(), 0)
		return
	}
	body, err := a.readWriteBody(r, true)
	if err != nil {
		var (
			mb *http.MaxBytesError
			ee *encodingError
		)
		switch {
		case errors.As(err, &mb):
			fail(http.StatusRequestEntityTooLarge, "request too large", fmt.Sprintf("request body exceeds the limit of %d bytes", mb.Limit), 0)
		case errors.As(err, &ee):
			fail(http.StatusUnsupportedMediaType, "unsupported media type", ee.Error()+": want gzip or none", 0)
		default:
			fail(http.StatusBadRequest, "invalid", "cannot read the body: "+err.Error(), 0)
		}
		return
	}
	opts := ingest.LineOptions{Precision: prec, Now: a.deps.Now(), MaxErrors: 10, Limits: a.decodeLimits()}
	if a.cfg.BucketLabel != "" {
		opts.Labels = [][2]string{{a.cfg.BucketLabel, bucket}}
	}
	samples, st, lineErrs := ingest.DecodeLines(nil, body, opts)
	a.writes.add("line_protocol", "string_field", st.StringFields)
	if st.OverLimit {
		fail(http.StatusRequestEntityTooLarge, "request too large",
			fmt.Sprintf("the body decodes to more than %d points or %d bytes of series names: send smaller batches", a.cfg.MaxPoints, 4*a.cfg.MaxBodyBytes), 0)
		return
	}
	if err := a.tooMany(len(samples)); err != nil {
		fail(http.StatusRequestEntityTooLarge, "request too large", err.Error(), 0)
		return
	}
	var out writeOutcome
	if len(samples) > 0 {
		out = a.ingestSamples(r, samples)
	}
	switch {
	case out.err != nil && anomaly.ErrorCode(out.err) == anomaly.CodeUnavailable:
		fail(http.StatusServiceUnavailable, "unavailable", out.err.Error(), 0)
	case out.overloaded():
		fail(http.StatusTooManyRequests, "too many requests", "ingest queues are full; retry later", 0)
	case out.err != nil:
		infoOf(r).err = out.err
		fail(http.StatusInternalServerError, "internal error", "internal error", 0)
	case len(lineErrs) > 0:
		first := lineErrs[0]
		msg := fmt.Sprintf("partial write: unable to parse '%s': %s; %d of %d lines rejected (dropped=%d), the valid lines were written",
			lineText(body, first.Line), first.Message, st.BadLines, st.Lines, st.BadLines)
		for _, e := range lineErrs[1:] {
			msg += "; " + e.Error()
		}
		if len(out.rejected) > 0 {
			msg += "; " + out.summary(samples)
		}
		fail(http.StatusBadRequest, "invalid", msg, first.Line)
	case len(out.rejected) > 0:
		fail(http.StatusBadRequest, "invalid", "partial write: "+out.summary(samples)+fmt.Sprintf(" dropped=%d", len(out.rejected)), 0)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

// lineText returns line n (1-based) of body, clipped to 200 bytes.
func lineText(body []byte, n int) string {
	for i := 1; i < n && len(body) > 0; i++ {
		j := bytes.IndexByte(body, '\n')
		if j < 0 {
			return ""
		}
		body = body[j+1:]
	}
	if j := bytes.IndexByte(body, '\n'); j >= 0 {
		body = body[:j]
	}
	body = bytes.TrimSuffix(body, []byte("\r"))
	if len(body) > 200 {
		return string(body[:200]) + "..."
	}
	return string(body)
}

// influxPing answers GET/HEAD /ping as InfluxDB does, for clients that
// check the server before writing.
func influxPing(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("X-Influxdb-Version", "1.8.10-detector")
	w.Header().Set("X-Influxdb-Build", "OSS")
	w.WriteHeader(http.StatusNoContent)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
