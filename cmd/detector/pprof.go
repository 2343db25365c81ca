package main

import (
	"flag"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// bindPprofFlags binds --pprof-listen: an address (loopback, say
// 127.0.0.1:6060) where the Go runtime's profiles are served under
// /debug/pprof/, on a listener of its own, apart from the API and its
// authentication. Empty (the default) serves none.
func bindPprofFlags(fs *flag.FlagSet, addr *string) {
	fs.StringVar(addr, "pprof-listen", "", "address serving the Go runtime's profiles (/debug/pprof/) for diagnosis, without authentication: keep it on loopback (empty: none)")
}

// startPprof serves the profiles on addr in the background; it returns the
// address it listens on ("" when addr is empty).
func startPprof(addr string, log *slog.Logger) (string, error) {
	if addr == "" {
		return "", nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	log.Warn("serving runtime profiles without authentication", "addr", ln.Addr().String())
	return ln.Addr().String(), nil
}
