package api

import (
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gorilla/mux"
)

type openAPIDoc struct {
	OpenAPI string                                `json:"openapi"`
	Paths   map[string]map[string]json.RawMessage `json:"paths"`
}

// routeKeys lists "METHOD template" for every route of the router.
func routeKeys(t *testing.T, r *mux.Router) []string {
	t.Helper()
	var keys []string
	err := r.Walk(func(rt *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tpl, err := rt.GetPathTemplate()
		if err != nil {
			return err
		}
		methods, err := rt.GetMethods()
		if err != nil {
			t.Errorf("route %s has no methods: every route must say which it takes", tpl)
		}
		for _, m := range methods {
			keys = append(keys, m+" "+tpl)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walking routes: %v", err)
	}
	slices.Sort(keys)
	return keys
}

// TestOpenAPICoversRoutes fails when a route is missing from the document
// or the document lists one the router lacks.
func TestOpenAPICoversRoutes(t *testing.T) {
	e := newEnv(t, Config{})
	var doc openAPIDoc
	if err := json.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatalf("openapi.json does not parse: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.0.") {
		t.Errorf("openapi = %q, want 3.0.x", doc.OpenAPI)
	}
	var documented []string
	for path, ops := range doc.Paths {
		for method := range ops {
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
	}
	slices.Sort(documented)
	routes := routeKeys(t, e.api.router)
	if len(routes) < 12 {
		t.Fatalf("router has %d routes, want at least 12: %v", len(routes), routes)
	}
	for _, k := range routes {
		if !slices.Contains(documented, k) {
			t.Errorf("route %s is not in openapi.json", k)
		}
	}
	for _, k := range documented {
		if !slices.Contains(routes, k) {
			t.Errorf("openapi.json documents %s, which the router lacks", k)
		}
	}
}

var refRE = regexp.MustCompile(`"\$ref":\s*"#/([^"]+)"`)

// TestOpenAPIRefsResolve checks that every $ref points into the document
// and every path parameter is declared.
func TestOpenAPIRefsResolve(t *testing.T) {
	var root map[string]any
	if err := json.Unmarshal(OpenAPI(), &root); err != nil {
		t.Fatalf("openapi.json does not parse: %v", err)
	}
	for _, m := range refRE.FindAllStringSubmatch(string(OpenAPI()), -1) {
		var node any = root
		for _, part := range strings.Split(m[1], "/") {
			obj, ok := node.(map[string]any)
			if !ok || obj[part] == nil {
				t.Errorf("$ref #/%s does not resolve", m[1])
				break
			}
			node = obj[part]
		}
	}
	paths := root["paths"].(map[string]any)
	for path, ops := range paths {
		for _, name := range regexp.MustCompile(`\{(\w+)\}`).FindAllStringSubmatch(path, -1) {
			for method, op := range ops.(map[string]any) {
				found := false
				params, _ := op.(map[string]any)["parameters"].([]any)
				for _, p := range params {
					p := p.(map[string]any)
					if p["in"] == "path" && p["name"] == name[1] {
						found = true
					}
				}
				if !found {
					t.Errorf("%s %s does not declare path parameter %s", method, path, name[1])
				}
			}
		}
	}
}

func TestOpenAPIServed(t *testing.T) {
	e := newEnv(t, Config{})
	rec := e.do(http.MethodGet, "/api/v1/openapi.json", "")
	if rec.Code != 200 || rec.Body.String() != string(OpenAPI()) {
		t.Errorf("GET /api/v1/openapi.json = %d, %d bytes; want 200 and the embedded document", rec.Code, rec.Body.Len())
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q", ct)
	}
}
