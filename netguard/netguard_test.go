package netguard

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestCheck(t *testing.T) {
	cases := []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1", false},
		{"127.10.0.1", false},
		{"::1", false},
		{"169.254.169.254", false},
		{"::ffff:127.0.0.1", false},
		{"::ffff:169.254.169.254", false},
		{"0.0.0.0", false},
		{"::", false},
		{"10.1.2.3", false},
		{"172.16.0.1", false},
		{"172.31.255.255", false},
		{"192.168.1.1", false},
		{"100.64.0.1", false},
		{"224.0.0.1", false},
		{"255.255.255.255", false},
		{"fe80::1", false},
		{"fd00:ec2::254", false},
		{"ff02::1", false},
		{"64:ff9b::7f00:1", false},
		{"2002:7f00:1::1", false},
		{"8.8.8.8", true},
		{"172.32.0.1", true},
		{"2606:4700::1111", true},
	}
	var g Guard
	for _, c := range cases {
		err := g.Check(netip.MustParseAddr(c.addr))
		if (err == nil) != c.ok {
			t.Errorf("Check(%s) = %v, want allowed=%v", c.addr, err, c.ok)
		}
		if err != nil && !errors.Is(err, ErrBlocked) {
			t.Errorf("Check(%s) = %v, want an error wrapping ErrBlocked", c.addr, err)
		}
	}
}

func TestAllowList(t *testing.T) {
	allow, err := ParseAllowList([]string{"127.0.0.1", "10.1.0.0/16, ::1"})
	if err != nil {
		t.Fatal(err)
	}
	g := New(allow)
	for _, a := range []string{"127.0.0.1", "::ffff:127.0.0.1", "10.1.200.3", "::1"} {
		if err := g.Check(netip.MustParseAddr(a)); err != nil {
			t.Errorf("Check(%s) with allow-list = %v, want allowed", a, err)
		}
	}
	for _, a := range []string{"127.0.0.2", "10.2.0.1", "169.254.169.254"} {
		if err := g.Check(netip.MustParseAddr(a)); err == nil {
			t.Errorf("Check(%s) with allow-list = nil, want blocked", a)
		}
	}
	if _, err := ParseAllowList([]string{"not-a-cidr"}); err == nil {
		t.Error("ParseAllowList(not-a-cidr) = nil error, want one")
	}
}

func TestCheckURL(t *testing.T) {
	var g Guard
	for _, u := range []string{
		"http://127.0.0.1:9/hook", "http://[::1]/", "http://169.254.169.254/latest/meta-data",
		"http://[::ffff:127.0.0.1]/", "http://0.0.0.0/", "ftp://example.com/", "file:///etc/passwd",
		"http://user:pw@example.com/", "http:///nohost", "http://example.com:99999/", "http://example.com:0/",
	} {
		if _, err := g.CheckURL(u); err == nil {
			t.Errorf("CheckURL(%q) = nil error, want refused", u)
		}
	}
	if _, err := g.CheckURL("https://hooks.example.com/x?y=1"); err != nil {
		t.Errorf("CheckURL(public name) = %v, want accepted (names are checked at connect)", err)
	}
}

// A name that resolves to loopback passes CheckURL but is refused when the
// client connects: the check is on the dialled address.
func TestClientRefusesAtConnect(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }))
	defer srv.Close()
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	var g Guard
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://localhost:"+strconv.Itoa(port)+"/", nil)
	_, err := g.Client(10 * time.Second).Do(req)
	if err == nil || !errors.Is(err, ErrBlocked) {
		t.Fatalf("GET via localhost without allow-list = %v, want ErrBlocked", err)
	}
	allowed := New(mustPrefixes("127.0.0.0/8", "::1/128"))
	req, _ = http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
	resp, err := allowed.Client(10 * time.Second).Do(req)
	if err != nil {
		t.Fatalf("GET with loopback allowed = %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 {
		t.Fatalf("status %d, want 204", resp.StatusCode)
	}
}

// A redirect from an allowed server to a blocked one is not followed.
func TestClientRefusesRedirectToBlocked(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }))
	defer target.Close()
	tport := target.Listener.Addr().(*net.TCPAddr).Port
	redir := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://127.0.0.2:"+strconv.Itoa(tport)+"/", http.StatusFound)
	}))
	defer redir.Close()
	g := New(mustPrefixes("127.0.0.1/32"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", redir.URL, nil)
	_, err := g.Client(10 * time.Second).Do(req)
	if err == nil || !strings.Contains(err.Error(), "not allowed") {
		t.Fatalf("redirect to 127.0.0.2 = %v, want refused", err)
	}
}
