package api

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/anomalyd/detector/anomaly"
)

const tsNow = 1767614400 // now in Unix seconds

func TestIngestHappyPath(t *testing.T) {
	e := newEnv(t, Config{})
	body := `{"points":[
		{"series":"cpu{host=\"a\"}","timestamp":1767614400,"value":1.5},
		{"series":"cpu{host=\"a\"}","timestamp":"2026-01-05T12:00:01.25Z","value":2000},
		{"series":"cpu{host=\"a\"}","timestamp":1767614402.5,"value":-3e2}
	]}`
	rec := e.do("POST", "/api/v1/points", body)
	if rec.Code != http.StatusOK {
		t.Fatalf("POST /api/v1/points status = %d, want 200 (%s)", rec.Code, rec.Body.String())
	}
	var res anomaly.IngestResult
	decode(t, rec, &res)
	if res.Accepted != 3 || res.Rejected != 0 || len(res.Errors) != 0 || len(res.Anomalies) != 1 {
		t.Errorf("result = %+v, want 3 accepted, 0 rejected, no errors, 1 anomaly", res)
	}
	want := []anomaly.Sample{
		{Series: `cpu{host="a"}`, TimestampMs: 1767614400000, Value: 1.5},
		{Series: `cpu{host="a"}`, TimestampMs: 1767614401250, Value: 2000},
		{Series: `cpu{host="a"}`, TimestampMs: 1767614402500, Value: -300},
	}
	if fmt.Sprint(e.engine.ingested) != fmt.Sprint(want) {
		t.Errorf("engine got %v, want %v", e.engine.ingested, want)
	}
	// Errors and anomalies are arrays, never null.
	rec = e.do("POST", "/api/v1/points", `{"points":[]}`)
	if got := strings.TrimSpace(rec.Body.String()); got != `{"accepted":0,"rejected":0,"errors":[],"anomalies":[]}` {
		t.Errorf("empty batch answer = %s", got)
	}
	if e.engine.calls != 1 {
		t.Errorf("engine calls = %d, want 1 (an empty batch does not reach it)", e.engine.calls)
	}
}

// TestIngestBadItems puts each bad point between two good ones: the bad one
// is rejected with its code, field and index 1, the good ones are accepted.
func TestIngestBadItems(t *testing.T) {
	cases := []struct {
		name  string
		item  string
		code  anomaly.Code
		field string
	}{
		{"not an object", `[1,2]`, anomaly.CodeInvalidType, ""},
		{"string item", `"cpu 1 2"`, anomaly.CodeInvalidType, ""},
		{"series as number", `{"series":42,"timestamp":1767614400,"value":1}`, anomaly.CodeInvalidType, "series"},
		{"series null", `{"series":null,"timestamp":1767614400,"value":1}`, anomaly.CodeInvalidType, "series"},
		{"series empty", `{"series":"","timestamp":1767614400,"value":1}`, anomaly.CodeInvalidSeries, "series"},
		{"series missing", `{"timestamp":1767614400,"value":1}`, anomaly.CodeMissingField, "series"},
		{"timestamp missing", `{"series":"cpu","value":1}`, anomaly.CodeMissingField, "timestamp"},
		{"value missing", `{"series":"cpu","timestamp":1767614400}`, anomaly.CodeMissingField, "value"},
		{"value as string abc", `{"series":"cpu","timestamp":1767614400,"value":"abc"}`, anomaly.CodeInvalidType, "value"},
		{"value as numeric string", `{"series":"cpu","timestamp":1767614400,"value":"1.5"}`, anomaly.CodeInvalidType, "value"},
		{"value bool", `{"series":"cpu","timestamp":1767614400,"value":true}`, anomaly.CodeInvalidType, "value"},
		{"value null", `{"series":"cpu","timestamp":1767614400,"value":null}`, anomaly.CodeInvalidType, "value"},
		{"value object", `{"series":"cpu","timestamp":1767614400,"value":{"v":1}}`, anomaly.CodeInvalidType, "value"},
		{"value NaN", `{"series":"cpu","timestamp":1767614400,"value":"NaN"}`, anomaly.CodeInvalidValue, "value"},
		{"value Inf", `{"series":"cpu","timestamp":1767614400,"value":"Inf"}`, anomaly.CodeInvalidValue, "value"},
		{"value +Inf", `{"series":"cpu","timestamp":1767614400,"value":"+Inf"}`, anomaly.CodeInvalidValue, "value"},
		{"value -Inf", `{"series":"cpu","timestamp":1767614400,"value":"-Inf"}`, anomaly.CodeInvalidValue, "value"},
		{"value overflows", `{"series":"cpu","timestamp":1767614400,"value":1e400}`, anomaly.CodeInvalidValue, "value"},
		{"value overflows negative", `{"series":"cpu","timestamp":1767614400,"value":-2e308}`, anomaly.CodeInvalidValue, "value"},
		{"timestamp bool", `{"series":"cpu","timestamp":true,"value":1}`, anomaly.CodeInvalidType, "timestamp"},
		{"timestamp null", `{"series":"cpu","timestamp":null,"value":1}`, anomaly.CodeInvalidType, "timestamp"},
		{"timestamp array", `{"series":"cpu","timestamp":[1],"value":1}`, anomaly.CodeInvalidType, "timestamp"},
		{"timestamp unparseable", `{"series":"cpu","timestamp":"yesterday","value":1}`, anomaly.CodeInvalidTimestamp, "timestamp"},
		{"timestamp no zone", `{"series":"cpu","timestamp":"2026-01-05T12:00:00","value":1}`, anomaly.CodeInvalidTimestamp, "timestamp"},
		{"timestamp date only", `{"series":"cpu","timestamp":"2026-01-05","value":1}`, anomaly.CodeInvalidTimestamp, "timestamp"},
		{"timestamp before 1970", `{"series":"cpu","timestamp":-1,"value":1}`, anomaly.CodeInvalidTimestamp, "timestamp"},
		{"timestamp before 1970 text", `{"series":"cpu","timestamp":"1969-12-31T23:59:59Z","value":1}`, anomaly.CodeInvalidTimestamp, "timestamp"},
		{"timestamp 11 minutes ahead", `{"series":"cpu","timestamp":1767615060,"value":1}`, anomaly.CodeFutureTimestamp, "timestamp"},
		{"timestamp far ahead text", `{"series":"cpu","timestamp":"2031-01-01T00:00:00Z","value":1}`, anomaly.CodeFutureTimestamp, "timestamp"},
		{"timestamp in milliseconds", `{"series":"cpu","timestamp":1767614400000,"value":1}`, anomaly.CodeFutureTimestamp, "timestamp"},
		{"timestamp huge", `{"series":"cpu","timestamp":1e300,"value":1}`, anomaly.CodeFutureTimestamp, "timestamp"},
		{"timestamp NaN text", `{"series":"cpu","timestamp":"NaN","value":1}`, anomaly.CodeInvalidTimestamp, "timestamp"},
		{"unknown field", `{"series":"cpu","timestamp":1767614400,"value":1,"labels":{}}`, anomaly.CodeInvalidJSON, "labels"},
		{"unknown escaped field", `{"series":"cpu","timestamp":1767614400,"value":1,"v\u00e4lue":1}`, anomaly.CodeInvalidJSON, "välue"},
		{"invalid series (engine)", `{"series":"bad{","timestamp":1767614400,"value":1}`, anomaly.CodeInvalidSeries, "series"},
	}
	good := `{"series":"cpu","timestamp":1767614400,"value":1}`
	for _, c := range cases {
		e := newEnv(t, Config{})
		body := `{"points":[` + good + `,` + c.item + `,` + good + `]}`
		rec := e.do("POST", "/api/v1/points", body)
		if rec.Code != http.StatusOK {
			t.Errorf("%s: status = %d, want 200 (%s)", c.name, rec.Code, rec.Body.String())
			continue
		}
		var res anomaly.IngestResult
		decode(t, rec, &res)
		if res.Accepted != 2 || res.Rejected != 1 || len(res.Errors) != 1 {
			t.Errorf("%s: accepted, rejected, errors = %d, %d, %v, want 2, 1, one error", c.name, res.Accepted, res.Rejected, res.Errors)
			continue
		}
		if got := res.Errors[0]; got.Index != 1 || got.Code != c.code || got.Field != c.field || got.Message == "" {
			t.Errorf("%s: error = %+v, want index 1, code %q, field %q and a message", c.name, got, c.code, c.field)
		}
		if len(e.engine.ingested) != 2 {
			t.Errorf("%s: engine stored %d points, want the 2 good ones", c.name, len(e.engine.ingested))
		}
	}
}

// TestIngestIndexRemapping mixes API rejections and engine rejections: the
// engine sees only the valid points, and its indices are mapped back.
func TestIngestIndexRemapping(t *testing.T) {
	e := newEnv(t, Config{})
	items := []string{
		`{"series":"cpu","timestamp":1767614400,"value":1}`,     // 0 ok
		`{"series":"cpu","timestamp":"x","value":1}`,            // 1 api: timestamp
		`{"series":"bad1","timestamp":1767614400,"value":1}`,    // 2 engine: series
		`{"series":"cpu","timestamp":1767614400,"value":"NaN"}`, // 3 api: value
		`{"series":"cpu","timestamp":1767614401,"value":5000}`,  // 4 ok, anomalous
		`{"series":"bad2","timestamp":1767614400,"value":1}`,    // 5 engine: series
		`{"series":"cpu","timestamp":1767614402,"value":3}`,     // 6 ok
	}
	rec := e.do("POST", "/api/v1/points", `{"points":[`+strings.Join(items, ",")+`]}`)
	var res anomaly.IngestResult
	decode(t, rec, &res)
	var got []string
	for _, it := range res.Errors {
		got = append(got, fmt.Sprintf("%d:%s:%s", it.Index, it.Code, it.Field))
	}
	want := "[1:invalid_timestamp:timestamp 2:invalid_series:series 3:invalid_value:value 5:invalid_series:series]"
	if fmt.Sprint(got) != want {
		t.Errorf("errors = %v, want %s", got, want)
	}
	if res.Accepted != 3 || res.Rejected != 4 {
		t.Errorf("accepted, rejected = %d, %d, want 3, 4", res.Accepted, res.Rejected)
	}
	if len(res.Anomalies) != 1 || res.Anomalies[0].Value != 5000 {
		t.Errorf("anomalies = %+v, want the verdict of value 5000", res.Anomalies)
	}
	if len(e.engine.ingested) != 3 {
		t.Errorf("engine stored %d points, want 3", len(e.engine.ingested))
	}
}

func TestIngestWholeRequestErrors(t *testing.T) {
	cases := []struct {
		name   string
		body   string
		status int
		code   anomaly.Code
		field  string
	}{
		{"empty body", ``, 400, anomaly.CodeInvalidJSON, ""},
		{"malformed", `{"points":[`, 400, anomaly.CodeInvalidJSON, ""},
		{"malformed inside an item", `{"points":[{"series":"cpu",}]}`, 400, anomaly.CodeInvalidJSON, ""},
		{"not an object", `[1,2,3]`, 400, anomaly.CodeInvalidType, ""},
		{"trailing data", `{"points":[]} {}`, 400, anomaly.CodeInvalidJSON, ""},
		{"unknown top-level field", `{"points":[],"pointz":[]}`, 400, anomaly.CodeInvalidJSON, "pointz"},
		{"points missing", `{}`, 400, anomaly.CodeMissingField, "points"},
		{"points null", `{"points":null}`, 400, anomaly.CodeMissingField, "points"},
		{"points an object", `{"points":{"series":"cpu"}}`, 400, anomaly.CodeInvalidType, "points"},
		{"too many points", `{"points":[1,2,3,4,5,6]}`, 413, anomaly.CodeLimit, "points"},
		{"body too large", `{"points":[` + strings.Repeat(`{"series":"cpu","timestamp":1,"value":1},`, 40) + `]}`, 413, anomaly.CodeTooLarge, ""},
	}
	for _, c := range cases {
		e := newEnv(t, Config{MaxPoints: 5, MaxBodyBytes: 1024})
		rec := e.do("POST", "/api/v1/points", c.body)
		wantError(t, c.name, rec, c.status, c.code, c.field, -1)
		if e.engine.calls != 0 {
			t.Errorf("%s: the engine was called", c.name)
		}
	}
}

func TestIngestEngineErrors(t *testing.T) {
	e := newEnv(t, Config{RetryAfter: 1500 * time.Millisecond})
	body := `{"points":[{"series":"cpu","timestamp":1767614400,"value":1}]}`

	e.engine.err = anomaly.Errorf(anomaly.CodeOverloaded, "queues are full")
	rec := e.do("POST", "/api/v1/points", body)
	wantError(t, "overloaded", rec, 429, anomaly.CodeOverloaded, "", -1)
	if ra := rec.Header().Get("Retry-After"); ra != "2" {
		t.Errorf("Retry-After = %q, want \"2\" (1.5 s rounded up)", ra)
	}

	e.engine.err = anomaly.Errorf(anomaly.CodeUnavailable, "shutting down")
	rec = e.do("POST", "/api/v1/points", body)
	wantError(t, "unavailable", rec, 503, anomaly.CodeUnavailable, "", -1)

	e.engine.err = fmt.Errorf("disk on fire")
	rec = e.do("POST", "/api/v1/points", body)
	wantError(t, "plain error", rec, 500, anomaly.CodeInternal, "", -1)
	if strings.Contains(rec.Body.String(), "fire") {
		t.Errorf("internal error text leaked to the client: %s", rec.Body.String())
	}
}

func TestLatest(t *testing.T) {
	e := newEnv(t, Config{})
	rec := e.do("GET", "/api/v1/detect?series="+url.QueryEscape(`cpu{host="a"}`), "")
	var v anomaly.Verdict
	decode(t, rec, &v)
	if rec.Code != 200 || v.Series != `cpu{host="a"}` || v.State != anomaly.StateNormal {
		t.Errorf("GET detect = %d %+v, want 200 and the verdict of cpu{host=\"a\"}", rec.Code, v)
	}
	// Every verdict field is present, anomaly_id null when not in an anomaly.
	for _, f := range []string{`"series"`, `"timestamp"`, `"value"`, `"expected"`, `"lower"`, `"upper"`, `"score"`, `"z"`, `"state"`, `"detector"`, `"anomaly_id":null`} {
		if !strings.Contains(rec.Body.String(), f) {
			t.Errorf("verdict %s lacks %s", rec.Body.String(), f)
		}
	}
	wantError(t, "unknown", e.do("GET", "/api/v1/detect?series=unknown", ""), 404, anomaly.CodeNotFound, "", -1)
	wantError(t, "missing", e.do("GET", "/api/v1/detect", ""), 400, anomaly.CodeMissingField, "series", -1)
	wantError(t, "invalid", e.do("GET", "/api/v1/detect?series=bad%7B", ""), 400, anomaly.CodeInvalidSeries, "", -1)
}

func TestWhatIf(t *testing.T) {
	e := newEnv(t, Config{})
	rec := e.do("POST", "/api/v1/detect", `{"series":"cpu","points":[{"timestamp":1767614400,"value":1},{"timestamp":"2030-01-01T00:00:00Z","value":2}]}`)
	var res VerdictList
	decode(t, rec, &res)
	if rec.Code != 200 || len(res.Verdicts) != 2 {
		t.Fatalf("POST detect = %d with %d verdicts, want 200 and 2", rec.Code, len(res.Verdicts))
	}
	want := []anomaly.Sample{{Series: "cpu", TimestampMs: 1767614400000, Value: 1}, {Series: "cpu", TimestampMs: 1893456000000, Value: 2}}
	if fmt.Sprint(e.engine.whatIf) != fmt.Sprint(want) {
		t.Errorf("engine what-if got %v, want %v", e.engine.whatIf, want)
	}
	rec = e.do("POST", "/api/v1/detect", `{"series":"cpu","points":[]}`)
	if got := strings.TrimSpace(rec.Body.String()); got != `{"verdicts":[]}` {
		t.Errorf("what-if without points = %s, want {\"verdicts\":[]}", got)
	}

	cases := []struct {
		name   string
		body   string
		status int
		code   anomaly.Code
		field  string
		index  int
	}{
		{"bad value", `{"series":"cpu","points":[{"timestamp":1,"value":1},{"timestamp":2,"value":"Inf"}]}`, 400, anomaly.CodeInvalidValue, "value", 1},
		{"series in a point", `{"series":"cpu","points":[{"series":"x","timestamp":1,"value":1}]}`, 400, anomaly.CodeInvalidJSON, "series", 0},
		{"series missing", `{"points":[]}`, 400, anomaly.CodeMissingField, "series", -1},
		{"series a number", `{"series":3,"points":[]}`, 400, anomaly.CodeInvalidType, "series", -1},
		{"points missing", `{"series":"cpu"}`, 400, anomaly.CodeMissingField, "points", -1},
		{"unknown series", `{"series":"unknown","points":[]}`, 404, anomaly.CodeNotFound, "", -1},
	}
	for _, c := range cases {
		wantError(t, c.name, e.do("POST", "/api/v1/detect", c.body), c.status, c.code, c.field, c.index)
	}
}

func TestBatch(t *testing.T) {
	e := newEnv(t, Config{})
	rec := e.do("POST", "/api/v1/detect/batch", `{"series":"taxi","period":86400,"points":[{"timestamp":1767614400,"value":1},{"timestamp":1767614700,"value":2}]}`)
	var res anomaly.BatchResult
	decode(t, rec, &res)
	if rec.Code != 200 || len(res.Verdicts) != 2 || res.PeriodSeconds != 86400 {
		t.Fatalf("POST detect/batch = %d %+v, want 200, 2 verdicts, period 86400", rec.Code, res)
	}
	if e.batch.period != 86400 || len(e.batch.samples) != 2 || e.batch.samples[1].Series != "taxi" || e.batch.samples[1].TimestampMs != 1767614700000 {
		t.Errorf("batch func got period %d, samples %v", e.batch.period, e.batch.samples)
	}
	rec = e.do("POST", "/api/v1/detect/batch", `{"points":[{"timestamp":1767614400,"value":1}]}`)
	if rec.Code != 200 || e.batch.period != 0 || e.batch.samples[0].Series != "" {
		t.Errorf("batch without series and period: status %d, period %d, series %q", rec.Code, e.batch.period, e.batch.samples[0].Series)
	}
	cases := []struct {
		name  string
		body  string
		code  anomaly.Code
		field string
		index int
	}{
		{"negative period", `{"period":-1,"points":[]}`, anomaly.CodeInvalidArgument, "period", -1},
		{"fractional period", `{"period":1.5,"points":[]}`, anomaly.CodeInvalidArgument, "period", -1},
		{"period a string", `{"period":"daily","points":[]}`, anomaly.CodeInvalidType, "period", -1},
		{"bad timestamp", `{"points":[{"timestamp":1,"value":1},{"timestamp":1,"value":1},{"timestamp":false,"value":1}]}`, anomaly.CodeInvalidType, "timestamp", 2},
		{"points missing", `{"period":0}`, anomaly.CodeMissingField, "points", -1},
	}
	for _, c := range cases {
		wantError(t, c.name, e.do("POST", "/api/v1/detect/batch", c.body), 400, c.code, c.field, c.index)
	}
}

func TestSeries(t *testing.T) {
	e := newEnv(t, Config{MaxLimit: 50})
	rec := e.do("GET", "/api/v1/series?match="+url.QueryEscape(`{device="tv"}`)+"&limit=500&cursor=abc", "")
	var page anomaly.SeriesPage
	decode(t, rec, &page)
	if rec.Code != 200 || len(page.Series) != 1 || page.NextCursor != "next" {
		t.Errorf("GET series = %d %+v", rec.Code, page)
	}
	if l := e.engine.list; l.match != `{device="tv"}` || l.limit != 50 || l.cursor != "abc" {
		t.Errorf("engine List got %+v, want match {device=\"tv\"}, limit 50 (capped), cursor abc", l)
	}
	e.do("GET", "/api/v1/series", "")
	if l := e.engine.list; l.match != "" || l.limit != 50 || l.cursor != "" {
		t.Errorf("engine List got %+v, want no match, default limit (50 after the cap), no cursor", l)
	}
	wantError(t, "bad limit", e.do("GET", "/api/v1/series?limit=ten", ""), 400, anomaly.CodeInvalidArgument, "limit", -1)
	wantError(t, "negative limit", e.do("GET", "/api/v1/series?limit=-1", ""), 400, anomaly.CodeInvalidArgument, "limit", -1)
	wantError(t, "bad cursor", e.do("GET", "/api/v1/series?cursor=bad", ""), 400, anomaly.CodeInvalidArgument, "cursor", -1)

	// A series with slashes, braces and quotes survives URL escaping.
	name := `http_requests{path="/api/v1/x",code="200"}`
	rec = e.do("GET", "/api/v1/series/"+strings.ReplaceAll(url.PathEscape(name), "/", "%2F"), "")
	var d anomaly.SeriesDetail
	decode(t, rec, &d)
	if rec.Code != 200 || d.Series != name || d.Points != 42 {
		t.Errorf("GET series/{%s} = %d, series %q, points %d", name, rec.Code, d.Series, d.Points)
	}
	if !strings.Contains(rec.Body.String(), `"recent_verdicts":[]`) || !strings.Contains(rec.Body.String(), `"seasonal":[]`) {
		t.Errorf("detail has null arrays: %s", rec.Body.String())
	}
	wantError(t, "unknown series", e.do("GET", "/api/v1/series/unknown", ""), 404, anomaly.CodeNotFound, "", -1)
}

func TestAnomalies(t *testing.T) {
	e := newEnv(t, Config{})
	rec := e.do("GET", "/api/v1/anomalies?series=cpu&since=2026-01-05T00:00:00Z&until=1767614400.5&state=open&limit=2&cursor=c1", "")
	var page anomaly.AnomalyPage
	decode(t, rec, &page)
	if rec.Code != 200 || len(page.Anomalies) != 1 {
		t.Fatalf("GET anomalies = %d %+v", rec.Code, page)
	}
	want := anomaly.TimelineQuery{Series: "canon:cpu", Since: time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC),
		Until: time.UnixMilli(1767614400500).UTC(), State: "open", Limit: 2, Cursor: "c1"}
	if e.timeline.q != want {
		t.Errorf("timeline query = %+v, want %+v", e.timeline.q, want)
	}
	if !strings.Contains(rec.Body.String(), `"ended_at":null`) {
		t.Errorf("open anomaly lacks ended_at null: %s", rec.Body.String())
	}
	cases := []struct {
		name, query string
		code        anomaly.Code
		field       string
	}{
		{"bad since", "since=yesterday", anomaly.CodeInvalidArgument, "since"},
		{"bad until", "until=2026-13-01T00:00:00Z", anomaly.CodeInvalidArgument, "until"},
		{"until before since", "since=100&until=50", anomaly.CodeInvalidArgument, "since"},
		{"bad state", "state=closed", anomaly.CodeInvalidArgument, "state"},
		{"bad limit", "limit=1.5", anomaly.CodeInvalidArgument, "limit"},
		{"invalid series", "series=bad%7B", anomaly.CodeInvalidSeries, ""},
	}
	for _, c := range cases {
		wantError(t, c.name, e.do("GET", "/api/v1/anomalies?"+c.query, ""), 400, c.code, c.field, -1)
	}

	rec = e.do("GET", "/api/v1/anomalies/7", "")
	var a anomaly.Anomaly
	decode(t, rec, &a)
	if rec.Code != 200 || a.ID != 7 || a.Points != 2 {
		t.Errorf("GET anomalies/7 = %d %+v", rec.Code, a)
	}
	if !strings.Contains(rec.Body.String(), `"id":"7"`) {
		t.Errorf("anomaly id not written as a string: %s", rec.Body.String())
	}
	wantError(t, "unknown id", e.do("GET", "/api/v1/anomalies/8", ""), 404, anomaly.CodeNotFound, "", -1)
	wantError(t, "bad id", e.do("GET", "/api/v1/anomalies/x", ""), 400, anomaly.CodeInvalidArgument, "id", -1)
	wantError(t, "zero id", e.do("GET", "/api/v1/anomalies/0", ""), 400, anomaly.CodeInvalidArgument, "id", -1)
}

func TestHealthReadyMetrics(t *testing.T) {
	e := newEnv(t, Config{})
	if rec := e.do("GET", "/healthz", ""); rec.Code != 200 || strings.TrimSpace(rec.Body.String()) != `{"status":"ok"}` {
		t.Errorf("healthz = %d %s", rec.Code, rec.Body.String())
	}
	if rec := e.do("GET", "/readyz", ""); rec.Code != 200 {
		t.Errorf("readyz while ready = %d, want 200", rec.Code)
	}
	e.ready = false
	wantError(t, "readyz not ready", e.do("GET", "/readyz", ""), 503, anomaly.CodeUnavailable, "", -1)
	if rec := e.do("GET", "/healthz", ""); rec.Code != 200 {
		t.Errorf("healthz while not ready = %d, want 200", rec.Code)
	}

	e.do("GET", "/api/v1/detect?series=unknown", "")
	e.do("GET", "/nope", "")
	rec := e.do("GET", "/metrics", "")
	if rec.Code != 200 {
		t.Fatalf("metrics = %d", rec.Code)
	}
	for _, line := range []string{
		`detector_http_requests_total{code="404",method="GET",route="/api/v1/detect"} 1`,
		`detector_http_requests_total{code="404",method="GET",route="unmatched"} 1`,
		`detector_http_requests_total{code="503",method="GET",route="/readyz"} 1`,
		`detector_http_request_duration_seconds_count{code="200",method="GET",route="/healthz"} 2`,
	} {
		if !strings.Contains(rec.Body.String(), line) {
			t.Errorf("metrics lack %s", line)
		}
	}
}

func TestUnknownRouteAndMethod(t *testing.T) {
	e := newEnv(t, Config{})
	wantError(t, "unknown route", e.do("GET", "/api/v1/nope", ""), 404, anomaly.CodeNotFound, "", -1)
	wantError(t, "empty series segment", e.do("GET", "/api/v1/series/", ""), 404, anomaly.CodeNotFound, "", -1)
	rec := e.do("DELETE", "/api/v1/points", "")
	wantError(t, "wrong method", rec, 405, codeMethodNotAllowed, "", -1)
	if allow := rec.Header().Get("Allow"); allow != "POST" {
		t.Errorf("Allow on /api/v1/points = %q, want POST", allow)
	}
	rec = e.do("PUT", "/api/v1/detect", "")
	if allow := rec.Header().Get("Allow"); allow != "GET, POST" {
		t.Errorf("Allow on /api/v1/detect = %q, want \"GET, POST\"", allow)
	}
}

func TestMissingDeps(t *testing.T) {
	a, err := New(Config{}, Deps{})
	if err != nil {
		t.Fatalf("New with no deps: %v", err)
	}
	e := &env{api: a}
	for _, target := range []string{"/api/v1/detect?series=cpu", "/api/v1/series", "/api/v1/series/cpu", "/api/v1/anomalies", "/api/v1/anomalies/1"} {
		wantError(t, "GET "+target, e.do("GET", target, ""), 503, anomaly.CodeUnavailable, "", -1)
	}
	for _, target := range []string{"/api/v1/points", "/api/v1/detect", "/api/v1/detect/batch"} {
		wantError(t, "POST "+target, e.do("POST", target, `{"points":[]}`), 503, anomaly.CodeUnavailable, "", -1)
	}
	if rec := e.do("GET", "/metrics", ""); rec.Code != 200 {
		t.Errorf("metrics without a registry = %d, want 200", rec.Code)
	}
	if _, err := New(Config{MaxPoints: -1}, Deps{}); err == nil {
		t.Errorf("New with a negative limit: no error")
	}
}

// TestStatusTable checks that every code of the vocabulary has its status.
func TestStatusTable(t *testing.T) {
	want := map[anomaly.Code]int{
		anomaly.CodeInvalidJSON: 400, anomaly.CodeInvalidArgument: 400, anomaly.CodeMissingField: 400,
		anomaly.CodeInvalidType: 400, anomaly.CodeInvalidSeries: 400, anomaly.CodeInvalidTimestamp: 400,
		anomaly.CodeFutureTimestamp: 400, anomaly.CodeInvalidValue: 400, anomaly.CodeOutOfOrder: 422,
		anomaly.CodeLimit: 413, anomaly.CodeTooLarge: 413, anomaly.CodeNotFound: 404, anomaly.CodeConflict: 409,
		anomaly.CodeOverloaded: 429, anomaly.CodeUnavailable: 503, anomaly.CodeInternal: 500,
		codeMethodNotAllowed: 405, "no_such_code": 500,
	}
	for code, status := range want {
		if got := StatusOf(code); got != status {
			t.Errorf("StatusOf(%q) = %d, want %d", code, got, status)
		}
	}
}
