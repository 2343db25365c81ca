package auth

import (
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

var testPolicy = Policy{
	Open:     []string{"/healthz"},
	ReadOnly: []string{"POST /api/v1/detect"},
}

func TestPolicyRequired(t *testing.T) {
	cases := []struct {
		method, target string
		want           Scope
	}{
		{"GET", "/healthz", ScopeNone},
		{"POST", "/healthz", ScopeNone},
		{"GET", "/healthz/", ScopeRead}, // not literally open
		{"GET", "/healthz/../api/v1/series", ScopeRead},
		{"GET", "/api/v1/series", ScopeRead},
		{"HEAD", "/api/v1/series", ScopeRead},
		{"OPTIONS", "/api/v1/points", ScopeRead},
		{"POST", "/api/v1/detect", ScopeRead},
		{"POST", "/api/v1/detect/", ScopeWrite},
		{"POST", "/api/v1/%64etect", ScopeWrite}, // escaped spelling is not the read-only route
		{"PUT", "/api/v1/detect", ScopeWrite},
		{"POST", "/api/v1/points", ScopeWrite},
		{"DELETE", "/api/v1/peers/rules/x", ScopeWrite},
		{"PATCH", "/api/v1/series", ScopeWrite},
		{"BREW", "/api/v1/series", ScopeWrite},
	}
	for _, c := range cases {
		r := httptest.NewRequest(c.method, c.target, nil)
		if got := testPolicy.Required(r); got != c.want {
			t.Errorf("Required(%s %s) = %v, want %v", c.method, c.target, got, c.want)
		}
	}
}

func TestBearer(t *testing.T) {
	cases := []struct {
		header, token string
		ok            bool
	}{
		{"Bearer abc", "abc", true},
		{"bearer abc", "abc", true},
		{"BEARER  abc ", "abc", true},
		{"Bearer", "", false},
		{"Bearer ", "", false},
		{"Basic YWxhZGRpbjpvcGVuc2VzYW1l", "", false},
		{"", "", false},
		{"abc", "", false},
	}
	for _, c := range cases {
		if tok, ok := bearer(c.header); tok != c.token || ok != c.ok {
			t.Errorf("bearer(%q) = %q, %v, want %q, %v", c.header, tok, ok, c.token, c.ok)
		}
	}
}

func TestMiddleware(t *testing.T) {
	set, err := Parse(strings.NewReader("read " + tokA + " grafana\nwrite " + tokB + " collector\n"))
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	var seen Identity
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen, _ = FromContext(r.Context())
		w.WriteHeader(http.StatusTeapot)
	})
	h, err := Middleware(next, Options{Tokens: set, Policy: testPolicy, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		method, target, authz string
		status                int
		code                  string // JSON error code; "" when passed through
		challenge             string // substring of WWW-Authenticate
		who                   string // identity name seen by next
	}{
		{"GET", "/healthz", "", 418, "", "", ""},
		{"GET", "/healthz", "Bearer nonsense", 418, "", "", ""}, // open paths ignore the header
		{"GET", "/api/v1/series", "", 401, "unauthorized", `Bearer realm="detector"`, ""},
		{"GET", "/api/v1/series", "Basic " + tokA, 401, "unauthorized", `Bearer realm="detector"`, ""},
		{"GET", "/api/v1/series", "Bearer " + tokC, 401, "unauthorized", `error="invalid_token"`, ""},
		{"GET", "/api/v1/series", "Bearer " + tokA, 418, "", "", "grafana"},
		{"GET", "/api/v1/series", "bearer " + tokB, 418, "", "", "collector"},
		{"POST", "/api/v1/detect", "Bearer " + tokA, 418, "", "", "grafana"},
		{"POST", "/api/v1/points", "Bearer " + tokA, 403, "forbidden", `error="insufficient_scope", scope="write"`, ""},
		{"DELETE", "/api/v1/peers/rules/x", "Bearer " + tokA, 403, "forbidden", `insufficient_scope`, ""},
		{"POST", "/api/v1/points", "Bearer " + tokB, 418, "", "", "collector"},
		{"GET", "/unknown", "", 401, "unauthorized", "Bearer", ""}, // no hint whether a route exists
	}
	for _, c := range cases {
		seen = Identity{}
		r := httptest.NewRequest(c.method, c.target, nil)
		if c.authz != "" {
			r.Header.Set("Authorization", c.authz)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		desc := c.method + " " + c.target + " (" + c.authz + ")"
		if w.Code != c.status {
			t.Errorf("%s: status = %d, want %d", desc, w.Code, c.status)
			continue
		}
		if seen.Name != c.who {
			t.Errorf("%s: identity = %q, want %q", desc, seen.Name, c.who)
		}
		if c.code == "" {
			continue
		}
		var body struct {
			Error struct{ Code, Message string }
		}
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			t.Errorf("%s: body %q: %v", desc, w.Body, err)
			continue
		}
		if body.Error.Code != c.code || body.Error.Message == "" {
			t.Errorf("%s: error = %+v, want code %q and a message", desc, body.Error, c.code)
		}
		if ch := w.Header().Get("WWW-Authenticate"); !strings.Contains(ch, c.challenge) {
			t.Errorf("%s: WWW-Authenticate = %q, want it to contain %q", desc, ch, c.challenge)
		}
		if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("%s: Content-Type = %q, want application/json", desc, ct)
		}
		if strings.Contains(w.Body.String(), tokA) || strings.Contains(w.Body.String(), tokC) {
			t.Errorf("%s: the answer echoes a token: %s", desc, w.Body)
		}
	}
	// The message tells how to authenticate, unescaped.
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/api/v1/series", nil))
	if !strings.Contains(w.Body.String(), "send Authorization: Bearer <token>") {
		t.Errorf("401 body = %s, want the hint Authorization: Bearer <token>", w.Body)
	}
	want := map[string]float64{ReasonScope: 2, ReasonInvalid: 1, ReasonMissing: 4}
	if got := deniedCounts(t, reg); !maps.Equal(got, want) {
		t.Errorf("detector_auth_denied_total = %v, want %v", got, want)
	}
}

func TestMiddlewareNeedsTokens(t *testing.T) {
	if _, err := Middleware(http.NotFoundHandler(), Options{}); err == nil {
		t.Error("Middleware without tokens succeeded")
	}
}

// deniedCounts reads detector_auth_denied_total by reason from reg.
func deniedCounts(t *testing.T, reg prometheus.Gatherer) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "detector_auth_denied_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" {
					got[l.GetValue()] = m.GetCounter().GetValue()
				}
			}
		}
	}
	return got
}
