package api

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/anomalyd/detector/anomaly"
)

// Codes of the HTTP layer's guards. Like codeMethodNotAllowed they are
// words of the HTTP layer only.
const (
	codeTimeout          anomaly.Code = "request_timeout"        // 408: the body did not arrive in time
	codeUnsupportedMedia anomaly.Code = "unsupported_media_type" // 415: not application/json, or an unknown encoding
	codeForbidden        anomaly.Code = "forbidden"              // 403: a Host or Origin this service does not serve
)

// GuardConfig holds the limits that keep slow or hostile clients from
// stopping the service. Zero fields take the default of DefaultGuardConfig.
type GuardConfig struct {
	// MaxBodyReaders bounds the request bodies being received at once.
	// Bodies are read whole before a request takes one of the
	// Config.MaxInFlight decoding turns, so a slow client holds a reader
	// turn, never a decoding turn. Once half the reader turns are taken,
	// one client (its bearer token, else its IP address) may hold at most
	// a quarter of them. Default 8 x GOMAXPROCS, at least 16.
	MaxBodyReaders int
	// BodyMinRate is the slowest average transfer rate, in bytes per
	// second, at which a body may arrive after BodyGrace; a slower body
	// is answered 408 request_timeout. Default 64 KiB/s.
	BodyMinRate int64
	// BodyGrace is the time a body may take before BodyMinRate applies.
	// Default 2 s.
	BodyGrace time.Duration
	// BodyTimeout bounds the time to receive a whole body, whatever its
	// rate. Default 60 s.
	BodyTimeout time.Duration
	// AnswerTimeout bounds the time to send an answer once it is ready: a
	// client that does not read is cut off. Default 10 s.
	AnswerTimeout time.Duration
	// MaxErrors caps the item errors listed in an ingest answer; the
	// answer counts the rest in errors_omitted. Default 100.
	MaxErrors int
	// MaxQueries bounds the expensive GETs (series and anomaly listings)
	// served at once; more wait InFlightWait, then get 429. Default
	// GOMAXPROCS.
	MaxQueries int
	// QueryTimeout bounds the time one listing may scan; past it the
	// answer is 503 (narrow the selector). Default 30 s.
	QueryTimeout time.Duration
	// Listen is the address the service listens on. While it is a
	// loopback address, requests whose Host is neither a loopback name nor
	// in AllowedHosts are refused (403): DNS rebinding cannot reach it.
	Listen string
	// AllowedHosts are further Host names (without port) the service
	// answers to; "*" allows any.
	AllowedHosts []string
	// AllowedOrigins are the origins (scheme://host[:port]) whose web
	// pages may call the API (CORS). A request with an Origin header that
	// is neither its own host nor listed is refused (403) and nothing is
	// written.
	AllowedOrigins []string
}

// DefaultGuardConfig returns the guard limits `detector serve` runs with.
func DefaultGuardConfig() GuardConfig {
	return GuardConfig{
		MaxBodyReaders: max(16, 8*runtime.GOMAXPROCS(0)),
		BodyMinRate:    64 << 10,
		BodyGrace:      2 * time.Second,
		BodyTimeout:    60 * time.Second,
		AnswerTimeout:  10 * time.Second,
		MaxErrors:      100,
		MaxQueries:     runtime.GOMAXPROCS(0),
		QueryTimeout:   30 * time.Second,
	}
}

func (c *GuardConfig) fill() error {
	d := DefaultGuardConfig()
	if c.MaxBodyReaders < 0 || c.BodyMinRate < 0 || c.BodyGrace < 0 || c.BodyTimeout < 0 || c.AnswerTimeout < 0 ||
		c.MaxErrors < 0 || c.MaxQueries < 0 || c.QueryTimeout < 0 {
		return errors.New("api: negative guard limit in config")
	}
	if c.MaxBodyReaders == 0 {
		c.MaxBodyReaders = d.MaxBodyReaders
	}
	if c.BodyMinRate == 0 {
		c.BodyMinRate = d.BodyMinRate
	}
	if c.BodyGrace == 0 {
		c.BodyGrace = d.BodyGrace
	}
	if c.BodyTimeout == 0 {
		c.BodyTimeout = d.BodyTimeout
	}
	if c.AnswerTimeout == 0 {
		c.AnswerTimeout = d.AnswerTimeout
	}
	if c.MaxErrors == 0 {
		c.MaxErrors = d.MaxErrors
	}
	if c.MaxQueries == 0 {
		c.MaxQueries = d.MaxQueries
	}
	if c.QueryTimeout == 0 {
		c.QueryTimeout = d.QueryTimeout
	}
	for _, o := range c.AllowedOrigins {
		if o == "*" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || u.Scheme == "" || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return fmt.Errorf("api: allowed origin %q is not scheme://host[:port]", o)
		}
	}
	return nil
}

// gate is a counting semaphore with a per-client share: once half its
// turns are taken, a client holding share turns waits for one of its own
// to come free. It is safe for concurrent use.
type gate struct {
	mu    sync.Mutex
	cap   int
	share int
	used  int
	by    map[string]int
	wake  chan struct{} // closed (and replaced) when a turn comes free
}

func newGate(n int) *gate {
	return &gate{cap: n, share: max(1, n/4), by: map[string]int{}, wake: make(chan struct{})}
}

func (g *gate) try(client string) (bool, <-chan struct{}) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.used >= g.cap || (g.used >= g.cap/2 && g.by[client] >= g.share) {
		return false, g.wake
	}
	g.used++
	g.by[client]++
	return true, nil
}

// acquire takes a turn for client, waiting at most wait.
func (g *gate) acquire(ctx context.Context, client string, wait time.Duration) bool {
	var t *time.Timer
	for {
		ok, wake := g.try(client)
		if ok {
			if t != nil {
				t.Stop()
			}
			return true
		}
		if t == nil {
			t = time.NewTimer(wait)
		}
		select {
		case <-wake:
		case <-t.C:
			return false
		case <-ctx.Done():
			t.Stop()
			return false
		}
	}
}

func (g *gate) release(client string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.used--
	if g.by[client]--; g.by[client] <= 0 {
		delete(g.by, client)
	}
	close(g.wake)
	g.wake = make(chan struct{})
}

// clientOf names the client a request counts against: its bearer token
// (hashed), else its IP address.
func clientOf(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		sum := sha256.Sum256([]byte(h))
		return "t:" + string(sum[:8])
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return "a:" + host
}

type bodyKey struct{}

// bodyBytes returns the body admit read, if any. Its bytes go back to a
// pool once the request is answered (recycleBody): copy what is kept.
func bodyBytes(r *http.Request) ([]byte, bool) {
	b, ok := r.Context().Value(bodyKey{}).([]byte)
	return b, ok
}

// checkContentType refuses (415) a request body that is not JSON: a web
// page can send text/plain or a form to any address without asking, but
// not application/json. A POST without a body and without a Content-Type
// (POST /api/v1/webhooks/{id}/test, .../approve, `curl -X POST`) carries
// nothing to decode and passes; a web page's request of that kind is
// still refused by the Origin check.
func checkContentType(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	if ct == "" && r.ContentLength == 0 {
		return nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if ct == "" || err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
		return anomaly.Errorf(codeUnsupportedMedia, "Content-Type must be application/json, got %q", ct)
	}
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity", "gzip":
	default:
		return anomaly.Errorf(codeUnsupportedMedia, "Content-Encoding %q is not supported: send identity or gzip", enc)
	}
	return nil
}

// admit prepares a request with a body: it checks the Content-Type, reads
// the whole body under a reader turn (bounded by the minimum rate and the
// body timeout), then takes one of the MaxInFlight decoding turns. The
// returned request carries the body; release gives the decoding turn back
// and must be called once the handler is done, before the answer is
// written, so that a client that does not read its answer holds no turn.
func (a *API) admit(w http.ResponseWriter, r *http.Request) (*http.Request, func(), error) {
	if err := checkContentType(r); err != nil {
		return r, nil, err
	}
	return a.admitBody(w, r, true)
}

// admitBody is admit without the Content-Type check, for the write routes
// of other wire formats, which check their own types and decompress
// themselves (gunzip false).
func (a *API) admitBody(w http.ResponseWriter, r *http.Request, gunzip bool) (*http.Request, func(), error) {
	if r.ContentLength > a.cfg.MaxBodyBytes {
		return r, nil, &anomaly.Error{Code: anomaly.CodeTooLarge, Index: -1,
			Message: fmt.Sprintf("request body of %d bytes exceeds the limit of %d bytes: send smaller batches", r.ContentLength, a.cfg.MaxBodyBytes)}
	}
	client := clientOf(r)
	waitFrom := time.Now()
	if !a.readers.acquire(r.Context(), client, a.cfg.InFlightWait) {
		return r, nil, anomaly.Errorf(anomaly.CodeOverloaded,
			"%d request bodies are being received, the limit for this client or in all: retry later", a.cfg.Guard.MaxBodyReaders)
	}
	readFrom := time.Now()
	b, err := a.readGuarded(w, r)
	if err == nil && gunzip && strings.EqualFold(strings.TrimSpace(r.Header.Get("Content-Encoding")), "gzip") {
		zb := b
		b, err = a.gunzip(zb)
		putBodyBuf(zb)
	}
	if err != nil {
		a.readers.release(client)
		return r, nil, err
	}
	// The reader turn is handed over only once a decoding turn is held,
	// so that bodies read and waiting are bounded too. Both waits share
	// one InFlightWait: a refused request is answered as soon as before.
	waited := time.Since(waitFrom) - time.Since(readFrom)
	// (The ingest routes take an ingest slot instead: admission.go.)
	release, err := a.turn(r, waited)
	a.readers.release(client)
	if err != nil {
		return r, nil, err
	}
	r = r.WithContext(context.WithValue(r.Context(), bodyKey{}, b))
	return r, release, nil
}

// acquireWithin takes a decoding turn, waiting at most wait (trying once
// when wait is not positive).
func (a *API) acquireWithin(ctx context.Context, wait time.Duration) error {
	select {
	case a.inFlight <- struct{}{}:
		return nil
	default:
	}
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case a.inFlight <- struct{}{}:
			return nil
		case <-t.C:
		case <-ctx.Done():
		}
	}
	return anomaly.Errorf(anomaly.CodeOverloaded,
		"%d requests with a body are being served, the limit: retry later", cap(a.inFlight))
}

// readGuarded reads r's body whole, into a pooled buffer (bodybuf.go). The
// read deadline moves with the data: byte n must have arrived by start +
// BodyGrace + n/BodyMinRate, and the whole body by start + BodyTimeout;
// past it the answer is 408. A new buffer grows with what arrives, never
// past maxFreshBody from the declared length alone.
func (a *API) readGuarded(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	g := &a.cfg.Guard
	rc := http.NewResponseController(w)
	start := time.Now()
	hard := start.Add(g.BodyTimeout)
	body := http.MaxBytesReader(w, r.Body, a.cfg.MaxBodyBytes)
	buf := getBodyBuf(r.ContentLength) // bodybuf.go
	n := int64(0)
	deadlines := true
	for {
		if deadlines {
			d := start.Add(g.BodyGrace + time.Duration(float64(n)/float64(g.BodyMinRate)*float64(time.Second)))
			if d.After(hard) {
				d = hard
			}
			if err := rc.SetReadDeadline(d); err != nil {
				deadlines = false // a writer without deadlines (tests)
			}
		}
		if len(buf) == cap(buf) {
			old := buf
			buf = make([]byte, len(old), growBody(cap(old), a.cfg.MaxBodyBytes))
			copy(buf, old)
			putBodyBuf(old)
		}
		m, err := body.Read(buf[len(buf):min(cap(buf), len(buf)+64<<10)])
		buf = buf[:len(buf)+m]
		n += int64(m)
		if err == io.EOF {
			if deadlines {
				// The body is in: no deadline until the next request.
				// (After an error the expired one stays, so that the
				// server's discarding of the rest fails at once.)
				rc.SetReadDeadline(time.Time{})
			}
			return buf, nil
		}
		if err != nil {
			putBodyBuf(buf)
			if isTimeout(err) {
				return nil, &anomaly.Error{Code: codeTimeout, Index: -1, Err: err,
					Message: fmt.Sprintf("the body did not arrive in time: %d bytes in %s; send at least %d bytes/s after %s, the whole body within %s",
						n, time.Since(start).Round(time.Millisecond), g.BodyMinRate, g.BodyGrace, g.BodyTimeout)}
			}
			return nil, bodyError(err)
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// gunzip inflates a gzip body, bounded by MaxBodyBytes.
func (a *API) gunzip(b []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, anomaly.Errorf(anomaly.CodeInvalidJSON, "Content-Encoding is gzip but the body is not: %v", err)
	}
	out, err := io.ReadAll(io.LimitReader(zr, a.cfg.MaxBodyBytes+1))
	if err != nil {
		return nil, anomaly.Errorf(anomaly.CodeInvalidJSON, "cannot inflate the gzip body: %v", err)
	}
	if int64(len(out)) > a.cfg.MaxBodyBytes {
		return nil, anomaly.Errorf(anomaly.CodeTooLarge, "the inflated body exceeds the limit of %d bytes: send smaller batches", a.cfg.MaxBodyBytes)
	}
	return out, nil
}

// answerDeadline bounds the time left to write the answer.
func (a *API) answerDeadline(w http.ResponseWriter) {
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(a.cfg.Guard.AnswerTimeout))
}

// query wraps an expensive GET: at most MaxQueries run at once.
func (a *API) query(f apiFunc) apiFunc {
	return func(r *http.Request) (any, error) {
		if !a.queries.acquire(r.Context(), clientOf(r), a.cfg.InFlightWait) {
			return nil, anomaly.Errorf(anomaly.CodeOverloaded,
				"%d listings are being served, the limit: retry later", a.cfg.Guard.MaxQueries)
		}
		defer a.queries.release(clientOf(r))
		ctx, cancel := context.WithTimeout(r.Context(), a.cfg.Guard.QueryTimeout)
		defer cancel()
		return f(r.WithContext(ctx))
	}
}

// capErrors keeps the first MaxErrors item errors of res.
func (a *API) capErrors(res *anomaly.IngestResult) {
	if n := len(res.Errors); n > a.cfg.Guard.MaxErrors {
		res.ErrorsOmitted = n - a.cfg.Guard.MaxErrors
		res.Errors = res.Errors[:a.cfg.Guard.MaxErrors:a.cfg.Guard.MaxErrors]
	}
}

// front is the first handler of every request: it refuses foreign Hosts
// and Origins, answers CORS preflights for allowed origins and serves HEAD
// as GET without a body.
func (a *API) front(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := a.checkHost(r); err != nil {
			a.writeError(w, r, err)
			return
		}
		origin := r.Header.Get("Origin")
		if origin != "" {
			if !a.originAllowed(r, origin) {
				a.writeError(w, r, anomaly.Errorf(codeForbidden,
					"requests from web pages of %q are refused: add it to --cors-allowed-origins", origin))
				return
			}
			if !sameOrigin(r, origin) {
				h := w.Header()
				h.Set("Access-Control-Allow-Origin", origin)
				h.Add("Vary", "Origin")
				if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
					h.Set("Access-Control-Allow-Methods", "GET, HEAD, POST, DELETE")
					h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Content-Encoding")
					h.Set("Access-Control-Max-Age", "600")
					w.WriteHeader(http.StatusNoContent)
					return
				}
			}
		}
		if r.Method == http.MethodHead {
			r = r.Clone(r.Context())
			r.Method = http.MethodGet // the server sends no body for HEAD
		}
		next.ServeHTTP(w, r)
	})
}

// checkHost refuses, while listening on loopback, a Host that is not a
// loopback name or address nor in AllowedHosts: a DNS name rebound to
// 127.0.0.1 does not reach the service.
func (a *API) checkHost(r *http.Request) error {
	g := &a.cfg.Guard
	host := hostOnly(r.Host)
	if slices.Contains(g.AllowedHosts, "*") || slices.ContainsFunc(g.AllowedHosts, func(h string) bool { return strings.EqualFold(h, host) }) {
		return nil
	}
	if !isLoopbackListen(g.Listen) {
		if len(g.AllowedHosts) == 0 {
			return nil
		}
	} else if isLoopbackHost(host) {
		return nil
	}
	return anomaly.Errorf(codeForbidden, "host %q is not served here: add it to --allowed-hosts", host)
}

func (a *API) originAllowed(r *http.Request, origin string) bool {
	if sameOrigin(r, origin) {
		return true
	}
	for _, o := range a.cfg.Guard.AllowedOrigins {
		if o == "*" || strings.EqualFold(strings.TrimSuffix(o, "/"), origin) {
			return true
		}
	}
	return false
}

// sameOrigin reports whether origin names the host the request was sent
// to (a page served by this service).
func sameOrigin(r *http.Request, origin string) bool {
	u, err := url.Parse(origin)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host)
}

func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return strings.Trim(h, "[]")
	}
	return strings.Trim(hostport, "[]")
}

func isLoopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") || strings.HasSuffix(strings.ToLower(h), ".localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func isLoopbackListen(listen string) bool {
	if listen == "" {
		return false
	}
	return isLoopbackHost(hostOnly(listen))
}
