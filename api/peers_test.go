package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/peers"
)

// fakePeers keeps rules in a map; rule "taken" always conflicts and
// results exist for rule "plays" only.
type fakePeers struct {
	mu    sync.Mutex
	rules map[string]peers.Rule
	group string // group of the last Results call
}

func (f *fakePeers) AddRule(_ context.Context, r peers.Rule) (peers.Rule, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Name == "" {
		return peers.Rule{}, &anomaly.Error{Code: anomaly.CodeMissingField, Field: "name", Index: -1, Message: "name is required"}
	}
	if _, ok := f.rules[r.Name]; ok || r.Name == "taken" {
		return peers.Rule{}, anomaly.Errorf(anomaly.CodeConflict, "rule %q exists", r.Name)
	}
	r = r.WithDefaults()
	f.rules[r.Name] = r
	return r, nil
}

func (f *fakePeers) Rules() []peers.Rule {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []peers.Rule
	for _, r := range f.rules {
		out = append(out, r)
	}
	return out
}

func (f *fakePeers) DeleteRule(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.rules[name]; !ok {
		return anomaly.Errorf(anomaly.CodeNotFound, "no rule %q", name)
	}
	delete(f.rules, name)
	return nil
}

func (f *fakePeers) Results(rule, group string) ([]peers.GroupResult, error) {
	f.mu.Lock()
	f.group = group
	f.mu.Unlock()
	if rule != "plays" {
		return nil, anomaly.Errorf(anomaly.CodeNotFound, "no rule %q", rule)
	}
	return []peers.GroupResult{{Rule: rule, Group: "g1", EvaluatedAt: now, WindowStart: now, StepSeconds: 60,
		Eps: 0.1, MinPts: 2, Outliers: 1, Members: []peers.MemberResult{
			{Member: "d1", Cluster: -1, Outlier: true, Distance: 0.4, Reason: "level", DiffFrom: 0, DiffTo: 29},
			{Member: "d2", Cluster: 0, DiffFrom: -1, DiffTo: -1},
		}}}, nil
}

func newPeersEnv(t *testing.T) (*API, *fakePeers) {
	t.Helper()
	fp := &fakePeers{rules: map[string]peers.Rule{}}
	a, err := New(Config{}, Deps{Peers: fp, PeerDetect: peers.DetectMembers, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return a, fp
}

func serve(a *API, method, target, body string) *httptest.ResponseRecorder {
	var req *http.Request
	if body != "" {
		req = httptest.NewRequest(method, target, strings.NewReader(body))
	} else {
		req = httptest.NewRequest(method, target, nil)
	}
	if body != "" || method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	a.ServeHTTP(rec, req)
	return rec
}

func TestPeerRules(t *testing.T) {
	a, fp := newPeersEnv(t)
	rec := serve(a, "POST", "/api/v1/peers/rules",
		`{"name":"plays","match":"play_starts","group_by":["title"],"member":"device","step":"30s","eps":"auto"}`)
	if rec.Code != http.StatusCreated {
		t.Fatalf("POST rules status = %d, want 201 (%s)", rec.Code, rec.Body.String())
	}
	var got peers.Rule
	decode(t, rec, &got)
	if got.Name != "plays" || got.Step != 30*time.Second || got.Window != peers.DefaultWindow || got.Member != "device" || got.Eps != nil {
		t.Errorf("POST rules answer = %+v, want plays, step 30s, default window, member device, auto eps", got)
	}
	if r := fp.rules["plays"]; r.Match != "play_starts" || len(r.GroupBy) != 1 || r.GroupBy[0] != "title" {
		t.Errorf("store got %+v, want match play_starts grouped by title", r)
	}

	rec = serve(a, "GET", "/api/v1/peers/rules", "")
	var list RuleList
	decode(t, rec, &list)
	if rec.Code != 200 || len(list.Rules) != 1 || list.Rules[0].Name != "plays" {
		t.Errorf("GET rules = %d %+v, want 200 and the one rule", rec.Code, list)
	}

	rec = serve(a, "DELETE", "/api/v1/peers/rules/plays", "")
	if rec.Code != http.StatusNoContent || rec.Body.Len() != 0 {
		t.Errorf("DELETE rule = %d %q, want 204 and no body", rec.Code, rec.Body.String())
	}
	rec = serve(a, "GET", "/api/v1/peers/rules", "")
	if got := strings.TrimSpace(rec.Body.String()); got != `{"rules":[]}` {
		t.Errorf("GET rules after delete = %s, want an empty array", got)
	}
}

func TestPeerRuleErrors(t *testing.T) {
	a, _ := newPeersEnv(t)
	cases := []struct {
		name, method, target, body string
		status                     int
		code                       anomaly.Code
		field                      string
	}{
		{"unknown field", "POST", "/api/v1/peers/rules", `{"name":"x","match":"m","colour":1}`, 400, anomaly.CodeInvalidJSON, "colour"},
		{"wrong type", "POST", "/api/v1/peers/rules", `{"name":"x","match":"m","window":"ten"}`, 400, anomaly.CodeInvalidType, "window"},
		{"bad step", "POST", "/api/v1/peers/rules", `{"name":"x","match":"m","step":"soon"}`, 400, anomaly.CodeInvalidArgument, "step"},
		{"not an object", "POST", "/api/v1/peers/rules", `[1]`, 400, anomaly.CodeInvalidType, ""},
		{"missing name", "POST", "/api/v1/peers/rules", `{"match":"m"}`, 400, anomaly.CodeMissingField, "name"},
		{"conflict", "POST", "/api/v1/peers/rules", `{"name":"taken","match":"m"}`, 409, anomaly.CodeConflict, ""},
		{"delete unknown", "DELETE", "/api/v1/peers/rules/nope", "", 404, anomaly.CodeNotFound, ""},
		{"outliers without rule", "GET", "/api/v1/peers/outliers", "", 400, anomaly.CodeMissingField, "rule"},
		{"outliers of unknown rule", "GET", "/api/v1/peers/outliers?rule=nope", "", 404, anomaly.CodeNotFound, ""},
		{"get one rule", "GET", "/api/v1/peers/rules/plays", "", 405, codeMethodNotAllowed, ""},
	}
	for _, c := range cases {
		wantError(t, c.name, serve(a, c.method, c.target, c.body), c.status, c.code, c.field, -1)
	}
}

func TestPeerOutliers(t *testing.T) {
	a, fp := newPeersEnv(t)
	rec := serve(a, "GET", "/api/v1/peers/outliers?rule=plays&group=g1", "")
	var got OutlierList
	decode(t, rec, &got)
	if rec.Code != 200 || len(got.Groups) != 1 || got.Groups[0].Outliers != 1 || !got.Groups[0].Members[0].Outlier {
		t.Errorf("GET outliers = %d %+v, want 200 and group g1 with outlier d1", rec.Code, got)
	}
	if fp.group != "g1" {
		t.Errorf("store was asked for group %q, want g1", fp.group)
	}
}

func TestPeerDetect(t *testing.T) {
	a, _ := newPeersEnv(t)
	var b strings.Builder
	b.WriteString(`{"members":[`)
	for i := range 8 {
		if i > 0 {
			b.WriteByte(',')
		}
		level := 100.0
		if i == 5 {
			level = 160
		}
		b.WriteString(`{"member":"m` + string(rune('0'+i)) + `","values":[`)
		for s := range 20 {
			if s > 0 {
				b.WriteByte(',')
			}
			// Members differ a little and share a slow swing.
			b.WriteString(strconv.FormatFloat(level*(1+0.01*float64(i%3)+0.05*float64(s%5)), 'f', -1, 64))
		}
		b.WriteString("]}")
	}
	b.WriteString(`]}`)
	rec := serve(a, "POST", "/api/v1/peers/detect", b.String())
	if rec.Code != 200 {
		t.Fatalf("POST detect = %d (%s)", rec.Code, rec.Body.String())
	}
	var got peers.DetectResponse
	decode(t, rec, &got)
	if len(got.Members) != 8 {
		t.Fatalf("members = %d, want 8", len(got.Members))
	}
	for i, m := range got.Members {
		if m.Outlier != (i == 5) {
			t.Errorf("member %s outlier = %v, want %v (reason %q)", m.Member, m.Outlier, i == 5, m.Reason)
		}
	}

	cases := []struct {
		name, body string
		status     int
		code       anomaly.Code
		field      string
		index      int
	}{
		{"unknown field", `{"members":[],"k":1}`, 400, anomaly.CodeInvalidJSON, "k", -1},
		{"unknown member field", `{"members":[{"member":"a","values":[1],"colour":"red"}]}`, 400, anomaly.CodeInvalidJSON, "", -1},
		{"values not numbers", `{"members":[{"member":"a","values":["x"]}]}`, 400, anomaly.CodeInvalidType, "members.values", -1},
		{"no members", `{"members":[]}`, 400, anomaly.CodeMissingField, "members", -1},
		{"unequal windows", `{"members":[{"member":"a","values":[1,2]},{"member":"b","values":[1]}]}`, 400, anomaly.CodeInvalidArgument, "values", 1},
	}
	for _, c := range cases {
		wantError(t, c.name, serve(a, "POST", "/api/v1/peers/detect", c.body), c.status, c.code, c.field, c.index)
	}
}

func TestPeersUnavailable(t *testing.T) {
	a, err := New(Config{}, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{"/api/v1/peers/rules", "/api/v1/peers/outliers?rule=x"} {
		wantError(t, "GET "+target, serve(a, "GET", target, ""), 503, anomaly.CodeUnavailable, "", -1)
	}
	wantError(t, "POST detect", serve(a, "POST", "/api/v1/peers/detect", `{"members":[]}`), 503, anomaly.CodeUnavailable, "", -1)
}
