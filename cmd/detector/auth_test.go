package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"flag"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	readToken  = "read-token-0123456789abcdef"
	writeToken = "write-token-0123456789abcdef"
	newToken   = "rotated-token-0123456789abcdef"
)

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func writeTokens(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// startSecured starts a Main with the given access settings on a loopback
// port. The cleanup closes it and checks that serving (and with it the
// SIGHUP watcher) has ended.
func startSecured(t *testing.T, ac AuthConfig) (*Main, *syncBuffer) {
	t.Helper()
	logs := new(syncBuffer)
	m, err := NewMain(Config{Listen: "127.0.0.1:0", Auth: ac}, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		select {
		case <-m.served: // serveOn returned, after stopping its watcher
		case <-time.After(30 * time.Second):
			t.Error("serveOn did not return after Close")
		}
	})
	return m, logs
}

type answer struct {
	status    int
	code      string // the JSON error code, if any
	challenge string
	body      string
}

func do(t *testing.T, c *http.Client, method, url, token, body string) answer {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var e struct{ Error struct{ Code string } }
	json.Unmarshal(b, &e)
	return answer{resp.StatusCode, e.Error.Code, resp.Header.Get("WWW-Authenticate"), string(b)}
}

const onePoint = `{"points":[{"series":"cpu{host=\"a\"}","timestamp":"2026-01-01T00:00:00Z","value":1}]}`

func TestAuthRoutes(t *testing.T) {
	tokens := filepath.Join(t.TempDir(), "tokens")
	writeTokens(t, tokens, "# test tokens\nread "+readToken+" dashboards\nwrite "+writeToken+" collector\n")
	m, _ := startSecured(t, AuthConfig{TokenFile: tokens})
	base := "http://" + m.Addr()
	c := http.DefaultClient
	cases := []struct {
		name, method, path, token, body string
		status                          int
		code                            string
	}{
		{"no token", "GET", "/api/v1/series", "", "", 401, "unauthorized"},
		{"unknown token", "GET", "/api/v1/series", "not-a-known-token-at-all", "", 401, "unauthorized"},
		{"read token reads", "GET", "/api/v1/series", readToken, "", 200, ""},
		{"write token reads", "GET", "/api/v1/anomalies", writeToken, "", 200, ""},
		{"read token writes", "POST", "/api/v1/points", readToken, onePoint, 403, "forbidden"},
		{"write token writes", "POST", "/api/v1/points", writeToken, onePoint, 200, ""},
		{"read token asks what-if", "POST", "/api/v1/detect", readToken,
			`{"series":"cpu{host=\"a\"}","points":[{"timestamp":"2026-01-01T00:01:00Z","value":2}]}`, 200, ""},
		{"read token deletes a rule", "DELETE", "/api/v1/peers/rules/x", readToken, "", 403, "forbidden"},
		{"write token deletes a missing rule", "DELETE", "/api/v1/peers/rules/x", writeToken, "", 404, "not_found"},
		{"no token on an unknown route", "GET", "/nope", "", "", 401, "unauthorized"},
		{"healthz is open", "GET", "/healthz", "", "", 200, ""},
		{"readyz is open", "GET", "/readyz", "", "", 200, ""},
		{"metrics are closed", "GET", "/metrics", "", "", 401, "unauthorized"},
		{"metrics with a read token", "GET", "/metrics", readToken, "", 200, ""},
	}
	for _, tc := range cases {
		a := do(t, c, tc.method, base+tc.path, tc.token, tc.body)
		if a.status != tc.status || a.code != tc.code {
			t.Errorf("%s: %s %s = %d %q, want %d %q\n%s", tc.name, tc.method, tc.path, a.status, a.code, tc.status, tc.code, a.body)
		}
		if tc.status == 401 && !strings.HasPrefix(a.challenge, "Bearer") {
			t.Errorf("%s: WWW-Authenticate = %q, want a Bearer challenge", tc.name, a.challenge)
		}
	}
	// Denials are counted: 3 without or with an unknown token on
	// /api/v1/series, /nope, /metrics; 2 out of scope.
	metrics := do(t, c, "GET", base+"/metrics", readToken, "").body
	for _, want := range []string{
		`detector_auth_denied_total{reason="missing_token"} 3`,
		`detector_auth_denied_total{reason="invalid_token"} 1`,
		`detector_auth_denied_total{reason="insufficient_scope"} 2`,
		`detector_auth_tokens 2`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestAuthOpenPaths(t *testing.T) {
	tokens := filepath.Join(t.TempDir(), "tokens")
	writeTokens(t, tokens, "read "+readToken+"\n")
	m, _ := startSecured(t, AuthConfig{TokenFile: tokens, ProtectHealth: true, OpenMetrics: true})
	base := "http://" + m.Addr()
	for _, tc := range []struct {
		path, token string
		status      int
	}{
		{"/healthz", "", 401}, {"/readyz", "", 401}, {"/healthz", readToken, 200}, {"/metrics", "", 200},
	} {
		if a := do(t, http.DefaultClient, "GET", base+tc.path, tc.token, ""); a.status != tc.status {
			t.Errorf("GET %s with token %q = %d, want %d", tc.path, tc.token, a.status, tc.status)
		}
	}
}

// TestAuthReload rewrites the token file and reloads it as SIGHUP does: the
// new token gets in, the old one no longer does, and a broken file keeps
// the tokens in force.
func TestAuthReload(t *testing.T) {
	tokens := filepath.Join(t.TempDir(), "tokens")
	writeTokens(t, tokens, "read "+readToken+"\n")
	m, logs := startSecured(t, AuthConfig{TokenFile: tokens})
	url := "http://" + m.Addr() + "/api/v1/series"
	status := func(token string) int { return do(t, http.DefaultClient, "GET", url, token, "").status }
	if got := status(readToken); got != 200 {
		t.Fatalf("before reload: old token = %d, want 200", got)
	}

	writeTokens(t, tokens, "read "+newToken+" rotated\n")
	m.cfg.Auth.rt.reload()
	if got := status(newToken); got != 200 {
		t.Errorf("after reload: new token = %d, want 200", got)
	}
	if got := status(readToken); got != 401 {
		t.Errorf("after reload: old token = %d, want 401", got)
	}
	if !strings.Contains(logs.String(), "token file reloaded") || !strings.Contains(logs.String(), "tokens=1") {
		t.Errorf("reload not logged with its token count:\n%s", logs)
	}

	writeTokens(t, tokens, "read "+readToken+"\nsuperuser "+writeToken+"\n")
	m.cfg.Auth.rt.reload()
	if got := status(newToken); got != 200 {
		t.Errorf("after a failed reload: token in force = %d, want 200", got)
	}
	if got := status(readToken); got != 401 {
		t.Errorf("after a failed reload: token of the broken file = %d, want 401", got)
	}
	if !strings.Contains(logs.String(), "line 2: unknown scope") {
		t.Errorf("failed reload not logged with its line:\n%s", logs)
	}
}

// TestAuthSIGHUP rotates a token in the real binary with kill -HUP.
func TestAuthSIGHUP(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	tokens := filepath.Join(t.TempDir(), "tokens")
	writeTokens(t, tokens, "write "+writeToken+"\n")
	p := startBinary(t, "--auth-token-file", tokens)
	url := p.Base + "/api/v1/series"
	status := func(token string) int { return do(t, http.DefaultClient, "GET", url, token, "").status }
	if got := status(writeToken); got != 200 {
		t.Fatalf("old token = %d, want 200\n%s", got, killedLog(p))
	}
	writeTokens(t, tokens, "read "+newToken+"\n")
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	// The signal is handled asynchronously: wait for the new token.
	deadline := time.Now().Add(20 * time.Second)
	for status(newToken) != 200 {
		if time.Now().After(deadline) {
			t.Fatalf("new token refused 20s after SIGHUP\n%s", killedLog(p))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := status(writeToken); got != 401 {
		t.Errorf("after SIGHUP: old token = %d, want 401", got)
	}
	if err := p.Stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, p.Log)
	}
	if !strings.Contains(p.Log.String(), "token file reloaded") {
		t.Errorf("reload not logged:\n%s", p.Log)
	}
}

// killedLog stops p and returns its log: the log may be read only once the
// process's output has been copied in full.
func killedLog(p *proc) string {
	p.cmd.Process.Kill()
	<-p.done
	return p.Log.String()
}

// selfSignedCert writes a self-signed ECDSA certificate for 127.0.0.1 and
// its key into dir, and returns their paths and a pool trusting it.
func selfSignedCert(t *testing.T, dir, cn string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(leaf)
	return certFile, keyFile, pool
}

func httpsClient(pool *x509.CertPool, maxVersion uint16) *http.Client {
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: pool, MaxVersion: maxVersion},
		DisableKeepAlives: true,
	}}
}

func TestTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, firstPool := selfSignedCert(t, dir, "first")
	tokens := filepath.Join(dir, "tokens")
	writeTokens(t, tokens, "read "+readToken+"\n")
	m, _ := startSecured(t, AuthConfig{TokenFile: tokens, TLSCertFile: certFile, TLSKeyFile: keyFile})
	base := "https://" + m.Addr()

	c := httpsClient(firstPool, 0)
	if a := do(t, c, "GET", base+"/healthz", "", ""); a.status != 200 {
		t.Errorf("GET /healthz over TLS = %d, want 200", a.status)
	}
	if a := do(t, c, "GET", base+"/api/v1/series", "", ""); a.status != 401 {
		t.Errorf("GET /api/v1/series over TLS without a token = %d, want 401", a.status)
	}
	resp, err := c.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
		t.Errorf("connection state = %+v, want TLS 1.2 or later", resp.TLS)
	}
	if _, err := httpsClient(firstPool, tls.VersionTLS11).Get(base + "/healthz"); err == nil {
		t.Error("a TLS 1.1 client was served")
	}
	if _, err := httpsClient(x509.NewCertPool(), 0).Get(base + "/healthz"); err == nil {
		t.Error("a client trusting nothing was served")
	}
	// Plain HTTP gets Go's 400 "client sent an HTTP request to an HTTPS server".
	if a := do(t, http.DefaultClient, "GET", "http://"+m.Addr()+"/healthz", "", ""); a.status != 400 {
		t.Errorf("plain HTTP to the TLS port = %d, want 400", a.status)
	}

	// A new certificate in the same files takes effect on reload.
	_, _, secondPool := selfSignedCert(t, dir, "second")
	m.cfg.Auth.rt.reload()
	if a := do(t, httpsClient(secondPool, 0), "GET", base+"/api/v1/series", readToken, ""); a.status != 200 {
		t.Errorf("after reload: client trusting the new certificate = %d, want 200", a.status)
	}
	if _, err := c.Get(base + "/healthz"); err == nil {
		t.Error("after reload: a client trusting only the old certificate was served")
	}
}

func TestAuthConfigErrors(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, _ := selfSignedCert(t, dir, "x")
	bad := filepath.Join(dir, "bad")
	writeTokens(t, bad, "read "+readToken+"\nwrite short\n")
	for _, tc := range []struct {
		name string
		ac   AuthConfig
		want string
	}{
		{"cert without key", AuthConfig{TLSCertFile: certFile}, "go together"},
		{"key without cert", AuthConfig{TLSKeyFile: keyFile}, "go together"},
		{"swapped files", AuthConfig{TLSCertFile: keyFile, TLSKeyFile: certFile}, "tls key pair"},
		{"missing token file", AuthConfig{TokenFile: filepath.Join(dir, "missing")}, "no such file"},
		{"bad token file", AuthConfig{TokenFile: bad}, "line 2: token too short"},
	} {
		_, err := NewMain(Config{Listen: "127.0.0.1:0", Auth: tc.ac}, slog.New(slog.DiscardHandler))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: NewMain error = %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

func TestAuthFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  string // DETECTOR_AUTH_OPEN_HEALTH, if set
		want AuthConfig
	}{
		{nil, "", AuthConfig{}},
		{[]string{"--auth-open-health=false", "--auth-open-metrics"}, "", AuthConfig{ProtectHealth: true, OpenMetrics: true}},
		{[]string{"--auth-open-health"}, "", AuthConfig{}},
		{nil, "false", AuthConfig{ProtectHealth: true}},
		{[]string{"--auth-open-health=true"}, "false", AuthConfig{}},
		{[]string{"--auth-token-file", "/t", "--tls-cert-file", "/c", "--tls-key-file", "/k"}, "",
			AuthConfig{TokenFile: "/t", TLSCertFile: "/c", TLSKeyFile: "/k"}},
	} {
		if tc.env != "" {
			t.Setenv("DETECTOR_AUTH_OPEN_HEALTH", tc.env)
		} else {
			os.Unsetenv("DETECTOR_AUTH_OPEN_HEALTH")
		}
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		var got AuthConfig
		bindAuthFlags(fs, &got)
		if err := applyEnv(fs); err != nil {
			t.Fatal(err)
		}
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("flags %q env %q = %+v, want %+v", tc.args, tc.env, got, tc.want)
		}
	}
}
