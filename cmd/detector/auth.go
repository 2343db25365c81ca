package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/anomalyd/detector/auth"
)

// AuthConfig holds the access control and TLS settings of the server. The
// zero value serves plain HTTP to anyone, as without these flags.
type AuthConfig struct {
	// TokenFile is the bearer token file (format in package auth); empty
	// turns access control off.
	TokenFile string
	// ProtectHealth makes /healthz and /readyz need a read token too
	// (--auth-open-health=false). By default they stay open for probes.
	ProtectHealth bool
	// OpenMetrics serves /metrics without a token (--auth-open-metrics).
	OpenMetrics bool
	// TLSCertFile and TLSKeyFile are PEM files; both or neither. With them
	// the server speaks HTTPS only, TLS 1.2 or later.
	TLSCertFile, TLSKeyFile string

	// rt is what secure loaded, for serveOn and reloads; nil when neither
	// tokens nor TLS are configured.
	rt *authRuntime
}

func bindAuthFlags(fs *flag.FlagSet, c *AuthConfig) {
	fs.StringVar(&c.TokenFile, "auth-token-file", "", "bearer token file, one '<read|write> <token> [name]' per line, reloaded on SIGHUP (empty: no access control)")
	fs.Var((*invertedBool)(&c.ProtectHealth), "auth-open-health", "serve /healthz and /readyz without a token when access control is on (default true)")
	fs.BoolVar(&c.OpenMetrics, "auth-open-metrics", false, "serve /metrics without a token when access control is on")
	fs.StringVar(&c.TLSCertFile, "tls-cert-file", "", "PEM certificate chain; with --tls-key-file serves HTTPS (TLS 1.2+), reloaded on SIGHUP")
	fs.StringVar(&c.TLSKeyFile, "tls-key-file", "", "PEM private key of --tls-cert-file")
}

// invertedBool is a boolean flag stored negated, so that a flag whose
// default is true maps to a field whose zero value is the default.
type invertedBool bool

func (b *invertedBool) String() string {
	if b == nil {
		return "true"
	}
	return strconv.FormatBool(!bool(*b))
}

func (b *invertedBool) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	*b = invertedBool(!v)
	return nil
}

func (b *invertedBool) IsBoolFlag() bool { return true }

// readOnlyPosts are the POST routes that change nothing: they need only a
// read token. Every other method but GET, HEAD and OPTIONS needs write.
var readOnlyPosts = []string{
	"POST /api/v1/detect",
	"POST /api/v1/detect/batch",
	"POST /api/v1/peers/detect",
}

// authRuntime is the loaded token file and certificate, both reloaded on
// SIGHUP while the server runs.
type authRuntime struct {
	log     *slog.Logger
	tokens  *auth.Tokens      // nil: no access control
	cert    *auth.Certificate // nil: plain HTTP
	reloads *prometheus.CounterVec
}

// secure wraps the API handler with access control when a token file is
// configured, and loads the TLS certificate when one is. Both files are
// read here, so that a bad file fails NewMain rather than the first
// request.
func (m *Main) secure(h http.Handler) (http.Handler, error) {
	c := &m.cfg.Auth
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return nil, errors.New("tls: --tls-cert-file and --tls-key-file go together")
	}
	if c.TokenFile == "" && c.TLSCertFile == "" {
		return h, nil
	}
	rt := &authRuntime{log: m.log.With("component", "auth")}
	var err error
	if c.TLSCertFile != "" {
		if rt.cert, err = auth.LoadCertificate(c.TLSCertFile, c.TLSKeyFile); err != nil {
			return nil, err
		}
		rt.logCert()
	}
	if c.TokenFile != "" {
		if rt.tokens, err = auth.OpenTokens(c.TokenFile, rt.log); err != nil {
			return nil, err
		}
		policy := auth.Policy{ReadOnly: readOnlyPosts}
		if !c.ProtectHealth {
			policy.Open = append(policy.Open, "/healthz", "/readyz")
		}
		if c.OpenMetrics {
			policy.Open = append(policy.Open, "/metrics")
		}
		if h, err = auth.Middleware(h, auth.Options{Tokens: rt.tokens, Policy: policy, Registerer: m.reg, Logger: rt.log}); err != nil {
			return nil, err
		}
		tokens := rt.tokens
		if err := m.reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "detector_auth_tokens",
			Help: "Bearer tokens in force.",
		}, func() float64 { return float64(tokens.Len()) })); err != nil {
			return nil, fmt.Errorf("auth metrics: %w", err)
		}
		rt.log.Info("access control on", "token_file", c.TokenFile, "tokens", rt.tokens.Len(), "open", policy.Open)
		if rt.cert == nil && !loopback(m.cfg.Listen) {
			rt.log.Warn("bearer tokens travel in clear text without --tls-cert-file and --tls-key-file", "listen", m.cfg.Listen)
		}
	}
	rt.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "detector_auth_reloads_total",
		Help: "Reloads of the token file and TLS certificate on SIGHUP, by result (ok, error).",
	}, []string{"result"})
	rt.reloads.WithLabelValues("ok")
	rt.reloads.WithLabelValues("error")
	if err := m.reg.Register(rt.reloads); err != nil {
		return nil, fmt.Errorf("auth metrics: %w", err)
	}
	c.rt = rt
	return h, nil
}

// loopback reports whether the listen address is on a loopback interface.
func loopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// serveOn serves HTTP (or HTTPS) on ln until the server is shut down. With
// tokens or TLS configured it reloads them on every SIGHUP meanwhile.
func (m *Main) serveOn(ln net.Listener) error {
	rt := m.cfg.Auth.rt
	if rt == nil {
		defer m.watchHUPWithoutReload()()
		return m.srv.Serve(ln)
	}
	stop := rt.watch(syscall.SIGHUP)
	defer stop()
	if rt.cert != nil {
		m.srv.TLSConfig = rt.cert.TLSConfig()
		return m.srv.ServeTLS(ln, "", "")
	}
	return m.srv.Serve(ln)
}

// watch calls reload on every sig until the returned stop function is
// called; stop returns once the watching goroutine has ended.
func (rt *authRuntime) watch(sig os.Signal) (stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, sig)
	done, quit := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-ch:
				rt.reload()
			case <-quit:
				return
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			signal.Stop(ch)
			close(quit)
			<-done
		})
	}
}

// reload reads the token file and the certificate again. What fails to
// load keeps its previous content; each outcome is logged and counted.
func (rt *authRuntime) reload() {
	if rt.tokens != nil {
		if n, err := rt.tokens.Reload(); err != nil {
			rt.reloads.WithLabelValues("error").Inc()
			rt.log.Error("token file reload failed; previous tokens stay in force", "err", err, "tokens", n)
		} else {
			rt.reloads.WithLabelValues("ok").Inc()
			rt.log.Info("token file reloaded", "path", rt.tokens.Path(), "tokens", n)
		}
	}
	if rt.cert != nil {
		if err := rt.cert.Reload(); err != nil {
			rt.reloads.WithLabelValues("error").Inc()
			rt.log.Error("tls certificate reload failed; previous certificate stays in force", "err", err)
		} else {
			rt.reloads.WithLabelValues("ok").Inc()
			rt.logCert()
		}
	}
}

func (rt *authRuntime) logCert() {
	notAfter := rt.cert.NotAfter()
	rt.log.Info("tls certificate loaded", "subject", rt.cert.Subject(), "not_after", notAfter.UTC().Format(time.RFC3339))
	if d := time.Until(notAfter); d < 0 {
		rt.log.Warn("tls certificate has expired", "not_after", notAfter)
	} else if d < 7*24*time.Hour {
		rt.log.Warn("tls certificate expires within a week", "not_after", notAfter)
	}
}
