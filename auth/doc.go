// Package auth is the optional access control of the service: bearer
// tokens with a read or a write scope, kept in a token file that can be
// reloaded while the service runs, and a TLS certificate that can be
// reloaded the same way.
//
// # Token file
//
// One token per line, fields separated by blanks:
//
//	<scope> <token> [name]
//
// scope is read or write (write implies read). token is either the secret
// itself, at least 16 characters of the bearer token alphabet
// (A-Z a-z 0-9 - . _ ~ + / and trailing =), or "sha256:" followed by the 64
// hex digits of the SHA-256 of the secret, so that the file need not hold
// secrets in clear. name is an optional label used in logs. Blank lines and
// everything from a field starting with # are ignored. A token may appear
// once. Example:
//
//	# scope  token                             name
//	write    3kX9vQ2mL7pR4tW8yB1nC6dF0hJ5sA   collector
//	read     sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 grafana
//
// Only the SHA-256 of each secret is kept in memory. A presented token is
// hashed and compared with every known hash in constant time
// (crypto/subtle), without an early exit, so the answer's timing says
// nothing about how close a guess was nor which token matched.
//
// # Which scope a request needs
//
//	method                   path                       scope
//	GET, HEAD, OPTIONS       any                        read
//	POST                     Policy.ReadOnly entries    read   (they compute an answer and change nothing)
//	any other (POST, PUT,    any                        write
//	  PATCH, DELETE, ...)
//	any                      Policy.Open entries        none   (served without a token)
//
// Paths are matched exactly, on their escaped form, as the router sees
// them: a path that is not literally an open or read-only entry needs the
// stricter scope, so an odd spelling never widens access.
//
// # Answers
//
// No token, a scheme other than Bearer, or an unknown token: 401 with
// WWW-Authenticate: Bearer and {"error":{"code":"unauthorized",...}}.
// A read token on a write request: 403 with
// {"error":{"code":"forbidden",...}}. Denials are counted in
// detector_auth_denied_total{reason} with reason missing_token,
// invalid_token or insufficient_scope.
package auth
