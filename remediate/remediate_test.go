package remediate

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/eventlog"
	"github.com/anomalyd/detector/netguard"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// receiver is a fake terminate-instance endpoint.
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	calls  []call
	status int // answer; 0 is 200
}

type call struct {
	Method, Path, Body, Auth, Custom string
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.calls = append(rc.calls, call{r.Method, r.URL.Path, string(b), r.Header.Get("Authorization"), r.Header.Get("X-Reason")})
		st := rc.status
		rc.mu.Unlock()
		if st == 0 {
			st = 200
		}
		w.WriteHeader(st)
		fmt.Fprintf(w, `{"terminated":%q}`, r.URL.Path)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) Calls() []call {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]call(nil), rc.calls...)
}

// groups is a fake peer-group table.
type groups struct {
	mu sync.Mutex
	g  map[string]Group // series -> group
}

func (g *groups) GroupOf(rule, series string) (Group, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	gr, ok := g.g[series]
	return gr, ok && gr.PeerRule == rule
}

// cluster makes a group of n members "cpu{cluster="c1",instance="iK"}",
// with the given members outlying.
func (g *groups) cluster(n int, outliers ...int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.g = map[string]Group{}
	gr := Group{PeerRule: "web", Key: `cpu{cluster="c1"}`, Members: n}
	for _, o := range outliers {
		gr.Outliers = append(gr.Outliers, member(o))
	}
	for i := range n {
		g.g[member(i)] = gr
	}
}

func member(i int) string { return fmt.Sprintf(`cpu{cluster="c1",instance="i%d"}`, i) }

type env struct {
	t      *testing.T
	x      *Remediator
	clock  *clock
	rcv    *receiver
	groups *groups
	opts   Options
	events []anomaly.Event
	evMu   sync.Mutex
	nextID anomaly.ID
}

func newEnv(t *testing.T, mod func(*Options)) *env {
	t.Helper()
	e := &env{t: t, clock: &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}, rcv: newReceiver(t), groups: &groups{g: map[string]Group{}}}
	dir := t.TempDir()
	allow, _ := netguard.ParseAllowList([]string{"127.0.0.1"})
	e.opts = Options{
		Path:           filepath.Join(dir, "remediation.db"),
		Guard:          netguard.New(allow),
		Groups:         e.groups,
		CredentialsDir: dir,
		RetryBackoff:   time.Millisecond,
		Now:            e.clock.Now,
		Events: func(ev anomaly.Event) {
			e.evMu.Lock()
			e.events = append(e.events, ev)
			e.evMu.Unlock()
		},
	}
	if mod != nil {
		mod(&e.opts)
	}
	e.open()
	return e
}

func (e *env) open() {
	e.t.Helper()
	x, err := New(e.opts)
	if err != nil {
		e.t.Fatal(err)
	}
	e.x = x
	e.t.Cleanup(func() { x.Close() })
}

// restart closes the remediator and opens its state file again.
func (e *env) restart() {
	e.t.Helper()
	if err := e.x.Close(); err != nil {
		e.t.Fatal(err)
	}
	e.open()
}

func f(b bool) *bool { return &b }

// live returns a live HTTP rule for the peer group "web".
func (e *env) rule(name string, mod func(*Rule)) Rule {
	r := Rule{
		Name: name, PeerRule: "web", Events: []string{TriggerPeerOutlierOpened}, DryRun: f(false),
		Action: Action{Type: "http", HTTP: &HTTPAction{
			URL:     e.rcv.srv.URL + "/terminate/{{.Labels.instance}}",
			Body:    `{"instance":{{json .Labels.instance}},"anomaly":{{json .AnomalyID}}}`,
			Headers: map[string]string{"X-Reason": "{{.Rule}} score {{printf \"%.1f\" .Score}}"},
		}},
	}
	if mod != nil {
		mod(&r)
	}
	return r
}

func (e *env) add(r Rule) Rule {
	e.t.Helper()
	out, err := e.x.AddRule(r)
	if err != nil {
		e.t.Fatalf("AddRule: %v", err)
	}
	return out
}

// outlier feeds a peer-outlier opened event for member i.
func (e *env) outlier(i int) anomaly.ID {
	e.nextID++
	s := member(i)
	ev := anomaly.Event{Kind: anomaly.EventOpened, AnomalyID: e.nextID, AnomalyKind: anomaly.KindPeerOutlier, Series: s,
		At: e.clock.Now(), Verdict: anomaly.Verdict{Series: s, Score: 4, Value: 99, Detector: "peers:web", State: anomaly.StateAnomalous}}
	e.feed(ev)
	return e.nextID
}

func (e *env) feed(evs ...anomaly.Event) {
	e.t.Helper()
	batch := make([]eventlog.Entry, len(evs))
	for i, ev := range evs {
		batch[i] = eventlog.Entry{Seq: uint64(i + 1), Event: ev}
	}
	if err := e.x.Handle(context.Background(), batch); err != nil {
		e.t.Fatal(err)
	}
	e.x.Wait()
}

// outcomes lists "outcome[/cap]" of the audit trail for rule.
func (e *env) outcomes(rule string) []string {
	var out []string
	for _, r := range e.x.Actions(ActionQuery{Rule: rule, Limit: 1000}).Actions {
		s := r.Outcome
		if r.Cap != "" {
			s += "/" + r.Cap
		}
		out = append(out, s)
	}
	return out
}

func (e *env) wantOutcomes(rule string, want ...string) {
	e.t.Helper()
	got := e.outcomes(rule)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		e.t.Fatalf("outcomes of %s = %v, want %v", rule, got, want)
	}
}

func TestDryRunIsTheDefault(t *testing.T) {
	e := newEnv(t, nil)
	e.groups.cluster(20, 3)
	r := e.rule("term", func(r *Rule) { r.DryRun = nil })
	got := e.add(r)
	if got.DryRun == nil || !*got.DryRun {
		t.Fatalf("dry_run = %v, want true by default", got.DryRun)
	}
	e.outlier(3)
	e.wantOutcomes("term", "dry_run")
	if n := len(e.rcv.Calls()); n != 0 {
		t.Fatalf("dry run made %d calls", n)
	}
	rec := e.x.Actions(ActionQuery{}).Actions[0]
	if rec.Request == nil || !strings.HasSuffix(rec.Request.URL, "/terminate/i3") || rec.Group != `cpu{cluster="c1"}` {
		t.Fatalf("dry-run record = %+v, want the rendered request and the group", rec)
	}
}

func TestExecutesTemplatedCallWithCredentials(t *testing.T) {
	e := newEnv(t, nil)
	e.groups.cluster(20, 3)
	if err := os.WriteFile(filepath.Join(e.opts.CredentialsDir, "token"), []byte("Bearer s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.add(e.rule("term", func(r *Rule) { r.Action.HTTP.CredentialsFile = "token" }))
	id := e.outlier(3)
	e.wantOutcomes("term", "executed")
	calls := e.rcv.Calls()
	if len(calls) != 1 {
		t.Fatalf("%d calls, want 1", len(calls))
	}
	c := calls[0]
	want := call{"POST", "/terminate/i3", fmt.Sprintf(`{"instance":"i3","anomaly":"%d"}`, id), "Bearer s3cret", "term score 4.0"}
	if c != want {
		t.Fatalf("call = %+v, want %+v", c, want)
	}
	rec := e.x.Actions(ActionQuery{}).Actions[0]
	if rec.Response == nil || rec.Response.Status != 200 || !strings.Contains(rec.Response.Body, "terminated") || rec.AnomalyID != id {
		t.Fatalf("record = %+v, want the response and the anomaly", rec)
	}
	b, _ := json.Marshal(e.x.Actions(ActionQuery{}))
	rb, _ := json.Marshal(e.x.Rules())
	if strings.Contains(string(b)+string(rb), "s3cret") {
		t.Fatal("the credential appears in the audit trail or the rule")
	}
	// The decision is an event of its own.
	e.evMu.Lock()
	defer e.evMu.Unlock()
	if len(e.events) != 1 || e.events[0].Kind != anomaly.EventRemediation || e.events[0].AnomalyID != id ||
		e.events[0].Remediation.Outcome != OutcomeExecuted {
		t.Fatalf("events = %+v, want one remediation event for anomaly %d", e.events, id)
	}
}

func TestRuleHourlyCap(t *testing.T) {
	e := newEnv(t, nil)
	e.groups.cluster(100) // 10% of 100: the group cap stays out of the way
	e.add(e.rule("term", func(r *Rule) { r.MaxPerHour = 2 }))
	for i := range 3 {
		e.outlier(i)
	}
	e.wantOutcomes("term", "executed", "executed", "suppressed/rule_max_per_hour")
	e.clock.Add(61 * time.Minute)
	e.outlier(4)
	e.wantOutcomes("term", "executed", "executed", "suppressed/rule_max_per_hour", "executed")
}

func TestGlobalHourlyCap(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.GlobalMaxPerHour = 2 })
	e.groups.cluster(100)
	e.add(e.rule("a", nil))
	e.add(e.rule("b", func(r *Rule) { r.PeerRule, r.Match, r.Events = "", "cpu", []string{TriggerAnomalyOpened} }))
	point := func(id anomaly.ID, i int) {
		e.feed(anomaly.Event{Kind: anomaly.EventOpened, AnomalyID: id, Series: member(i), At: e.clock.Now(),
			Verdict: anomaly.Verdict{Score: 1}})
	}
	e.outlier(1)
	point(100, 2)
	e.outlier(3)
	point(101, 4)
	e.wantOutcomes("a", "executed", "suppressed/global_max_per_hour")
	e.wantOutcomes("b", "executed", "suppressed/global_max_per_hour")
}

func TestCooldownPerSeries(t *testing.T) {
	e := newEnv(t, nil)
	e.groups.cluster(100)
	e.add(e.rule("term", func(r *Rule) { r.Cooldown = Duration(30 * time.Minute) }))
	e.outlier(7)
	e.clock.Add(10 * time.Minute)
	e.outlier(7) // a new anomaly of the same series
	e.clock.Add(21 * time.Minute)
	e.outlier(7)
	e.wantOutcomes("term", "executed", "suppressed/cooldown", "executed")
}

func TestGroupFractionCap(t *testing.T) {
	e := newEnv(t, nil)
	e.add(e.rule("term", func(r *Rule) { r.MaxPerHour = 100 }))
	e.groups.cluster(20, 0)
	e.outlier(0)
	bad := []int{0}
	for i := 1; i < 10; i++ {
		bad = append(bad, i)
	}
	e.groups.cluster(20, bad...)
	for i := 1; i < 10; i++ {
		e.outlier(i)
	}
	if n := len(e.rcv.Calls()); n != 2 {
		t.Fatalf("%d calls, want 2 (10%% of 20)", n)
	}
	want := []string{"executed", "executed"}
	for range 8 {
		want = append(want, "suppressed/group_fraction")
	}
	e.wantOutcomes("term", want...)
	// The window passes: the group may lose another member.
	e.clock.Add(61 * time.Minute)
	e.outlier(5)
	if n := len(e.rcv.Calls()); n != 3 {
		t.Fatalf("%d calls after the group window, want 3", n)
	}
}

func TestGroupNeverTheLastHealthy(t *testing.T) {
	e := newEnv(t, nil)
	// 4 members, 3 outlying: acting on one would leave 1 healthy, half is 2.
	e.add(e.rule("term", func(r *Rule) { r.MaxGroupFraction = 1 }))
	e.groups.cluster(4, 0, 1, 2)
	e.outlier(0)
	e.wantOutcomes("term", "suppressed/group_last_healthy")
	// Unknown group: suppressed too, the share cannot be judged.
	e.groups.cluster(0)
	e.outlier(1)
	e.wantOutcomes("term", "suppressed/group_last_healthy", "suppressed/group_fraction")
	if n := len(e.rcv.Calls()); n != 0 {
		t.Fatalf("%d calls, want none", n)
	}
}

func TestKillSwitchAPI(t *testing.T) {
	e := newEnv(t, nil)
	e.groups.cluster(100)
	e.add(e.rule("term", nil))
	if _, err := e.x.SetKillSwitch(true, "incident 42"); err != nil {
		t.Fatal(err)
	}
	e.outlier(1)
	e.restart() // the switch holds across a restart
	if k := e.x.KillSwitch(); !k.Engaged || k.Reason != "incident 42" {
		t.Fatalf("kill switch after restart = %+v", k)
	}
	e.outlier(2)
	e.x.SetKillSwitch(false, "")
	e.outlier(3)
	e.wantOutcomes("term", "suppressed/kill_switch", "suppressed/kill_switch", "executed")
	if n := len(e.rcv.Calls()); n != 1 {
		t.Fatalf("%d calls, want 1", n)
	}
}

func TestKillSwitchFileAndFlag(t *testing.T) {
	stop := filepath.Join(t.TempDir(), "STOP")
	e := newEnv(t, func(o *Options) { o.KillFile = stop })
	e.groups.cluster(100)
	e.add(e.rule("term", nil))
	os.WriteFile(stop, nil, 0o600)
	e.outlier(1)
	if k := e.x.KillSwitch(); !k.File || k.Engaged {
		t.Fatalf("kill switch = %+v, want the file engaged", k)
	}
	os.Remove(stop)
	e.outlier(2)
	e.wantOutcomes("term", "suppressed/kill_switch", "executed")

	e.x.Close()
	e.opts.KillSwitch = true
	e.open()
	if _, err := e.x.SetKillSwitch(false, ""); err != nil {
		t.Fatal(err)
	}
	e.outlier(3)
	e.wantOutcomes("term", "suppressed/kill_switch", "executed", "suppressed/kill_switch")
}

func TestApprovalAndExpiry(t *testing.T) {
	e := newEnv(t, nil)
	e.groups.cluster(100)
	e.add(e.rule("term", func(r *Rule) { r.RequireApproval = true; r.ApprovalTimeout = Duration(10 * time.Minute) }))
	e.outlier(1)
	e.outlier(2)
	e.wantOutcomes("term", "pending", "pending")
	if n := len(e.rcv.Calls()); n != 0 {
		t.Fatalf("pending actions made %d calls", n)
	}
	recs := e.x.Actions(ActionQuery{Outcome: OutcomePending}).Actions
	if recs[0].ExpiresAt == nil || recs[0].Request == nil {
		t.Fatalf("pending record = %+v, want its expiry and request", recs[0])
	}
	if _, err := e.x.Approve(recs[0].ActionID); err != nil {
		t.Fatal(err)
	}
	e.x.Wait()
	if _, err := e.x.Approve(recs[0].ActionID); err == nil {
		t.Fatal("approving twice succeeded")
	}
	// The second expires, and survives a restart as pending until then.
	e.restart()
	e.clock.Add(11 * time.Minute)
	e.x.ExpirePending()
	if _, err := e.x.Approve(recs[1].ActionID); err == nil {
		t.Fatal("approving an expired action succeeded")
	}
	e.wantOutcomes("term", "pending", "pending", "approved", "executed", "expired")
	if c := e.rcv.Calls(); len(c) != 1 || c[0].Path != "/terminate/i1" {
		t.Fatalf("calls = %+v, want the approved one only", c)
	}
}

func TestFailingEndpointRetriedThenFailed(t *testing.T) {
	e := newEnv(t, nil)
	e.groups.cluster(100)
	e.rcv.status = 503
	e.add(e.rule("term", func(r *Rule) { r.Action.Retries = 2 }))
	e.outlier(1)
	e.wantOutcomes("term", "retried", "retried", "failed")
	if n := len(e.rcv.Calls()); n != 3 {
		t.Fatalf("%d attempts, want 3", n)
	}
	rec := e.x.Actions(ActionQuery{Outcome: OutcomeFailed}).Actions[0]
	if rec.Attempt != 3 || rec.Response == nil || rec.Response.Status != 503 || !strings.Contains(rec.Error, "503") {
		t.Fatalf("failed record = %+v", rec)
	}
}

func TestCapsHoldAcrossRestart(t *testing.T) {
	e := newEnv(t, nil)
	e.groups.cluster(20)
	e.add(e.rule("term", nil))
	e.outlier(0)
	e.outlier(1)
	e.restart()
	if len(e.x.Rules()) != 1 {
		t.Fatal("rule lost in the restart")
	}
	e.outlier(2) // group: 2 of 20 acted on already
	e.outlier(0) // cooldown
	e.feed(anomaly.Event{Kind: anomaly.EventOpened, AnomalyID: 1, AnomalyKind: anomaly.KindPeerOutlier, Series: member(0),
		At: e.clock.Now(), Verdict: anomaly.Verdict{Score: 4, Detector: "peers:web"}}) // redelivered: decided once
	e.wantOutcomes("term", "executed", "executed", "suppressed/group_fraction", "suppressed/cooldown")
	if n := len(e.rcv.Calls()); n != 2 {
		t.Fatalf("%d calls, want 2", n)
	}
}

func TestConditions(t *testing.T) {
	e := newEnv(t, nil)
	e.add(e.rule("slow", func(r *Rule) {
		r.PeerRule, r.Match = "", `cpu{cluster="c1"}`
		r.Events = []string{TriggerAnomalyOpened}
		r.MinDuration = Duration(5 * time.Minute)
		r.MinScore = 0.9
		r.Detector = "seasonal"
	}))
	s := member(1)
	ev := func(kind anomaly.EventKind, at time.Duration, score float64, det string) anomaly.Event {
		return anomaly.Event{Kind: kind, AnomalyID: 9, AnomalyKind: anomaly.KindPoint, Series: s, At: e.clock.Now().Add(at),
			Verdict: anomaly.Verdict{Score: score, Detector: det}}
	}
	e.feed(ev(anomaly.EventOpened, 0, 0.95, "seasonal"), ev(anomaly.EventUpdated, 2*time.Minute, 0.95, "seasonal"),
		ev(anomaly.EventUpdated, 6*time.Minute, 0.5, "seasonal"), ev(anomaly.EventUpdated, 7*time.Minute, 0.95, "other"))
	e.wantOutcomes("slow")
	e.feed(ev(anomaly.EventUpdated, 8*time.Minute, 0.95, "seasonal"))
	e.wantOutcomes("slow", "executed")
	// Other series and peer events do not match.
	e.feed(anomaly.Event{Kind: anomaly.EventOpened, AnomalyID: 10, Series: `cpu{cluster="c2"}`, At: e.clock.Now(),
		Verdict: anomaly.Verdict{Score: 1, Detector: "seasonal"}})
	e.wantOutcomes("slow", "executed")
}

func TestRuleValidation(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		o.Commands = map[string]Command{"drain": {Path: "/bin/echo"}}
	})
	bad := map[string]func(*Rule){
		"no matcher":         func(r *Rule) { r.PeerRule = "" },
		"unknown event":      func(r *Rule) { r.Events = []string{"resolved"} },
		"bad template":       func(r *Rule) { r.Action.HTTP.URL = "http://127.0.0.1/{{.Nope" },
		"metadata address":   func(r *Rule) { r.Action.HTTP.URL = "http://169.254.169.254/latest/meta-data" },
		"file scheme":        func(r *Rule) { r.Action.HTTP.URL = "file:///etc/passwd" },
		"credentials escape": func(r *Rule) { r.Action.HTTP.CredentialsFile = "../../etc/shadow" },
		"absolute creds":     func(r *Rule) { r.Action.HTTP.CredentialsFile = "/etc/shadow" },
		"unknown command":    func(r *Rule) { r.Action = Action{Type: "command", Command: "rm"} },
		"fraction":           func(r *Rule) { r.MaxGroupFraction = 2 },
		"reserved name":      func(r *Rule) { r.Name = "actions" },
		"header injection":   func(r *Rule) { r.Action.HTTP.Headers = map[string]string{"X: y": "z"} },
		"endless loop":       func(r *Rule) { r.Action.HTTP.Body = `{{range 100000000000}}{{end}}` },
		"nested loop":        func(r *Rule) { r.Action.HTTP.Body = `{{if .Series}}{{range .Labels}}x{{end}}{{end}}` },
		"huge width":         func(r *Rule) { r.Action.HTTP.Body = `{{printf "%999999999d" 1}}` },
		"recursion":          func(r *Rule) { r.Action.HTTP.Body = `{{define "a"}}{{template "a"}}{{end}}{{template "a"}}` },
	}
	for name, mod := range bad {
		if _, err := e.x.AddRule(e.rule("r", mod)); err == nil {
			t.Errorf("%s: AddRule accepted the rule", name)
		}
	}
	e.add(e.rule("ok", nil))
	if _, err := e.x.AddRule(e.rule("ok", nil)); err == nil {
		t.Error("a taken name was accepted")
	}
	got, err := e.x.PatchRule("ok", []byte(`{"dry_run": true, "action": {"http": {"method": "DELETE"}}}`))
	if err != nil || !*got.DryRun || got.Action.HTTP.Method != "DELETE" || got.Action.HTTP.URL == "" {
		t.Fatalf("PatchRule = %+v, %v", got, err)
	}
	if _, err := e.x.PatchRule("ok", []byte(`{"max_group_fraction": 5}`)); err == nil {
		t.Fatal("an invalid patch was accepted")
	}
	if err := e.x.DeleteRule("ok"); err != nil || len(e.x.Rules()) != 0 {
		t.Fatalf("DeleteRule: %v", err)
	}
}

func TestGuardRefusesUnlistedLoopback(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.Guard = netguard.New([]netip.Prefix{netip.MustParsePrefix("10.9.9.9/32")}) })
	e.groups.cluster(100)
	// A name is not checked until the call: localhost resolves to loopback.
	r := e.rule("term", func(r *Rule) {
		r.Action.HTTP.URL = strings.Replace(e.rcv.srv.URL, "127.0.0.1", "localhost", 1) + "/x"
		r.Action.Retries = -1
	})
	e.add(r)
	e.outlier(1)
	e.wantOutcomes("term", "failed")
	if rec := e.x.Actions(ActionQuery{}).Actions[0]; !strings.Contains(rec.Error, "not allowed") {
		t.Fatalf("error = %q, want the guard's refusal", rec.Error)
	}
	if n := len(e.rcv.Calls()); n != 0 {
		t.Fatalf("%d calls reached loopback", n)
	}
}

func TestCommandAction(t *testing.T) {
	cmds, err := os.CreateTemp(t.TempDir(), "cmds*.json")
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(cmds, `{"commands": {"echo": {"path": "/bin/echo", "args": ["drain", "{{.Labels.instance}}"]}}}`)
	cmds.Close()
	c, err := LoadCommands(cmds.Name())
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(o *Options) { o.Commands = c })
	e.groups.cluster(100)
	e.add(e.rule("drain", func(r *Rule) { r.Action = Action{Type: "command", Command: "echo"} }))
	e.outlier(4)
	rec := e.x.Actions(ActionQuery{}).Actions[0]
	if rec.Outcome != OutcomeExecuted || rec.Response == nil || rec.Response.Body != "drain i4\n" {
		t.Fatalf("record = %+v", rec)
	}
}

func TestPeerRuleMatchesPointAnomaliesOfMembersOnly(t *testing.T) {
	e := newEnv(t, nil)
	e.groups.cluster(100)
	e.add(e.rule("term", func(r *Rule) { r.Events = []string{TriggerAnomalyOpened} }))
	e.feed(anomaly.Event{Kind: anomaly.EventOpened, AnomalyID: 50, Series: `mem{host="x"}`, At: e.clock.Now()},
		anomaly.Event{Kind: anomaly.EventOpened, AnomalyID: 51, Series: member(3), At: e.clock.Now()})
	e.wantOutcomes("term", "executed")
}

func TestOldActionsArePruned(t *testing.T) {
	e := newEnv(t, nil)
	e.groups.cluster(100)
	e.add(e.rule("term", nil))
	e.outlier(1)
	e.x.ExpirePending() // prunes: nothing old yet
	e.clock.Add(9 * 24 * time.Hour)
	e.x.ExpirePending()
	e.x.mu.Lock()
	acts, handled := len(e.x.acts), len(e.x.handled)
	e.x.mu.Unlock()
	if acts != 0 || handled != 0 {
		t.Fatalf("after 9 days: %d acts, %d decided pairs kept, want 0", acts, handled)
	}
	e.restart()
	if len(e.x.acts) != 0 || len(e.x.handled) != 0 {
		t.Fatal("pruned state came back after a restart")
	}
}

// A label value starting with '-' is not passed to a command where the
// configured argument does not start with one: it would be an option.
func TestCommandArgumentFromDataIsNoOption(t *testing.T) {
	c := map[string]Command{}
	cmds, err := os.CreateTemp(t.TempDir(), "cmds*.json")
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(cmds, `{"commands": {"drain": {"path": "/bin/echo", "args": ["drain", "{{.Labels.instance}}", "--host={{.Labels.instance}}"]}}}`)
	cmds.Close()
	if c, err = LoadCommands(cmds.Name()); err != nil {
		t.Fatal(err)
	}
	x := &Remediator{opts: Options{Commands: c}}
	rule := &compiled{rule: Rule{Action: Action{Type: "command", Command: "drain"}}}
	argv, err := x.argv(rule, Data{Labels: map[string]string{"instance": "i-0abc"}})
	if err != nil || strings.Join(argv, " ") != "/bin/echo drain i-0abc --host=i-0abc" {
		t.Fatalf("argv = %q, %v", argv, err)
	}
	if argv, err := x.argv(rule, Data{Labels: map[string]string{"instance": "--all"}}); err == nil {
		t.Fatalf("argv = %q: a label value became an option", argv)
	}
}
