package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/anomalyd/detector/anomaly"
)

// Authenticator finds who a bearer token belongs to. Implementations are
// safe for concurrent use (*Set and *Tokens are).
type Authenticator interface {
	Lookup(token string) (Identity, bool)
}

// Policy says which scope each request needs (table in the package
// documentation).
type Policy struct {
	// Open lists the escaped paths served without a token, any method.
	Open []string
	// ReadOnly lists "METHOD /path" pairs that need only the read scope
	// although their method is not GET or HEAD, because they change
	// nothing (POST /api/v1/detect computes a verdict and stores nothing).
	ReadOnly []string
}

// Required is the scope r needs: ScopeNone for an open path, ScopeRead for
// GET, HEAD, OPTIONS and the read-only pairs, ScopeWrite for everything
// else. Paths are compared exactly, on r.URL.EscapedPath().
func (p Policy) Required(r *http.Request) Scope {
	path := r.URL.EscapedPath()
	for _, o := range p.Open {
		if path == o {
			return ScopeNone
		}
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return ScopeRead
	}
	for _, ro := range p.ReadOnly {
		if m, rp, ok := strings.Cut(ro, " "); ok && m == r.Method && rp == path {
			return ScopeRead
		}
	}
	return ScopeWrite
}

// Options configure Middleware.
type Options struct {
	Tokens Authenticator // required
	Policy Policy
	// Registerer receives detector_auth_denied_total; nil registers nothing.
	Registerer prometheus.Registerer
	// Logger receives one debug line per denial; nil logs nothing.
	Logger *slog.Logger
}

// Denial reasons, the values of the reason label.
const (
	ReasonMissing = "missing_token"      // no Authorization: Bearer header
	ReasonInvalid = "invalid_token"      // a token no entry matches
	ReasonScope   = "insufficient_scope" // a known token with too small a scope
)

type idKey struct{}

// FromContext returns the identity the middleware authenticated for the
// request, if any (none on open paths).
func FromContext(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(idKey{}).(Identity)
	return id, ok
}

type middleware struct {
	next   http.Handler
	o      Options
	denied *prometheus.CounterVec
	log    *slog.Logger
}

// Middleware returns next behind bearer token checks: requests get through
// when their path is open or when their token's scope covers what the
// request needs; the others get 401 or 403 (see the package
// documentation). The identity is put in the request's context.
func Middleware(next http.Handler, o Options) (http.Handler, error) {
	if o.Tokens == nil {
		return nil, errors.New("auth: no tokens")
	}
	m := &middleware{next: next, o: o, log: o.Logger}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	m.denied = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "detector_auth_denied_total",
		Help: "Requests refused by access control, by reason (missing_token, invalid_token: 401; insufficient_scope: 403).",
	}, []string{"reason"})
	for _, r := range []string{ReasonMissing, ReasonInvalid, ReasonScope} {
		m.denied.WithLabelValues(r)
	}
	if o.Registerer != nil {
		if err := o.Registerer.Register(m.denied); err != nil {
			return nil, fmt.Errorf("auth: registering metrics: %w", err)
		}
	}
	return m, nil
}

func (m *middleware) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	need := m.o.Policy.Required(r)
	if need == ScopeNone {
		m.next.ServeHTTP(w, r)
		return
	}
	token, ok := bearer(r.Header.Get("Authorization"))
	if !ok {
		m.deny(w, r, ReasonMissing, http.StatusUnauthorized, anomaly.CodeUnauthorized,
			`Bearer realm="detector"`, "this request needs a bearer token: send Authorization: Bearer <token>")
		return
	}
	id, ok := m.o.Tokens.Lookup(token)
	if !ok {
		m.deny(w, r, ReasonInvalid, http.StatusUnauthorized, anomaly.CodeUnauthorized,
			`Bearer realm="detector", error="invalid_token"`, "unknown bearer token")
		return
	}
	if id.Scope < need {
		m.deny(w, r, ReasonScope, http.StatusForbidden, anomaly.CodeForbidden,
			fmt.Sprintf(`Bearer realm="detector", error="insufficient_scope", scope=%q`, need.String()),
			fmt.Sprintf("token %q has the %s scope; %s %s needs %s", id.Name, id.Scope, r.Method, r.URL.Path, need))
		return
	}
	m.next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), idKey{}, id)))
}

// bearer extracts the token of an "Authorization: Bearer <token>" header,
// or of "Authorization: Token <token>" as InfluxDB 2 clients and Telegraf
// send it; the scheme is case-insensitive.
func bearer(h string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") && !strings.EqualFold(scheme, "Token") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    anomaly.Code `json:"code"`
	Message string       `json:"message"`
}

func (m *middleware) deny(w http.ResponseWriter, r *http.Request, reason string, status int, code anomaly.Code, challenge, msg string) {
	m.denied.WithLabelValues(reason).Inc()
	m.log.Debug("request refused", "reason", reason, "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // keep "<token>" readable
	enc.Encode(errorBody{Error: errorDetail{Code: code, Message: msg}})
	h := w.Header()
	h.Set("WWW-Authenticate", challenge)
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(b.Bytes())
}
