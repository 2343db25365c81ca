package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/anomalyd/detector/anomaly"
)

// now is the fake clock of every test: Monday 2026-01-05 12:00 UTC.
var now = time.Date(2026, 1, 5, 12, 0, 0, 0, time.UTC)

// fakeEngine records what it is given. Series whose name starts with "bad"
// are rejected as invalid item errors; values of 1000 or more are
// anomalous; series "unknown" does not exist.
type fakeEngine struct {
	mu       sync.Mutex
	ingested []anomaly.Sample
	calls    int
	err      error // whole-request error of every method
	whatIf   []anomaly.Sample
	list     struct {
		match, cursor string
		limit         int
	}
}

func (f *fakeEngine) Ingest(_ context.Context, samples []anomaly.Sample) (anomaly.IngestResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.err != nil {
		return anomaly.IngestResult{}, f.err
	}
	var res anomaly.IngestResult
	for i, s := range samples {
		if strings.HasPrefix(s.Series, "bad") {
			res.Rejected++
			res.Errors = append(res.Errors, anomaly.FieldError(anomaly.CodeInvalidSeries, i, "series",
				"invalid metric name %q", s.Series).Item())
			continue
		}
		res.Accepted++
		f.ingested = append(f.ingested, s)
		if s.Value >= 1000 {
			res.Anomalies = append(res.Anomalies, verdictOf(s, anomaly.StateAnomalous))
		}
	}
	return res, nil
}

func verdictOf(s anomaly.Sample, st anomaly.State) anomaly.Verdict {
	return anomaly.Verdict{Series: s.Series, Timestamp: s.Time(), Value: s.Value, Expected: 10,
		Lower: 5, Upper: 15, Score: 0.5, Z: 1, State: st, Detector: "level"}
}

func (f *fakeEngine) lookup(series string) error {
	if f.err != nil {
		return f.err
	}
	if series == "unknown" {
		return anomaly.Errorf(anomaly.CodeNotFound, "series %q is unknown: no point of it has been ingested", series)
	}
	if strings.HasPrefix(series, "bad") {
		return anomaly.Errorf(anomaly.CodeInvalidSeries, "invalid metric name %q", series)
	}
	return nil
}

func (f *fakeEngine) Latest(_ context.Context, series string) (anomaly.Verdict, error) {
	if err := f.lookup(series); err != nil {
		return anomaly.Verdict{}, err
	}
	return verdictOf(anomaly.Sample{Series: series, TimestampMs: now.UnixMilli(), Value: 12}, anomaly.StateNormal), nil
}

func (f *fakeEngine) WhatIf(_ context.Context, series string, samples []anomaly.Sample) ([]anomaly.Verdict, error) {
	if err := f.lookup(series); err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.whatIf = append([]anomaly.Sample(nil), samples...)
	f.mu.Unlock()
	var out []anomaly.Verdict
	for _, s := range samples {
		out = append(out, verdictOf(s, anomaly.StateNormal))
	}
	return out, nil
}

func (f *fakeEngine) List(_ context.Context, match string, limit int, cursor string) (anomaly.SeriesPage, error) {
	f.mu.Lock()
	f.list.match, f.list.limit, f.list.cursor = match, limit, cursor
	f.mu.Unlock()
	if f.err != nil {
		return anomaly.SeriesPage{}, f.err
	}
	if cursor == "bad" {
		return anomaly.SeriesPage{}, &anomaly.Error{Code: anomaly.CodeInvalidArgument, Field: "cursor", Index: -1, Message: "malformed cursor"}
	}
	return anomaly.SeriesPage{Series: []anomaly.SeriesSummary{{Series: "cpu", State: anomaly.StateNormal, Points: 3}}, NextCursor: "next"}, nil
}

func (f *fakeEngine) Get(_ context.Context, series string) (anomaly.SeriesDetail, error) {
	if err := f.lookup(series); err != nil {
		return anomaly.SeriesDetail{}, err
	}
	return anomaly.SeriesDetail{SeriesSummary: anomaly.SeriesSummary{Series: series, Points: 42}, Model: "fake"}, nil
}

// fakeTimeline records the last query.
type fakeTimeline struct {
	mu sync.Mutex
	q  anomaly.TimelineQuery
}

func (f *fakeTimeline) Query(_ context.Context, q anomaly.TimelineQuery) (anomaly.AnomalyPage, error) {
	f.mu.Lock()
	f.q = q
	f.mu.Unlock()
	return anomaly.AnomalyPage{Anomalies: []anomaly.Anomaly{{ID: 7, Series: q.Series, StartedAt: now}}}, nil
}

func (f *fakeTimeline) Get(_ context.Context, id anomaly.ID) (anomaly.Anomaly, error) {
	if id != 7 {
		return anomaly.Anomaly{}, anomaly.Errorf(anomaly.CodeNotFound, "anomaly %s is not on the timeline", id)
	}
	return anomaly.Anomaly{ID: 7, Series: "cpu", StartedAt: now, Points: 2}, nil
}

// env is an API over fakes with a small body limit.
type env struct {
	api      *API
	engine   *fakeEngine
	timeline *fakeTimeline
	reg      *prometheus.Registry
	ready    bool
	batch    struct {
		samples []anomaly.Sample
		period  int64
	}
}

func newEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	e := &env{engine: &fakeEngine{}, timeline: &fakeTimeline{}, reg: prometheus.NewRegistry(), ready: true}
	a, err := New(cfg, Deps{
		Engine:   e.engine,
		Timeline: e.timeline,
		Batch: func(_ context.Context, samples []anomaly.Sample, period int64) (anomaly.BatchResult, error) {
			e.batch.samples, e.batch.period = samples, period
			res := anomaly.BatchResult{PeriodSeconds: period}
			for _, s := range samples {
				res.Verdicts = append(res.Verdicts, verdictOf(s, anomaly.StateNormal))
			}
			return res, nil
		},
		Canonical: func(s string) (string, error) {
			if strings.HasPrefix(s, "bad") {
				return "", anomaly.Errorf(anomaly.CodeInvalidSeries, "invalid metric name %q", s)
			}
			return "canon:" + s, nil
		},
		Ready:      func() bool { return e.ready },
		Gatherer:   nil, // taken from Registerer
		Registerer: e.reg,
		Now:        func() time.Time { return now },
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	e.api = a
	return e
}

// do sends one request and returns the recorded answer.
func (e *env) do(method, target, body string) *httptest.ResponseRecorder {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, rd)
	if rd != nil || method == "POST" {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	e.api.ServeHTTP(rec, req)
	return rec
}

// decode decodes a JSON answer strictly into v.
func decode(t *testing.T, rec *httptest.ResponseRecorder, v any) {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decoding answer %s: %v", rec.Body.String(), err)
	}
}

// wantError checks an error answer's status, code, field and index (index
// -1: absent).
func wantError(t *testing.T, name string, rec *httptest.ResponseRecorder, status int, code anomaly.Code, field string, index int) {
	t.Helper()
	if rec.Code != status {
		t.Errorf("%s: status = %d, want %d (body %s)", name, rec.Code, status, rec.Body.String())
	}
	var b ErrorBody
	decode(t, rec, &b)
	got := -1
	if b.Error.Index != nil {
		got = *b.Error.Index
	}
	if b.Error.Code != code || b.Error.Field != field || got != index {
		t.Errorf("%s: error = {code %q field %q index %d}, want {code %q field %q index %d} (message %q)",
			name, b.Error.Code, b.Error.Field, got, code, field, index, b.Error.Message)
	}
	if b.Error.Message == "" {
		t.Errorf("%s: error message is empty", name)
	}
}
