package api

import (
	"bytes"
	_ "embed"
	"net/http"
)

// openAPI is the OpenAPI 3.0 document of every route, kept beside the code
// and checked against the router by a test.
//
//go:embed openapi.json
var openAPI []byte

// OpenAPI returns the OpenAPI document served at /api/v1/openapi.json.
func OpenAPI() []byte { return bytes.Clone(openAPI) }

func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Write(openAPI)
}
