// Package web is the console: one HTML page, plain JavaScript and CSS and a
// vendored copy of uPlot (MIT, assets/uPlot.LICENSE), embedded in the
// binary. Nothing here holds data or checks tokens: the page reads
// everything from the REST API with the user's bearer token (typed into its
// login form, kept in sessionStorage, sent as an Authorization header, never
// in a URL), so the API's access control is the console's.
package web

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed assets
var assets embed.FS

// UPlotVersion is the vendored uPlot release (npm package uplot).
const UPlotVersion = "1.6.32"

// Owns reports whether path is one of the console's: the page at / and
// its assets under /ui/.
func Owns(path string) bool {
	return path == "/" || path == "/index.html" || path == "/favicon.ico" || path == "/ui" || strings.HasPrefix(path, "/ui/")
}

// csp allows nothing but this origin: no inline script, no framing, no
// third-party connections.
const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"frame-ancestors 'none'; base-uri 'none'; form-action 'none'; object-src 'none'"

// Handler serves the console: / is the page, /ui/ the assets.
func Handler() http.Handler {
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.StripPrefix("/ui/", http.FileServerFS(sub))
	index, err := fs.ReadFile(sub, "index.html")
	if err != nil {
		panic(err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		switch {
		case r.URL.Path == "/" || r.URL.Path == "/index.html":
			h.Set("Content-Type", "text/html; charset=utf-8")
			h.Set("Cache-Control", "no-cache")
			w.Write(index)
		case r.URL.Path == "/favicon.ico":
			http.Redirect(w, r, "/ui/favicon.svg", http.StatusMovedPermanently)
		case strings.HasPrefix(r.URL.Path, "/ui/") && r.URL.Path != "/ui/":
			h.Set("Cache-Control", "no-cache")
			files.ServeHTTP(w, r)
		default:
			http.NotFound(w, r)
		}
	})
}
