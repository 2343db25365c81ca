package api

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/anomalyd/detector/remediate"
)

func newRemediationAPI(t *testing.T) *API {
	t.Helper()
	x, err := remediate.New(remediate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() })
	a, err := New(Config{}, Deps{Remediations: x})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestRemediationRoutes(t *testing.T) {
	a := newRemediationAPI(t)
	rule := `{"name":"term","peer_rule":"web","events":["peer_outlier_opened"],
	  "action":{"type":"http","http":{"url":"https://ops.example.com/terminate/{{.Labels.instance}}"}}}`
	steps := []struct {
		method, path, body string
		status             int
		want               string
	}{
		{"POST", "/api/v1/remediations", rule, 201, `"dry_run":true`},
		{"POST", "/api/v1/remediations", rule, 409, `"code":"conflict"`},
		{"POST", "/api/v1/remediations", `{"name":"x","events":["peer_outlier_opened"],"peer_rule":"web","action":{"type":"command","command":"rm"}}`, 400, `--remediation-commands`},
		{"POST", "/api/v1/remediations", `{"name":"x","shell":"rm -rf /"}`, 400, `unknown field \"shell\"`},
		{"POST", "/api/v1/remediations", `{"name":"x","peer_rule":"web","events":["peer_outlier_opened"],"action":{"type":"http","http":{"url":"http://169.254.169.254/"}}}`, 400, `not allowed`},
		{"GET", "/api/v1/remediations", "", 200, `"rules":[{"name":"term"`},
		{"GET", "/api/v1/remediations/term", "", 200, `"max_group_fraction":0.1`},
		{"PATCH", "/api/v1/remediations/term", `{"dry_run":false,"cooldown":"2h"}`, 200, `"cooldown":"2h0m0s"`},
		{"PATCH", "/api/v1/remediations/term", `{"max_group_fraction":3}`, 400, `max_group_fraction`},
		{"GET", "/api/v1/remediations/nope", "", 404, `not_found`},
		{"GET", "/api/v1/remediations/kill-switch", "", 200, `"engaged":false`},
		{"PUT", "/api/v1/remediations/kill-switch", `{"engaged":true,"reason":"incident"}`, 200, `"engaged":true,"reason":"incident"`},
		{"PUT", "/api/v1/remediations/kill-switch", `{"reason":"x"}`, 400, `missing_field`},
		{"GET", "/api/v1/remediations/actions?rule=term", "", 200, `{"actions":[]}`},
		{"GET", "/api/v1/remediations/actions?anomaly_id=x", "", 400, `anomaly_id`},
		{"POST", "/api/v1/remediations/actions/7/approve", "", 404, `no pending`},
		{"DELETE", "/api/v1/remediations/term", "", 204, ``},
		{"DELETE", "/api/v1/remediations/term", "", 404, `not_found`},
	}
	for _, s := range steps {
		rec := serve(a, s.method, s.path, s.body)
		if rec.Code != s.status || !strings.Contains(rec.Body.String(), s.want) {
			t.Errorf("%s %s = %d %s, want %d containing %s", s.method, s.path, rec.Code, rec.Body, s.status, s.want)
		}
	}
}

func TestRemediationUnavailable(t *testing.T) {
	a, err := New(Config{}, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	rec := serve(a, "GET", "/api/v1/remediations/actions", "")
	var e struct {
		Error struct{ Code string } `json:"error"`
	}
	json.Unmarshal(rec.Body.Bytes(), &e)
	if rec.Code != 503 || e.Error.Code != "unavailable" {
		t.Fatalf("= %d %s, want 503 unavailable", rec.Code, rec.Body)
	}
}
