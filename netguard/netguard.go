// Package netguard keeps the service's outgoing HTTP calls (webhooks,
// Alertmanager, remediation actions) away from addresses a caller of the API
// should never be able to reach through the service: loopback, private and
// link-local networks, carrier-grade NAT, multicast, unspecified and
// reserved addresses, and the cloud metadata endpoints, in IPv4 and IPv6
// (IPv4-mapped and NAT64 forms included).
//
// The check runs when a connection is made, on the address actually dialled
// after name resolution, so a name that resolves to a public address when a
// subscription is created and to 127.0.0.1 later (DNS rebinding) is refused
// all the same, and so is every redirect. An allow-list of CIDR prefixes
// opens chosen ranges (a private Alertmanager, a test receiver on
// 127.0.0.1). Environment proxies are ignored: a proxy would hide the
// destination from the check.
package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrBlocked is wrapped by every refusal.
var ErrBlocked = errors.New("destination address not allowed")

// blocked lists the ranges refused unless allowed. IPv4-mapped IPv6
// addresses are unmapped before they are compared.
var blocked = mustPrefixes(
	"0.0.0.0/8",       // "this network", 0.0.0.0 (unspecified)
	"10.0.0.0/8",      // private
	"100.64.0.0/10",   // carrier-grade NAT
	"127.0.0.0/8",     // loopback
	"169.254.0.0/16",  // link-local, cloud metadata 169.254.169.254
	"172.16.0.0/12",   // private
	"192.0.0.0/24",    // IETF protocol assignments
	"192.0.2.0/24",    // documentation
	"192.168.0.0/16",  // private
	"198.18.0.0/15",   // benchmarking
	"198.51.100.0/24", // documentation
	"203.0.113.0/24",  // documentation
	"224.0.0.0/4",     // multicast
	"240.0.0.0/4",     // reserved, broadcast
	"::/128",          // unspecified
	"::1/128",         // loopback
	"64:ff9b::/96",    // NAT64: embeds an IPv4 address
	"64:ff9b:1::/48",  // local-use NAT64
	"100::/64",        // discard-only
	"2001:db8::/32",   // documentation
	"2002::/16",       // 6to4: embeds an IPv4 address
	"fc00::/7",        // unique local, AWS metadata fd00:ec2::254
	"fe80::/10",       // link-local
	"ff00::/8",        // multicast
)

func mustPrefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// Guard decides which destinations outgoing calls may reach. The zero value
// refuses every blocked range. A Guard is safe for concurrent use.
type Guard struct {
	allow []netip.Prefix
}

// New returns a guard that also lets through the addresses in allow.
func New(allow []netip.Prefix) *Guard {
	return &Guard{allow: append([]netip.Prefix(nil), allow...)}
}

// ParseAllowList parses CIDR prefixes ("127.0.0.1/32", "10.1.0.0/16") or
// single addresses ("127.0.0.1", "::1"), as the --allow-destination flags
// give them.
func ParseAllowList(ss []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range ss {
		for _, f := range strings.Split(s, ",") {
			f = strings.TrimSpace(f)
			if f == "" {
				continue
			}
			if p, err := netip.ParsePrefix(f); err == nil {
				out = append(out, p.Masked())
				continue
			}
			a, err := netip.ParseAddr(f)
			if err != nil {
				return nil, fmt.Errorf("allow-list entry %q is neither a CIDR prefix nor an address", f)
			}
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
		}
	}
	return out, nil
}

// Check returns nil when ip may be reached, an error wrapping ErrBlocked
// otherwise.
func (g *Guard) Check(ip netip.Addr) error {
	if !ip.IsValid() {
		return fmt.Errorf("%w: invalid address", ErrBlocked)
	}
	ip = ip.WithZone("")
	plain := ip.Unmap()
	if g != nil {
		for _, p := range g.allow {
			if p.Contains(ip) || p.Contains(plain) {
				return nil
			}
		}
	}
	for _, p := range blocked {
		if p.Contains(plain) {
			return fmt.Errorf("%w: %s is in %s", ErrBlocked, plain, p)
		}
	}
	return nil
}

// CheckURL validates a destination URL when it is configured: http or
// https, a host, no credentials in the URL, and, when the host is an
// address literal, an allowed address. Names are checked again at every
// connection.
func (g *Guard) CheckURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("invalid URL: %v", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("URL scheme must be http or https, not %q", u.Scheme)
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, errors.New("URL has no host")
	}
	if u.User != nil {
		return nil, errors.New("URL must not carry credentials; use a credentials file")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("URL port %q is not a port number (1 to 65535)", p)
		}
	}
	if a, err := netip.ParseAddr(strings.Trim(u.Hostname(), "[]")); err == nil {
		if err := g.Check(a); err != nil {
			return nil, err
		}
	}
	return u, nil
}

// control runs on every socket before it connects, with the address that
// is about to be dialled.
func (g *Guard) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot parse %q", ErrBlocked, address)
	}
	return g.Check(ap.Addr())
}

// DialContext dials like net.Dialer.DialContext, refusing blocked
// addresses at connect time.
func (g *Guard) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, Control: g.control}
	return d.DialContext(ctx, network, addr)
}

// MaxRedirects is the most redirects a guarded client follows.
const MaxRedirects = 5

// Client returns an HTTP client whose every connection, redirects included,
// passes the guard. timeout bounds each whole request (0: no bound beyond
// the caller's context).
func (g *Guard) Client(timeout time.Duration) *http.Client {
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           g.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          64,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: timeout,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= MaxRedirects {
				return fmt.Errorf("stopped after %d redirects", MaxRedirects)
			}
			if _, err := g.CheckURL(req.URL.String()); err != nil {
				return err
			}
			return nil
		},
	}
}
