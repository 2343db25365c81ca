package remediate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/eventlog"
	"github.com/anomalyd/detector/netguard"
	"github.com/anomalyd/detector/series"
)

// Outcomes of a decision, as the audit records them.
const (
	OutcomeExecuted   = "executed"
	OutcomeDryRun     = "dry_run"
	OutcomePending    = "pending"
	OutcomeApproved   = "approved"
	OutcomeSuppressed = "suppressed"
	OutcomeFailed     = "failed"
	OutcomeRetried    = "retried"
	OutcomeExpired    = "expired"
)

// Names of the safety caps, as suppressed records name them.
const (
	CapKillSwitch   = "kill_switch"
	CapCooldown     = "cooldown"
	CapRuleHourly   = "rule_max_per_hour"
	CapGlobalHourly = "global_max_per_hour"
	CapGroup        = "group_fraction"
	CapGroupHealthy = "group_last_healthy"
)

// Defaults of Options.
const (
	DefaultGlobalMaxPerHour = 20
	DefaultMaxAudit         = 20_000
	DefaultRetryBackoff     = time.Second
	// keepActs is how long past actions are kept for the caps.
	keepActs = 8 * 24 * time.Hour
	// maxCooldown bounds cooldown and group_window so keepActs covers them.
	maxCooldown = 7 * 24 * time.Hour
	maxResponse = 4 << 10
	maxOpen     = 1 << 20
)

// Group is what the remediator needs to know of a peer group.
type Group struct {
	PeerRule string
	Key      string
	// Members is the size of the group.
	Members int
	// Outliers are the series of the members judged outliers now.
	Outliers []string
}

// Groups finds the peer group of a series. Implementations are safe for
// concurrent use.
type Groups interface {
	// GroupOf returns the group of series under peer rule peerRule; ok is
	// false when the series is in no group of that rule (yet).
	GroupOf(peerRule, series string) (g Group, ok bool)
}

// Command is a local command of the configuration file. Args are
// text/templates over Data; no shell is involved.
type Command struct {
	Path    string   `json:"path"`
	Args    []string `json:"args"`
	Timeout Duration `json:"timeout"`
	args    []*template.Template
}

// LoadCommands reads the commands configuration file:
// {"commands": {"name": {"path": "/usr/local/bin/x", "args": ["{{.Labels.instance}}"]}}}.
func LoadCommands(path string) (map[string]Command, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f struct {
		Commands map[string]Command `json:"commands"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for name, c := range f.Commands {
		if !filepath.IsAbs(c.Path) {
			return nil, fmt.Errorf("%s: command %q: path %q must be absolute", path, name, c.Path)
		}
		for i, a := range c.Args {
			t, err := parseTemplate("args", a)
			if err != nil {
				return nil, fmt.Errorf("%s: command %q: arg %d: %v", path, name, i, err)
			}
			c.args = append(c.args, t)
		}
		f.Commands[name] = c
	}
	return f.Commands, nil
}

// Options configure a Remediator. Zero fields take the defaults in their
// comments.
type Options struct {
	// Path is the state file (bbolt); "" keeps everything in memory.
	Path string
	// Guard checks every destination of HTTP actions; nil refuses every
	// private, loopback and link-local address.
	Guard *netguard.Guard
	// Groups answers peer-group sizes for the group caps; nil: group caps
	// cannot be judged and actions on group members are suppressed.
	Groups Groups
	// Commands are the local commands rules may name (from a file).
	Commands map[string]Command
	// CredentialsDir holds the credentials files rules may name.
	CredentialsDir string
	// GlobalMaxPerHour caps the actions of all rules in any hour; default
	// 20; -1: no cap.
	GlobalMaxPerHour int
	// KillSwitch engaged from the start; the API cannot release it.
	KillSwitch bool
	// KillFile: while a file exists at this path, nothing is acted on.
	KillFile string
	// Events receives one event per audit record (the event log).
	Events func(anomaly.Event)
	// MaxAudit is the number of audit records kept; default 20,000.
	MaxAudit     int
	RetryBackoff time.Duration // first pause between attempts, doubled each time; default 1s
	Limits       series.Limits
	Logger       *slog.Logger
	Registerer   prometheus.Registerer
	Now          func() time.Time
}

// Record is one entry of the audit trail.
type Record struct {
	Seq         uint64     `json:"seq"`
	ActionID    string     `json:"action_id"`
	At          time.Time  `json:"at"`
	Rule        string     `json:"rule"`
	Outcome     string     `json:"outcome"`
	Cap         string     `json:"cap,omitempty"`
	Reason      string     `json:"reason,omitempty"`
	DryRun      bool       `json:"dry_run"`
	AnomalyID   anomaly.ID `json:"anomaly_id"`
	AnomalyKind string     `json:"anomaly_kind"`
	Event       string     `json:"event"`
	Series      string     `json:"series"`
	Score       float64    `json:"score"`
	PeerRule    string     `json:"peer_rule,omitempty"`
	Group       string     `json:"group,omitempty"`
	Attempt     int        `json:"attempt,omitempty"`
	Request     *Request   `json:"request,omitempty"`
	Command     []string   `json:"command,omitempty"`
	Response    *Response  `json:"response,omitempty"`
	Error       string     `json:"error,omitempty"`
	ExpiresAt   *time.Time `json:"expires_at,omitempty"`
}

// Response is what an action got back (the body cut at 4 KiB).
type Response struct {
	Status int    `json:"status,omitempty"`
	Body   string `json:"body,omitempty"`
}

// act is an action counted by the caps: taken (or, for a pending one,
// reserved) at At.
type act struct {
	ID       string    `json:"id"`
	Rule     string    `json:"rule"`
	Series   string    `json:"series"`
	PeerRule string    `json:"peer_rule,omitempty"`
	Group    string    `json:"group,omitempty"`
	At       time.Time `json:"at"`
	DryRun   bool      `json:"dry_run"`
}

// pendingAction waits for approval.
type pendingAction struct {
	Base    Record    `json:"base"`
	Data    Data      `json:"data"`
	Expires time.Time `json:"expires"`
}

// KillSwitch is the state of the global kill switch.
type KillSwitch struct {
	Engaged bool      `json:"engaged"`
	Reason  string    `json:"reason,omitempty"`
	Since   time.Time `json:"since,omitzero"`
	// Flag and File report the switches outside the API: the flag given
	// at start, and the presence of the kill file.
	Flag     bool   `json:"flag"`
	File     bool   `json:"file"`
	FilePath string `json:"file_path,omitempty"`
}

// ActionQuery filters the audit trail.
type ActionQuery struct {
	Rule, Outcome, ActionID string
	AnomalyID               anomaly.ID
	// After returns records with Seq greater than it (paging forward).
	After uint64
	Limit int
}

// ActionPage is one page of the audit trail, oldest first.
type ActionPage struct {
	Actions []Record `json:"actions"`
	// Next is the After of the next page, 0 when there is none.
	Next uint64 `json:"next,omitempty"`
}

// Remediator answers events with actions within the safety caps. It is
// safe for concurrent use.
type Remediator struct {
	opts   Options
	log    *slog.Logger
	client *http.Client
	db     *db
	m      *metrics

	mu      sync.Mutex
	rules   map[string]*compiled
	audit   []Record // oldest first
	seq     uint64
	acts    []act // oldest first
	handled map[string]time.Time
	pending map[string]*pendingAction
	kill    KillSwitch
	openAt  map[anomaly.ID]time.Time // first event time of anomalies seen open
	nextAct uint64
	pruned  time.Time // last pruning of acts and handled pairs

	wg     sync.WaitGroup
	ctx    context.Context
	cancel context.CancelFunc
}

// New opens the state at opts.Path (or starts empty) and returns the
// remediator. Call Close when done.
func New(opts Options) (*Remediator, error) {
	if opts.Guard == nil {
		opts.Guard = netguard.New(nil)
	}
	if opts.GlobalMaxPerHour == 0 {
		opts.GlobalMaxPerHour = DefaultGlobalMaxPerHour
	}
	if opts.MaxAudit <= 0 {
		opts.MaxAudit = DefaultMaxAudit
	}
	if opts.RetryBackoff <= 0 {
		opts.RetryBackoff = DefaultRetryBackoff
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	x := &Remediator{opts: opts, log: opts.Logger, client: opts.Guard.Client(0), m: m,
		rules: map[string]*compiled{}, handled: map[string]time.Time{}, pending: map[string]*pendingAction{},
		openAt: map[anomaly.ID]time.Time{}}
	x.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	x.ctx, x.cancel = context.WithCancel(context.Background())
	if opts.Path != "" {
		if x.db, err = openDB(opts.Path); err != nil {
			return nil, err
		}
		if err := x.load(); err != nil {
			x.db.close()
			return nil, err
		}
	}
	m.killSwitch(x.killed())
	return x, nil
}

// load reads the state back.
func (x *Remediator) load() error {
	now := x.opts.Now()
	err := x.db.each(bRules, func(k, v []byte) error {
		var r Rule
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("rule %s: %w", k, err)
		}
		c, err := x.compile(r)
		if err != nil {
			// A rule that no longer fits the configuration (a command
			// removed from the file) is kept, disabled.
			x.log.Warn("remediation rule no longer valid; disabled", "rule", r.Name, "err", err)
			f := false
			r.Enabled = &f
			c = &compiled{rule: r.withDefaults()}
		}
		x.rules[r.Name] = c
		return nil
	})
	if err == nil {
		err = x.db.each(bAudit, func(_, v []byte) error {
			var r Record
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			x.audit = append(x.audit, r)
			x.seq = max(x.seq, r.Seq)
			if n, err := strconv.ParseUint(r.ActionID, 10, 64); err == nil {
				x.nextAct = max(x.nextAct, n)
			}
			return nil
		})
	}
	var stale []op
	if err == nil {
		err = x.db.each(bActs, func(k, v []byte) error {
			var a act
			if err := json.Unmarshal(v, &a); err != nil {
				return err
			}
			if now.Sub(a.At) > keepActs {
				stale = append(stale, op{bActs, slices.Clone(k), nil})
				return nil
			}
			x.acts = append(x.acts, a)
			return nil
		})
	}
	if err == nil {
		err = x.db.each(bHandled, func(k, v []byte) error {
			var at time.Time
			if err := json.Unmarshal(v, &at); err != nil {
				return err
			}
			if now.Sub(at) > keepActs {
				stale = append(stale, op{bHandled, slices.Clone(k), nil})
				return nil
			}
			x.handled[string(k)] = at
			return nil
		})
	}
	if err == nil {
		err = x.db.each(bPending, func(k, v []byte) error {
			var p pendingAction
			if err := json.Unmarshal(v, &p); err != nil {
				return err
			}
			x.pending[string(k)] = &p
			return nil
		})
	}
	if err == nil {
		err = x.db.each(bMeta, func(k, v []byte) error {
			if bytes.Equal(k, kKill) {
				return json.Unmarshal(v, &x.kill)
			}
			return nil
		})
	}
	if err != nil {
		return fmt.Errorf("remediation state: %w", err)
	}
	slices.SortFunc(x.acts, func(a, b act) int { return a.At.Compare(b.At) })
	x.m.pendingGauge(len(x.pending))
	return x.db.apply(stale...)
}

// Close stops the running actions and the expiry loop and closes the
// state file.
func (x *Remediator) Close() error {
	x.cancel()
	x.wg.Wait()
	return x.db.close()
}

// ---- rules ----

func (x *Remediator) saveRule(c *compiled) error {
	return x.db.apply(op{bRules, []byte(c.rule.Name), c.rule})
}

// AddRule validates r, fills its defaults and stores it. Errors are
// *anomaly.Error: CodeConflict for a taken name, CodeMissingField or
// CodeInvalidArgument for an invalid rule.
func (x *Remediator) AddRule(r Rule) (Rule, error) {
	r.CreatedAt = x.opts.Now().UTC()
	r.UpdatedAt = r.CreatedAt
	c, err := x.compile(r)
	if err != nil {
		return Rule{}, err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if _, ok := x.rules[r.Name]; ok {
		return Rule{}, anomaly.Errorf(anomaly.CodeConflict, "remediation rule %q exists", r.Name)
	}
	if err := x.saveRule(c); err != nil {
		return Rule{}, err
	}
	x.rules[r.Name] = c
	return c.rule, nil
}

// Rules lists the rules by name.
func (x *Remediator) Rules() []Rule {
	x.mu.Lock()
	defer x.mu.Unlock()
	out := make([]Rule, 0, len(x.rules))
	for _, name := range slices.Sorted(maps.Keys(x.rules)) {
		out = append(out, x.rules[name].rule)
	}
	return out
}

// Rule returns the rule named name, CodeNotFound when there is none.
func (x *Remediator) Rule(name string) (Rule, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	c, ok := x.rules[name]
	if !ok {
		return Rule{}, anomaly.Errorf(anomaly.CodeNotFound, "no remediation rule %q", name)
	}
	return c.rule, nil
}

// PatchRule applies a JSON merge patch (RFC 7396) to the rule named name.
// The name and creation time cannot change.
func (x *Remediator) PatchRule(name string, patch []byte) (Rule, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	c, ok := x.rules[name]
	if !ok {
		return Rule{}, anomaly.Errorf(anomaly.CodeNotFound, "no remediation rule %q", name)
	}
	var p map[string]any
	if err := json.Unmarshal(patch, &p); err != nil || p == nil {
		return Rule{}, &anomaly.Error{Code: anomaly.CodeInvalidJSON, Message: "a patch is a JSON object", Index: -1}
	}
	if n, ok := p["name"]; ok && n != name {
		return Rule{}, ruleErr("name", "a rule cannot be renamed")
	}
	cur, _ := json.Marshal(c.rule)
	var doc map[string]any
	json.Unmarshal(cur, &doc)
	merged, _ := json.Marshal(mergePatch(doc, p))
	var r Rule
	dec := json.NewDecoder(bytes.NewReader(merged))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return Rule{}, &anomaly.Error{Code: anomaly.CodeInvalidJSON, Message: err.Error(), Index: -1}
	}
	r.Name, r.CreatedAt, r.UpdatedAt = name, c.rule.CreatedAt, x.opts.Now().UTC()
	nc, err := x.compile(r)
	if err != nil {
		return Rule{}, err
	}
	if err := x.saveRule(nc); err != nil {
		return Rule{}, err
	}
	x.rules[name] = nc
	return nc.rule, nil
}

func mergePatch(doc, patch map[string]any) map[string]any {
	if doc == nil {
		doc = map[string]any{}
	}
	for k, v := range patch {
		switch pv := v.(type) {
		case nil:
			delete(doc, k)
		case map[string]any:
			dv, _ := doc[k].(map[string]any)
			doc[k] = mergePatch(dv, pv)
		default:
			doc[k] = v
		}
	}
	return doc
}

// DeleteRule removes the rule named name; its audit records stay.
func (x *Remediator) DeleteRule(name string) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if _, ok := x.rules[name]; !ok {
		return anomaly.Errorf(anomaly.CodeNotFound, "no remediation rule %q", name)
	}
	if err := x.db.apply(op{bRules, []byte(name), nil}); err != nil {
		return err
	}
	delete(x.rules, name)
	return nil
}

// ---- kill switch ----

// fileKilled reports whether the kill file exists.
func (x *Remediator) fileKilled() bool {
	if x.opts.KillFile == "" {
		return false
	}
	_, err := os.Stat(x.opts.KillFile)
	return err == nil || !errors.Is(err, os.ErrNotExist) // unreadable: stopped, to be safe
}

// killed reports whether any kill switch is engaged. x.mu held or not.
func (x *Remediator) killed() bool {
	return x.opts.KillSwitch || x.kill.Engaged || x.fileKilled()
}

// KillSwitch returns the kill switch state.
func (x *Remediator) KillSwitch() KillSwitch {
	x.mu.Lock()
	defer x.mu.Unlock()
	k := x.kill
	k.Flag, k.File, k.FilePath = x.opts.KillSwitch, x.fileKilled(), x.opts.KillFile
	return k
}

// SetKillSwitch engages or releases the API's kill switch (the flag and
// the file are released only where they are set).
func (x *Remediator) SetKillSwitch(engaged bool, reason string) (KillSwitch, error) {
	x.mu.Lock()
	k := KillSwitch{Engaged: engaged, Reason: reason}
	if engaged {
		k.Since = x.opts.Now().UTC()
		if x.kill.Engaged {
			k.Since = x.kill.Since
		}
	}
	err := x.db.apply(op{bMeta, kKill, k})
	if err == nil {
		x.kill = k
	}
	x.m.killSwitch(x.killed())
	x.mu.Unlock()
	if err != nil {
		return KillSwitch{}, err
	}
	x.log.Warn("remediation kill switch", "engaged", engaged, "reason", reason)
	return x.KillSwitch(), nil
}

// ---- audit ----

// record appends r to the audit trail (x.mu held) and returns the ops that
// persist it.
func (x *Remediator) record(r Record) (Record, []op) {
	x.seq++
	r.Seq = x.seq
	if r.At.IsZero() {
		r.At = x.opts.Now().UTC()
	}
	x.audit = append(x.audit, r)
	ops := []op{{bAudit, seqKey(r.Seq), r}}
	for len(x.audit) > x.opts.MaxAudit {
		ops = append(ops, op{bAudit, seqKey(x.audit[0].Seq), nil})
		x.audit = x.audit[1:]
	}
	x.m.decision(r.Rule, r.Outcome, r.Cap)
	return r, ops
}

// emit sends the audit records to the event log (x.mu not held).
func (x *Remediator) emit(rs ...Record) {
	for _, r := range rs {
		lvl := slog.LevelInfo
		if r.Outcome == OutcomeFailed || r.Outcome == OutcomeRetried {
			lvl = slog.LevelWarn
		}
		x.log.Log(context.Background(), lvl, "remediation", "rule", r.Rule, "action_id", r.ActionID, "outcome", r.Outcome,
			"cap", r.Cap, "series", r.Series, "anomaly_id", r.AnomalyID, "error", r.Error)
		if x.opts.Events == nil {
			continue
		}
		x.opts.Events(anomaly.Event{
			Kind: anomaly.EventRemediation, AnomalyID: r.AnomalyID, AnomalyKind: r.AnomalyKind, Series: r.Series, At: r.At,
			Verdict:     anomaly.Verdict{Series: r.Series, Timestamp: r.At, Score: r.Score, Detector: "remediate:" + r.Rule, AnomalyID: r.AnomalyID},
			Remediation: &anomaly.Remediation{Rule: r.Rule, ActionID: r.ActionID, Outcome: r.Outcome, Cap: r.Cap, DryRun: r.DryRun},
		})
	}
}

// commit persists ops; a failure is logged (the decision stands in
// memory, and the caps still hold until the restart).
func (x *Remediator) commit(ops []op) {
	if err := x.db.apply(ops...); err != nil {
		x.log.Error("remediation state not saved", "err", err)
		x.m.saveErrors.Inc()
	}
}

// Actions returns a page of the audit trail, oldest first.
func (x *Remediator) Actions(q ActionQuery) ActionPage {
	if q.Limit <= 0 {
		q.Limit = 100
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	i, _ := slices.BinarySearchFunc(x.audit, q.After+1, func(r Record, s uint64) int {
		return int(min(max(int64(r.Seq)-int64(s), -1), 1))
	})
	out := ActionPage{Actions: []Record{}}
	for ; i < len(x.audit); i++ {
		r := x.audit[i]
		if (q.Rule != "" && r.Rule != q.Rule) || (q.Outcome != "" && r.Outcome != q.Outcome) ||
			(q.ActionID != "" && r.ActionID != q.ActionID) || (q.AnomalyID != 0 && r.AnomalyID != q.AnomalyID) {
			continue
		}
		if len(out.Actions) == q.Limit {
			out.Next = out.Actions[len(out.Actions)-1].Seq
			break
		}
		out.Actions = append(out.Actions, r)
	}
	return out
}

// ---- deciding ----

// Handle answers a batch of event-log entries; it is an eventlog.Handler.
// Remediation events of its own are skipped. Each (rule, anomaly) pair is
// decided once, also when the log delivers an entry again.
func (x *Remediator) Handle(ctx context.Context, batch []eventlog.Entry) error {
	for _, e := range batch {
		if err := ctx.Err(); err != nil {
			return err
		}
		x.handleEvent(e.Event)
	}
	return nil
}

// Run subscribes to log under the cursor name "remediate" until ctx ends,
// and expires pending approvals.
func (x *Remediator) Run(ctx context.Context, log eventlog.Log, cursors eventlog.Cursors) error {
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				x.ExpirePending()
			}
		}
	}()
	err := eventlog.Run(ctx, log, cursors, "remediate", x.Handle, eventlog.RunOptions{})
	<-done
	return err
}

func (x *Remediator) handleEvent(ev anomaly.Event) {
	if ev.Kind == anomaly.EventResolved {
		x.mu.Lock()
		delete(x.openAt, ev.AnomalyID)
		x.mu.Unlock()
		return
	}
	trig := trigger(ev)
	if trig == "" || ev.AnomalyID == 0 {
		return
	}
	x.mu.Lock()
	none := len(x.rules) == 0
	x.mu.Unlock()
	if none {
		return
	}
	key, err := series.Parse(ev.Series, x.opts.Limits)
	if err != nil {
		return
	}
	x.mu.Lock()
	started, ok := x.openAt[ev.AnomalyID]
	if !ok {
		if len(x.openAt) >= maxOpen {
			// Resolved events were missed (a gap in the log): start over
			// rather than grow without bound.
			clear(x.openAt)
		}
		started = ev.At
		x.openAt[ev.AnomalyID] = ev.At
	}
	var rules []*compiled
	for _, name := range slices.Sorted(maps.Keys(x.rules)) {
		rules = append(rules, x.rules[name])
	}
	x.mu.Unlock()
	for _, c := range rules {
		x.decide(c, ev, trig, key, started)
	}
}

// matches reports whether c answers ev.
func (c *compiled) matches(ev anomaly.Event, trig string, key series.Key, started time.Time) bool {
	r := &c.rule
	if !c.enabled() || !slices.Contains(r.Events, trig) {
		return false
	}
	if c.matchers != nil && !c.matchers.Matches(key) {
		return false
	}
	if r.PeerRule != "" && ev.AnomalyKind == anomaly.KindPeerOutlier && peerRuleOf(ev) != r.PeerRule {
		return false
	}
	if r.Detector != "" && ev.Verdict.Detector != r.Detector {
		return false
	}
	if ev.Verdict.Score < r.MinScore {
		return false
	}
	return ev.At.Sub(started) >= time.Duration(r.MinDuration)
}

func labelsOf(key series.Key) map[string]string {
	m := map[string]string{}
	for k, v := range key.Labels() {
		m[k] = v
	}
	return m
}

func (x *Remediator) decide(c *compiled, ev anomaly.Event, trig string, key series.Key, started time.Time) {
	if !c.matches(ev, trig, key, started) {
		return
	}
	r := &c.rule
	peerRule := r.PeerRule
	if pr := peerRuleOf(ev); pr != "" {
		peerRule = pr
	}
	var grp Group
	inGroup := false
	if peerRule != "" && x.opts.Groups != nil {
		grp, inGroup = x.opts.Groups.GroupOf(peerRule, key.Canonical())
	}
	if r.PeerRule != "" && ev.AnomalyKind != anomaly.KindPeerOutlier && !inGroup {
		return // a point anomaly of a series outside the rule's groups
	}
	hkey := r.Name + "\x00" + ev.AnomalyID.String()
	x.mu.Lock()
	if _, done := x.handled[hkey]; done {
		x.mu.Unlock()
		return
	}
	now := x.opts.Now().UTC()
	x.nextAct++
	id := strconv.FormatUint(x.nextAct, 10)
	d := Data{Rule: r.Name, ActionID: id, AnomalyID: ev.AnomalyID.String(), AnomalyKind: ev.AnomalyKind, Event: trig,
		Series: key.Canonical(), Metric: key.Name(), Labels: labelsOf(key), Value: ev.Verdict.Value,
		Expected: ev.Verdict.Expected, Score: ev.Verdict.Score, Detector: ev.Verdict.Detector,
		StartedAt: started, At: ev.At, DryRun: c.dryRun()}
	base := Record{ActionID: id, Rule: r.Name, DryRun: c.dryRun(), AnomalyID: ev.AnomalyID, AnomalyKind: ev.AnomalyKind,
		Event: trig, Series: key.Canonical(), Score: ev.Verdict.Score}
	if inGroup {
		d.PeerRule, d.Group = grp.PeerRule, grp.Key
		base.PeerRule, base.Group = grp.PeerRule, grp.Key
	} else if peerRule != "" {
		base.PeerRule = peerRule
	}
	x.handled[hkey] = now
	ops := []op{{bHandled, []byte(hkey), now}}

	capName, reason := x.checkCaps(c, base, grp, inGroup, peerRule != "", now)
	var out Record
	var rops []op
	if capName != "" {
		rec := base
		rec.Outcome, rec.Cap, rec.Reason = OutcomeSuppressed, capName, reason
		out, rops = x.record(rec)
		ops = append(ops, rops...)
		x.mu.Unlock()
		x.commit(ops)
		x.emit(out)
		return
	}
	a := act{ID: id, Rule: r.Name, Series: base.Series, PeerRule: base.PeerRule, Group: base.Group, At: now, DryRun: c.dryRun()}
	x.acts = append(x.acts, a)
	ops = append(ops, op{bActs, []byte(id), a})
	rec := base
	switch {
	case c.dryRun():
		rec.Outcome = OutcomeDryRun
		x.describe(c, d, &rec)
	case r.RequireApproval:
		rec.Outcome = OutcomePending
		exp := now.Add(time.Duration(r.ApprovalTimeout))
		rec.ExpiresAt = &exp
		x.describe(c, d, &rec)
		p := &pendingAction{Base: base, Data: d, Expires: exp}
		x.pending[id] = p
		ops = append(ops, op{bPending, []byte(id), p})
		x.m.pendingGauge(len(x.pending))
	}
	if rec.Outcome != "" {
		out, rops = x.record(rec)
		ops = append(ops, rops...)
		x.mu.Unlock()
		x.commit(ops)
		x.emit(out)
		return
	}
	x.mu.Unlock()
	x.commit(ops)
	x.execute(c, base, d)
}

// describe puts what the action would call into rec.
func (x *Remediator) describe(c *compiled, d Data, rec *Record) {
	switch c.rule.Action.Type {
	case "http":
		req, err := c.render(d)
		if err != nil {
			rec.Error = err.Error()
			return
		}
		req.Body = cut(req.Body)
		for k, v := range req.Headers {
			req.Headers[k] = cut(v)
		}
		rec.Request = &req
	case "command":
		argv, err := x.argv(c, d)
		if err != nil {
			rec.Error = err.Error()
			return
		}
		for i := range argv {
			argv[i] = cut(argv[i])
		}
		rec.Command = argv
	}
}

// cut bounds a recorded text to maxResponse bytes.
func cut(s string) string {
	if len(s) <= maxResponse {
		return s
	}
	return strings.ToValidUTF8(s[:maxResponse], "") + "…(cut)"
}

// checkCaps returns the name of the first cap the action would break and
// why, or "" when it passes them all. x.mu held.
func (x *Remediator) checkCaps(c *compiled, base Record, grp Group, inGroup, wantGroup bool, now time.Time) (string, string) {
	r := &c.rule
	if x.killed() {
		return CapKillSwitch, "the kill switch is engaged"
	}
	dry := c.dryRun()
	hour := now.Add(-time.Hour)
	cool := now.Add(-time.Duration(r.Cooldown))
	window := now.Add(-time.Duration(r.GroupWindow))
	var ruleN, allN int
	var lastOnSeries time.Time
	acted := map[string]bool{}
	for i := len(x.acts) - 1; i >= 0; i-- {
		a := &x.acts[i]
		if a.DryRun != dry {
			continue
		}
		if a.Series == base.Series && a.At.After(lastOnSeries) {
			lastOnSeries = a.At
		}
		if a.At.After(hour) {
			allN++
			if a.Rule == r.Name {
				ruleN++
			}
		}
		if inGroup && a.PeerRule == grp.PeerRule && a.Group == grp.Key && a.At.After(window) {
			acted[a.Series] = true
		}
	}
	if !lastOnSeries.IsZero() && lastOnSeries.After(cool) {
		return CapCooldown, fmt.Sprintf("%s was acted on at %s, within the cooldown of %v", base.Series,
			lastOnSeries.Format(time.RFC3339), time.Duration(r.Cooldown))
	}
	if r.MaxPerHour >= 0 && ruleN >= r.MaxPerHour {
		return CapRuleHourly, fmt.Sprintf("rule %s took %d actions in the last hour, its cap is %d", r.Name, ruleN, r.MaxPerHour)
	}
	if x.opts.GlobalMaxPerHour >= 0 && allN >= x.opts.GlobalMaxPerHour {
		return CapGlobalHourly, fmt.Sprintf("%d actions in the last hour, the service's cap is %d", allN, x.opts.GlobalMaxPerHour)
	}
	if wantGroup && !inGroup {
		return CapGroup, "the series' peer group is not known yet, so its share cannot be judged"
	}
	if !inGroup {
		return "", ""
	}
	allowed := max(1, int(math.Floor(float64(grp.Members)*r.MaxGroupFraction+1e-9)))
	if len(acted)+1 > allowed {
		return CapGroup, fmt.Sprintf("%d of the %d members of group %s were acted on within %v; max_group_fraction %.2f allows %d",
			len(acted), grp.Members, grp.Key, time.Duration(r.GroupWindow), r.MaxGroupFraction, allowed)
	}
	down := map[string]bool{base.Series: true}
	for s := range acted {
		down[s] = true
	}
	for _, s := range grp.Outliers {
		down[s] = true
	}
	healthy := grp.Members - len(down)
	need := max(1, int(math.Ceil(float64(grp.Members)*r.MinHealthyFraction-1e-9)))
	if healthy < need {
		return CapGroupHealthy, fmt.Sprintf("acting would leave %d healthy members of %d in group %s; min_healthy_fraction %.2f needs %d",
			healthy, grp.Members, grp.Key, r.MinHealthyFraction, need)
	}
	return "", ""
}

// ---- approval ----

// Approve runs the pending action id. Errors: CodeNotFound when no action
// with that id is pending (never was, already approved, or expired).
func (x *Remediator) Approve(id string) (Record, error) {
	x.mu.Lock()
	p, ok := x.pending[id]
	if !ok {
		x.mu.Unlock()
		return Record{}, anomaly.Errorf(anomaly.CodeNotFound, "no pending remediation action %q", id)
	}
	now := x.opts.Now().UTC()
	if !now.Before(p.Expires) {
		x.mu.Unlock()
		x.ExpirePending()
		return Record{}, anomaly.Errorf(anomaly.CodeNotFound, "remediation action %q expired", id)
	}
	delete(x.pending, id)
	x.m.pendingGauge(len(x.pending))
	ops := []op{{bPending, []byte(id), nil}}
	c, ok := x.rules[p.Base.Rule]
	rec := p.Base
	rec.At = now
	if !ok || !c.enabled() {
		rec.Outcome, rec.Reason = OutcomeSuppressed, "the rule was deleted or disabled while the action waited"
		x.releaseAct(id, &ops)
	} else if x.killed() {
		rec.Outcome, rec.Cap, rec.Reason = OutcomeSuppressed, CapKillSwitch, "the kill switch is engaged"
		x.releaseAct(id, &ops)
	} else {
		rec.Outcome = OutcomeApproved
	}
	out, rops := x.record(rec)
	ops = append(ops, rops...)
	x.mu.Unlock()
	x.commit(ops)
	x.emit(out)
	if out.Outcome == OutcomeApproved {
		x.execute(c, p.Base, p.Data)
	}
	return out, nil
}

// releaseAct forgets the reservation of a pending action. x.mu held.
func (x *Remediator) releaseAct(id string, ops *[]op) {
	x.acts = slices.DeleteFunc(x.acts, func(a act) bool { return a.ID == id })
	*ops = append(*ops, op{bActs, []byte(id), nil})
}

// ExpirePending records every pending action past its expiry as expired
// and frees what it reserved of the caps.
func (x *Remediator) ExpirePending() {
	x.mu.Lock()
	now := x.opts.Now().UTC()
	var ops []op
	var out []Record
	for _, id := range slices.Sorted(maps.Keys(x.pending)) {
		p := x.pending[id]
		if now.Before(p.Expires) {
			continue
		}
		delete(x.pending, id)
		ops = append(ops, op{bPending, []byte(id), nil})
		x.releaseAct(id, &ops)
		rec := p.Base
		rec.At, rec.Outcome, rec.Reason = now, OutcomeExpired, "not approved before "+p.Expires.Format(time.RFC3339)
		r, rops := x.record(rec)
		ops = append(ops, rops...)
		out = append(out, r)
	}
	x.m.pendingGauge(len(x.pending))
	if now.Sub(x.pruned) > time.Hour {
		x.pruned = now
		ops = append(ops, x.prune(now)...)
	}
	x.mu.Unlock()
	x.commit(ops)
	x.emit(out...)
}

// prune forgets the actions and decided pairs older than the caps look
// back. x.mu held.
func (x *Remediator) prune(now time.Time) []op {
	var ops []op
	keep := x.acts[:0]
	for _, a := range x.acts {
		if now.Sub(a.At) > keepActs {
			ops = append(ops, op{bActs, []byte(a.ID), nil})
			continue
		}
		keep = append(keep, a)
	}
	x.acts = keep
	for k, at := range x.handled {
		if now.Sub(at) > keepActs {
			delete(x.handled, k)
			ops = append(ops, op{bHandled, []byte(k), nil})
		}
	}
	return ops
}

// ---- executing ----

// execute runs the action in the background with retries.
func (x *Remediator) execute(c *compiled, base Record, d Data) {
	x.wg.Add(1)
	go func() {
		defer x.wg.Done()
		x.run(c, base, d)
	}()
}

// Wait blocks until every action started so far has finished (tests).
func (x *Remediator) Wait() { x.wg.Wait() }

func (x *Remediator) run(c *compiled, base Record, d Data) {
	attempts := 1 + max(c.rule.Action.Retries, 0)
	backoff := x.opts.RetryBackoff
	for attempt := 1; ; attempt++ {
		rec := base
		rec.Attempt = attempt
		x.describe(c, d, &rec)
		var err error
		if rec.Error != "" {
			err = errors.New(rec.Error)
			attempt = attempts // a template that fails will fail again
		} else if x.killedNow() {
			rec.Outcome, rec.Cap, rec.Reason = OutcomeSuppressed, CapKillSwitch, "the kill switch was engaged before the call"
			x.finish(rec)
			return
		} else {
			rec.Response, err = x.call(c, d)
		}
		if err == nil {
			rec.Outcome = OutcomeExecuted
			x.finish(rec)
			return
		}
		rec.Error = err.Error()
		if attempt >= attempts || x.ctx.Err() != nil {
			rec.Outcome = OutcomeFailed
			x.finish(rec)
			return
		}
		rec.Outcome = OutcomeRetried
		x.finish(rec)
		select {
		case <-time.After(backoff):
		case <-x.ctx.Done():
		}
		backoff *= 2
	}
}

func (x *Remediator) killedNow() bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.killed()
}

func (x *Remediator) finish(rec Record) {
	rec.At = time.Time{}
	x.mu.Lock()
	out, ops := x.record(rec)
	x.mu.Unlock()
	x.commit(ops)
	x.emit(out)
}

// errStatus is an answer outside 2xx.
type errStatus int

func (e errStatus) Error() string { return fmt.Sprintf("answered %d", int(e)) }

func (x *Remediator) call(c *compiled, d Data) (*Response, error) {
	ctx, cancel := context.WithTimeout(x.ctx, time.Duration(c.rule.Action.Timeout))
	defer cancel()
	if c.rule.Action.Type == "command" {
		return x.runCommand(ctx, c, d)
	}
	req, err := c.render(d)
	if err != nil {
		return nil, err
	}
	if _, err := x.opts.Guard.CheckURL(req.URL); err != nil {
		return nil, err
	}
	hr, err := http.NewRequestWithContext(ctx, req.Method, req.URL, strings.NewReader(req.Body))
	if err != nil {
		return nil, err
	}
	for k, v := range req.Headers {
		hr.Header.Set(k, v)
	}
	if hr.Header.Get("Content-Type") == "" && req.Body != "" {
		hr.Header.Set("Content-Type", "application/json")
	}
	hr.Header.Set("User-Agent", "anomalyd-detector-remediation")
	hr.Header.Set("Idempotency-Key", d.Rule+"-"+d.ActionID)
	if h := c.rule.Action.HTTP; h.CredentialsFile != "" {
		cred, err := os.ReadFile(filepath.Join(x.opts.CredentialsDir, h.CredentialsFile))
		if err != nil {
			return nil, fmt.Errorf("credentials file: %w", err)
		}
		v := strings.TrimSpace(string(cred))
		if strings.ContainsAny(v, "\r\n") {
			return nil, errors.New("credentials file holds more than one line")
		}
		hr.Header.Set(h.CredentialsHeader, v)
	}
	resp, err := x.client.Do(hr)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	out := &Response{Status: resp.StatusCode, Body: string(body)}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return out, errStatus(resp.StatusCode)
	}
	return out, nil
}

func (x *Remediator) argv(c *compiled, d Data) ([]string, error) {
	cmd, ok := x.opts.Commands[c.rule.Action.Command]
	if !ok {
		return nil, fmt.Errorf("no command %q in the configuration file", c.rule.Action.Command)
	}
	argv := []string{cmd.Path}
	for i, t := range cmd.args {
		a, err := execTemplate(t, d)
		if err != nil {
			return nil, fmt.Errorf("arg %d: %w", i, err)
		}
		if strings.HasPrefix(a, "-") && !strings.HasPrefix(cmd.Args[i], "-") {
			// The dash comes from the anomaly's data (a label value anyone
			// who can write points chooses): it would pass as an option.
			return nil, fmt.Errorf("arg %d renders to %q, which starts with '-' from the anomaly's data: refused as an option", i, a)
		}
		argv = append(argv, a)
	}
	return argv, nil
}

func (x *Remediator) runCommand(ctx context.Context, c *compiled, d Data) (*Response, error) {
	argv, err := x.argv(c, d)
	if err != nil {
		return nil, err
	}
	if t := x.opts.Commands[c.rule.Action.Command].Timeout; t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(t))
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin"}
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &limitWriter{b: &buf, max: maxResponse}, &limitWriter{b: &buf, max: maxResponse}
	err = cmd.Run()
	out := &Response{Body: buf.String()}
	if cmd.ProcessState != nil {
		out.Status = cmd.ProcessState.ExitCode()
	}
	return out, err
}

type limitWriter struct {
	b   *bytes.Buffer
	max int
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if room := l.max - l.b.Len(); room > 0 {
		l.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
