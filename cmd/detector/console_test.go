package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/anomalyd/detector/demo"
)

// browserPath finds Debian's chromium (or another Chrome). Under CI=true a
// missing browser fails the test; elsewhere it skips.
func browserPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no chromium on PATH; .ci/run must install it (apt-get install chromium)")
	}
	t.Skip("no chromium on PATH (apt-get install chromium)")
	return ""
}

// newBrowser starts a headless browser with a fresh profile; the returned
// context drives one tab.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	exe := browserPath(t)
	// Not t.TempDir: the browser's helper processes may still write to the
	// profile for a moment after it closed, which fails TempDir's cleanup.
	profile, err := os.MkdirTemp("", "detector-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for range 20 {
			if os.RemoveAll(profile) == nil {
				return
			}
			time.Sleep(250 * time.Millisecond)
		}
	})
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1360, 1000),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelC()
		cancelA() // kills the browser and waits for the process to exit
	})
	// Generous: the machine is shared and the browser starts cold.
	ctx, cancelT := context.WithTimeout(ctx, 4*time.Minute)
	t.Cleanup(cancelT)
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("starting %s: %v", exe, err)
	}
	return ctx
}

// screenshot saves the tab to $CONSOLE_SCREENSHOTS/name.png when that
// variable names a directory (CI keeps them as artefacts).
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("CONSOLE_SCREENSHOTS")
	if dir == "" {
		return
	}
	var png []byte
	if err := chromedp.Run(ctx, chromedp.FullScreenshot(&png, 100)); err != nil {
		t.Errorf("screenshot %s: %v", name, err)
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// runDemo pushes the demo fleet into the service at base with the real
// binary (`detector demo --url`), backfill only.
func runDemo(t *testing.T, base, tokenFile string) {
	t.Helper()
	args := []string{"demo", "--url", base, "--live-every", "0"}
	if tokenFile != "" {
		args = append(args, "--token-file", tokenFile)
	}
	cmd := exec.Command(detectorBinary(t), args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("detector demo: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "points accepted, 0 rejected") {
		t.Fatalf("demo did not push cleanly:\n%s", out)
	}
}

// waitPeerOutlier waits until the peer groups have been judged and the
// drifting server is an outlier (the service judges every --peer-interval).
func waitPeerOutlier(t *testing.T, base, token string) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/peers/outliers?rule=edge-cpu", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			var b strings.Builder
			buf := make([]byte, 64<<10)
			for {
				n, err := resp.Body.Read(buf)
				b.Write(buf[:n])
				if err != nil {
					break
				}
			}
			resp.Body.Close()
			if strings.Contains(b.String(), `"member":"`+demo.DriftServer+`"`) && strings.Contains(b.String(), `"outlier":true`) {
				return
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("no peer outlier for %s within 90 s", demo.DriftServer)
}

// waitText waits for sel to exist and returns its text.
func text(ctx context.Context, sel string) (string, error) {
	var s string
	err := chromedp.Run(ctx, chromedp.WaitVisible(sel, chromedp.ByQuery), chromedp.Text(sel, &s, chromedp.ByQuery))
	return s, err
}

// goTo opens url (often the same page with another hash) and waits until
// the console has rendered that route: the ready mark is cleared first so
// that the previous route's mark does not count.
func goTo(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	var ignored any
	if err := chromedp.Run(ctx,
		chromedp.Evaluate(`document.body && (document.body.dataset.ready = "")`, &ignored),
		chromedp.Navigate(url),
	); err != nil {
		t.Fatal(err)
	}
	if err := waitReady(ctx); err != nil {
		t.Fatalf("%s did not render: %v", url, err)
	}
}

// waitReady waits for the page to have rendered its route.
func waitReady(ctx context.Context) error {
	return chromedp.Run(ctx, chromedp.WaitVisible(`body[data-ready="1"]`, chromedp.ByQuery))
}

func attr(ctx context.Context, sel, name string) (string, error) {
	var v string
	var ok bool
	err := chromedp.Run(ctx, chromedp.WaitVisible(sel, chromedp.ByQuery), chromedp.AttributeValue(sel, name, &v, &ok, chromedp.ByQuery))
	if err == nil && !ok {
		err = fmt.Errorf("%s has no attribute %s", sel, name)
	}
	return v, err
}

// consoleTour walks the console as a user would: the explorer lists the
// demo's series, the failing device's series page draws the chart with its
// band and anomalous points, the timeline shows the incident, and the peer
// page the drifting server.
func consoleTour(t *testing.T, ctx context.Context, base, shotPrefix string) {
	t.Helper()
	// Explorer, anomalous first.
	goTo(t, ctx, base+"/#/series?sort=state")
	tbl, err := text(ctx, "#series-table")
	if err != nil {
		t.Fatalf("explorer table: %v", err)
	}
	for _, want := range []string{demo.PlayMetric} {
		if !strings.Contains(tbl, want) {
			t.Errorf("explorer lists no %q:\n%.800s", want, tbl)
		}
	}
	screenshot(t, ctx, shotPrefix+"explorer")

	// A matcher narrows the list.
	sel := `{device="` + demo.FailingDevice + `",title="` + demo.BrokenTitle + `"}`
	goTo(t, ctx, base+"/#/series?sort=state&match="+url.QueryEscape(sel))
	var rows int
	if err := chromedp.Run(ctx, chromedp.Evaluate(`document.querySelectorAll("#series-table tbody tr").length`, &rows)); err != nil {
		t.Fatal(err)
	}
	if rows != len(demo.NewFleet(time.Now(), 1).Bitrates) {
		t.Errorf("matcher %s lists %d series, want one per bitrate", sel, rows)
	}

	// The series page of a failing key: chart, band, anomalous points.
	s := demo.PlaySeries("stranger_things", demo.FailingDevice, "3000")
	goTo(t, ctx, base+"/#/series/"+url.PathEscape(s))
	if err := chromedp.Run(ctx, chromedp.WaitVisible("#chart canvas", chromedp.ByQuery)); err != nil {
		t.Fatalf("no chart drawn: %v", err)
	}
	pts, _ := attr(ctx, "#chart", "data-points")
	anom, _ := attr(ctx, "#chart", "data-anomalous")
	ranges, _ := attr(ctx, "#chart", "data-ranges")
	if n, _ := strconv.Atoi(pts); n < 100 {
		t.Errorf("chart draws %s points, want the recent history (100+)", pts)
	}
	if n, _ := strconv.Atoi(anom); n < 1 {
		t.Errorf("chart marks %s anomalous points, want at least 1", anom)
	}
	if n, _ := strconv.Atoi(ranges); n < 1 {
		t.Errorf("chart shades %s anomalies, want at least 1", ranges)
	}
	// The band is drawn: uPlot's legend lists lower and upper with values.
	leg, err := text(ctx, ".u-legend")
	leg = strings.ToLower(leg)
	if err != nil || !strings.Contains(leg, "lower") || !strings.Contains(leg, "upper") || !strings.Contains(leg, "expected") {
		t.Errorf("chart legend %q (%v): want value, expected, lower, upper", leg, err)
	}
	if ex, err := text(ctx, "#explain"); err != nil || !strings.Contains(ex, "expected") {
		t.Errorf("verdict explanation %q (%v)", ex, err)
	}
	screenshot(t, ctx, shotPrefix+"series")

	// The timeline shows the incident: the failing device's anomalies.
	goTo(t, ctx, base+"/#/timeline")
	tl, err := text(ctx, "#timeline-table")
	if err != nil {
		t.Fatalf("timeline: %v", err)
	}
	if !strings.Contains(tl, demo.FailingDevice) {
		t.Errorf("timeline shows no anomaly of device %s:\n%.600s", demo.FailingDevice, tl)
	}
	// What the recent anomalies share names the failing device.
	if sh, err := text(ctx, "#shared"); err != nil || !strings.Contains(sh, demo.FailingDevice) {
		t.Errorf("shared labels %q (%v): want device %s", sh, err, demo.FailingDevice)
	}
	screenshot(t, ctx, shotPrefix+"timeline")
	goTo(t, ctx, base+"/#/timeline?state=open")
	screenshot(t, ctx, shotPrefix+"timeline-open")
	if tl, err := text(ctx, "#timeline-table"); err != nil || !strings.Contains(tl, "peer outlier") || !strings.Contains(tl, demo.DriftServer) {
		t.Errorf("open anomalies (%v) do not show the peer outlier %s:\n%.600s", err, demo.DriftServer, tl)
	}

	// Peer groups: the drifting server is drawn and flagged.
	goTo(t, ctx, base+"/#/peers")
	grp, err := text(ctx, ".group.has-outlier")
	if err != nil {
		t.Fatalf("no group with an outlier: %v", err)
	}
	if !strings.Contains(grp, demo.DriftServer) || !strings.Contains(grp, "outlier") {
		t.Errorf("outlier group does not name %s:\n%.600s", demo.DriftServer, grp)
	}
	if err := chromedp.Run(ctx, chromedp.WaitVisible(".group.has-outlier canvas", chromedp.ByQuery)); err != nil {
		t.Errorf("outlier group chart not drawn: %v", err)
	}
	screenshot(t, ctx, shotPrefix+"peers")
}

// TestConsoleInBrowser drives the console in headless Chromium against the
// real binary fed by `detector demo`, without access control.
func TestConsoleInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a browser")
	}
	ctx := newBrowser(t)
	p := startBinary(t, "--data-dir", "", "--peer-interval", "2s")
	runDemo(t, p.Base, "")
	waitPeerOutlier(t, p.Base, "")
	consoleTour(t, ctx, p.Base, "")
}

// TestConsoleWithAuth: with tokens on, the console asks for one, keeps it
// out of the URL, and then shows the same pages; a wrong token is refused.
func TestConsoleWithAuth(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a browser")
	}
	ctx := newBrowser(t)
	dir := t.TempDir()
	const token = "demo-console-token-0123456789abcdef"
	tokens := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokens, []byte("write "+token+" console\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tokFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startBinary(t, "--data-dir", "", "--peer-interval", "2s", "--auth-token-file", tokens)
	runDemo(t, p.Base, tokFile)
	waitPeerOutlier(t, p.Base, token)

	// The page itself loads without a token and asks for one.
	if err := chromedp.Run(ctx, chromedp.Navigate(p.Base+"/#/series")); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Run(ctx, chromedp.WaitVisible("#login-form", chromedp.ByQuery)); err != nil {
		t.Fatalf("no login form: %v", err)
	}
	screenshot(t, ctx, "auth-login")
	// A wrong token is refused.
	if err := chromedp.Run(ctx,
		chromedp.SendKeys("#token", "not-the-token", chromedp.ByQuery),
		chromedp.Click(`#login-form button[type="submit"]`, chromedp.ByQuery),
		chromedp.WaitVisible("#login-error", chromedp.ByQuery),
	); err != nil {
		t.Fatalf("wrong token: %v", err)
	}
	// The right one opens the console.
	if err := chromedp.Run(ctx,
		chromedp.SendKeys("#token", token, chromedp.ByQuery),
		chromedp.Click(`#login-form button[type="submit"]`, chromedp.ByQuery),
		chromedp.WaitNotVisible("#login", chromedp.ByQuery),
	); err != nil {
		t.Fatalf("sign in: %v", err)
	}
	consoleTour(t, ctx, p.Base, "auth-")
	var loc string
	if err := chromedp.Run(ctx, chromedp.Location(&loc)); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(loc, token) {
		t.Errorf("the token is in the URL: %s", loc)
	}
	// Signing out forgets the token.
	var stored string
	if err := chromedp.Run(ctx,
		chromedp.Click("#logout", chromedp.ByQuery),
		chromedp.WaitVisible("#login-form", chromedp.ByQuery),
		chromedp.Evaluate(`sessionStorage.getItem("detector.token") || ""`, &stored),
	); err != nil {
		t.Fatalf("sign out: %v", err)
	}
	if stored != "" {
		t.Errorf("token still in session storage after signing out")
	}
}
