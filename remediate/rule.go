package remediate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"
	"text/template/parse"
	"time"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/series"
)

// Triggering event types.
const (
	TriggerAnomalyOpened     = "anomaly_opened"      // a point anomaly of a series opened
	TriggerPeerOutlierOpened = "peer_outlier_opened" // a member of a peer group became an outlier
)

// Rule defaults and bounds.
const (
	DefaultMaxPerHour         = 5
	DefaultMaxGroupFraction   = 0.10
	DefaultMinHealthyFraction = 0.5
	DefaultCooldown           = time.Hour
	DefaultGroupWindow        = time.Hour
	DefaultApprovalTimeout    = time.Hour
	DefaultRetries            = 2
	DefaultActionTimeout      = 10 * time.Second
	MaxRetries                = 5
	maxRuleName               = 128
	maxTemplate               = 16 << 10
)

// Duration is a time.Duration written in JSON as a Go duration string
// ("90s", "1h"); a number is read as seconds.
type Duration time.Duration

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a duration string or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		*d = Duration(v)
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("want a duration string or a number of seconds, got %s", b)
	}
	if math.IsNaN(f) || math.Abs(f) > 1e9 {
		return fmt.Errorf("duration %v seconds is out of range", f)
	}
	*d = Duration(f * float64(time.Second))
	return nil
}

// Rule says which events to answer, under which conditions, with which
// action and within which safety limits.
//
// The matcher is Match (a Prometheus selector over the anomaly's series),
// PeerRule (the members of the groups of that peer-group rule), or both.
// DryRun nil means true: a rule records what it would do until dry_run is
// set to false explicitly.
type Rule struct {
	Name     string   `json:"name"`
	Match    string   `json:"match,omitempty"`
	PeerRule string   `json:"peer_rule,omitempty"`
	Events   []string `json:"events"`
	// MinDuration: the anomaly must have been open this long (judged on
	// event times); the action fires on the first event past it.
	MinDuration Duration `json:"min_duration"`
	MinScore    float64  `json:"min_score"`
	// Detector, when set, is the detector that must have fired
	// (verdict.detector, e.g. "peers:web-cpu").
	Detector string `json:"detector,omitempty"`
	Action   Action `json:"action"`

	DryRun          *bool    `json:"dry_run"`
	RequireApproval bool     `json:"require_approval"`
	ApprovalTimeout Duration `json:"approval_timeout"`
	// MaxPerHour caps this rule's actions in any hour.
	MaxPerHour int `json:"max_per_hour"`
	// MaxGroupFraction caps the share of a peer group acted on within
	// GroupWindow (at least one member).
	MaxGroupFraction float64 `json:"max_group_fraction"`
	// MinHealthyFraction: an action must leave at least this share of the
	// group (and at least one member) neither outlying nor acted on.
	MinHealthyFraction float64  `json:"min_healthy_fraction"`
	GroupWindow        Duration `json:"group_window"`
	// Cooldown is the least time between two actions on one series.
	Cooldown Duration `json:"cooldown"`
	Enabled  *bool    `json:"enabled"`

	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Action is what a rule does: an HTTP call, or a local command named in
// the service's configuration file.
type Action struct {
	Type    string      `json:"type"` // "http" or "command"
	HTTP    *HTTPAction `json:"http,omitempty"`
	Command string      `json:"command,omitempty"`
	// Retries after a failed attempt; default 2, at most 5. -1: none.
	Retries int      `json:"retries"`
	Timeout Duration `json:"timeout"`
}

// HTTPAction is a templated HTTP call. URL, headers and body are Go
// text/templates over Data ({{.Labels.instance}}, {{.Series}}, {{json .}}).
// The credential is read from CredentialsFile (a name inside the service's
// credentials directory) at every call and sent in CredentialsHeader
// (default Authorization); it is never stored or recorded.
type HTTPAction struct {
	URL               string            `json:"url"`
	Method            string            `json:"method"`
	Headers           map[string]string `json:"headers,omitempty"`
	Body              string            `json:"body,omitempty"`
	CredentialsFile   string            `json:"credentials_file,omitempty"`
	CredentialsHeader string            `json:"credentials_header,omitempty"`
}

// Data is what action templates see.
type Data struct {
	Rule        string            `json:"rule"`
	ActionID    string            `json:"action_id"`
	AnomalyID   string            `json:"anomaly_id"`
	AnomalyKind string            `json:"anomaly_kind"`
	Event       string            `json:"event"`
	Series      string            `json:"series"`
	Metric      string            `json:"metric"`
	Labels      map[string]string `json:"labels"`
	Value       float64           `json:"value"`
	Expected    float64           `json:"expected"`
	Score       float64           `json:"score"`
	Detector    string            `json:"detector"`
	StartedAt   time.Time         `json:"started_at"`
	At          time.Time         `json:"at"`
	PeerRule    string            `json:"peer_rule,omitempty"`
	Group       string            `json:"group,omitempty"`
	DryRun      bool              `json:"dry_run"`
}

// reserved names cannot be rule names: they are paths beside the rules.
var reserved = map[string]bool{"actions": true, "kill-switch": true}

// compiled is a validated rule ready to match and render.
type compiled struct {
	rule     Rule
	matchers series.Matchers
	url      *template.Template
	body     *template.Template
	headers  map[string]*template.Template
}

func (c *compiled) dryRun() bool  { return c.rule.DryRun == nil || *c.rule.DryRun }
func (c *compiled) enabled() bool { return c.rule.Enabled == nil || *c.rule.Enabled }

func ruleErr(field, format string, args ...any) *anomaly.Error {
	return &anomaly.Error{Code: anomaly.CodeInvalidArgument, Field: field, Message: fmt.Sprintf(format, args...), Index: -1}
}

func missing(field, msg string) *anomaly.Error {
	return &anomaly.Error{Code: anomaly.CodeMissingField, Field: field, Message: msg, Index: -1}
}

var funcs = template.FuncMap{
	"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
	// printf without large widths or precisions: "%999999999d" would
	// allocate before the output bound applies.
	"printf": func(format string, args ...any) (string, error) {
		if wide.MatchString(format) {
			return "", fmt.Errorf("printf %q: widths and precisions above 999 are not allowed", format)
		}
		return fmt.Sprintf(format, args...), nil
	},
}

var wide = regexp.MustCompile(`%[-+# 0]*(\d{4,}|\*|\[)|\.(\d{4,}|\*)`)

func parseTemplate(field, s string) (*template.Template, error) {
	if len(s) > maxTemplate {
		return nil, ruleErr(field, "template of %d bytes, limit is %d", len(s), maxTemplate)
	}
	t, err := template.New(field).Funcs(funcs).Option("missingkey=zero").Parse(s)
	if err != nil {
		return nil, ruleErr(field, "%v", err)
	}
	// Templates come from API callers: no loops (range over a large
	// number burns CPU forever) and no template calls (a template that
	// calls itself overflows the stack).
	if len(t.Templates()) > 1 {
		return nil, ruleErr(field, "define and block are not allowed in action templates")
	}
	if t.Tree != nil {
		if bad := forbidden(t.Tree.Root); bad != "" {
			return nil, ruleErr(field, "%s is not allowed in action templates", bad)
		}
	}
	return t, nil
}

// forbidden returns the name of the first loop or template call under n.
func forbidden(n parse.Node) string {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return ""
		}
		for _, c := range n.Nodes {
			if bad := forbidden(c); bad != "" {
				return bad
			}
		}
	case *parse.RangeNode:
		return "range"
	case *parse.TemplateNode:
		return "template"
	case *parse.IfNode:
		return firstOf(forbidden(n.List), forbidden(n.ElseList))
	case *parse.WithNode:
		return firstOf(forbidden(n.List), forbidden(n.ElseList))
	}
	return ""
}

func firstOf(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// withDefaults fills the zero fields that have a default.
func (r Rule) withDefaults() Rule {
	if r.MaxPerHour == 0 {
		r.MaxPerHour = DefaultMaxPerHour
	}
	if r.MaxGroupFraction == 0 {
		r.MaxGroupFraction = DefaultMaxGroupFraction
	}
	if r.MinHealthyFraction == 0 {
		r.MinHealthyFraction = DefaultMinHealthyFraction
	}
	if r.GroupWindow == 0 {
		r.GroupWindow = Duration(DefaultGroupWindow)
	}
	if r.Cooldown == 0 {
		r.Cooldown = Duration(DefaultCooldown)
	}
	if r.ApprovalTimeout == 0 {
		r.ApprovalTimeout = Duration(DefaultApprovalTimeout)
	}
	if r.Action.Retries == 0 {
		r.Action.Retries = DefaultRetries
	}
	if r.Action.Timeout == 0 {
		r.Action.Timeout = Duration(DefaultActionTimeout)
	}
	if r.DryRun == nil {
		t := true
		r.DryRun = &t
	}
	if r.Enabled == nil {
		t := true
		r.Enabled = &t
	}
	if r.Action.HTTP != nil {
		h := *r.Action.HTTP
		if h.Method == "" {
			h.Method = http.MethodPost
		}
		h.Method = strings.ToUpper(h.Method)
		if h.CredentialsFile != "" && h.CredentialsHeader == "" {
			h.CredentialsHeader = "Authorization"
		}
		r.Action.HTTP = &h
	}
	return r
}

// compile validates r (defaults filled) against the service's commands.
func (x *Remediator) compile(r Rule) (*compiled, error) {
	r = r.withDefaults()
	if r.Name == "" {
		return nil, missing("name", "a rule needs a name")
	}
	if len(r.Name) > maxRuleName || reserved[r.Name] || strings.IndexFunc(r.Name, func(c rune) bool {
		return !(c == '_' || c == '-' || c == '.' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9')
	}) >= 0 {
		return nil, ruleErr("name", "name %q: use 1 to %d letters, digits and _ - . : (not actions or kill-switch)", r.Name, maxRuleName)
	}
	c := &compiled{rule: r}
	if strings.TrimSpace(r.Match) == "" && r.PeerRule == "" {
		return nil, missing("match", "a rule needs match (a series selector) or peer_rule (a peer-group rule)")
	}
	if strings.TrimSpace(r.Match) != "" {
		ms, err := series.ParseMatchers(r.Match)
		if err != nil {
			return nil, ruleErr("match", "%v", err)
		}
		c.matchers = ms
	}
	if len(r.Events) == 0 {
		return nil, missing("events", "a rule needs at least one of anomaly_opened, peer_outlier_opened")
	}
	for _, e := range r.Events {
		if e != TriggerAnomalyOpened && e != TriggerPeerOutlierOpened {
			return nil, ruleErr("events", "event %q: want anomaly_opened or peer_outlier_opened", e)
		}
	}
	switch {
	case r.MinDuration < 0:
		return nil, ruleErr("min_duration", "must not be negative")
	case math.IsNaN(r.MinScore) || r.MinScore < 0 || math.IsInf(r.MinScore, 0):
		return nil, ruleErr("min_score", "want a finite number >= 0")
	case r.MaxPerHour < 0:
		return nil, ruleErr("max_per_hour", "must not be negative")
	case !(r.MaxGroupFraction > 0 && r.MaxGroupFraction <= 1):
		return nil, ruleErr("max_group_fraction", "want a fraction in (0, 1]")
	case !(r.MinHealthyFraction > 0 && r.MinHealthyFraction <= 1):
		return nil, ruleErr("min_healthy_fraction", "want a fraction in (0, 1]")
	case r.GroupWindow < 0 || r.Cooldown < 0 || r.ApprovalTimeout < 0:
		return nil, ruleErr("cooldown", "durations must not be negative")
	case r.Action.Retries < -1 || r.Action.Retries > MaxRetries:
		return nil, ruleErr("action.retries", "want -1 (none) to %d", MaxRetries)
	case r.Action.Timeout < 0 || time.Duration(r.Action.Timeout) > 5*time.Minute:
		return nil, ruleErr("action.timeout", "want at most 5m")
	}
	switch r.Action.Type {
	case "http":
		h := r.Action.HTTP
		if h == nil || h.URL == "" {
			return nil, missing("action.http.url", "an http action needs a url")
		}
		if r.Action.Command != "" {
			return nil, ruleErr("action.command", "an http action takes no command")
		}
		switch h.Method {
		case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		default:
			return nil, ruleErr("action.http.method", "method %q: want GET, POST, PUT, PATCH or DELETE", h.Method)
		}
		var err error
		if c.url, err = parseTemplate("action.http.url", h.URL); err != nil {
			return nil, err
		}
		if c.body, err = parseTemplate("action.http.body", h.Body); err != nil {
			return nil, err
		}
		c.headers = map[string]*template.Template{}
		for k, v := range h.Headers {
			if k == "" || strings.ContainsAny(k, " :\r\n") {
				return nil, ruleErr("action.http.headers", "header name %q", k)
			}
			if c.headers[k], err = parseTemplate("action.http.headers", v); err != nil {
				return nil, err
			}
		}
		if h.CredentialsFile != "" {
			if x.opts.CredentialsDir == "" {
				return nil, ruleErr("action.http.credentials_file", "the service has no credentials directory (--remediation-credentials-dir)")
			}
			if !filepath.IsLocal(h.CredentialsFile) {
				return nil, ruleErr("action.http.credentials_file", "%q: want a file name inside the credentials directory", h.CredentialsFile)
			}
			if strings.ContainsAny(h.CredentialsHeader, " :\r\n") {
				return nil, ruleErr("action.http.credentials_header", "header name %q", h.CredentialsHeader)
			}
		}
		// The URL's scheme and (literal) host must pass the guard now;
		// names are checked again at every connection.
		req, err := c.render(sampleData())
		if err != nil {
			return nil, ruleErr("action.http", "%v", err)
		}
		if _, err := x.opts.Guard.CheckURL(req.URL); err != nil {
			return nil, ruleErr("action.http.url", "%v", err)
		}
	case "command":
		if r.Action.HTTP != nil {
			return nil, ruleErr("action.http", "a command action takes no http")
		}
		if r.Action.Command == "" {
			return nil, missing("action.command", "a command action names a command of the configuration file")
		}
		if _, ok := x.opts.Commands[r.Action.Command]; !ok {
			return nil, ruleErr("action.command", "no command %q in the configuration file (commands come only from --remediation-commands)", r.Action.Command)
		}
	case "":
		return nil, missing("action.type", "an action needs a type: http or command")
	default:
		return nil, ruleErr("action.type", "type %q: want http or command", r.Action.Type)
	}
	return c, nil
}

func sampleData() Data {
	return Data{Rule: "r", ActionID: "1", AnomalyID: "1", Series: `m{instance="i"}`, Metric: "m",
		Labels: map[string]string{}, Event: TriggerAnomalyOpened}
}

// Request is an HTTP call as rendered, without its credential.
type Request struct {
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    string            `json:"body,omitempty"`
}

func execTemplate(t *template.Template, d Data) (string, error) {
	if t == nil {
		return "", nil
	}
	var b bytes.Buffer
	if err := t.Execute(&limitedBuffer{b: &b, max: 1 << 20}, d); err != nil {
		return "", err
	}
	return b.String(), nil
}

type limitedBuffer struct {
	b   *bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if l.b.Len()+len(p) > l.max {
		return 0, fmt.Errorf("rendered template is over %d bytes", l.max)
	}
	return l.b.Write(p)
}

// render fills the HTTP templates with d.
func (c *compiled) render(d Data) (Request, error) {
	h := c.rule.Action.HTTP
	req := Request{Method: h.Method, Headers: map[string]string{}}
	var err error
	if req.URL, err = execTemplate(c.url, d); err != nil {
		return req, fmt.Errorf("url: %w", err)
	}
	req.URL = strings.TrimSpace(req.URL)
	if req.Body, err = execTemplate(c.body, d); err != nil {
		return req, fmt.Errorf("body: %w", err)
	}
	for k, t := range c.headers {
		v, err := execTemplate(t, d)
		if err != nil {
			return req, fmt.Errorf("header %s: %w", k, err)
		}
		if strings.ContainsAny(v, "\r\n") {
			return req, fmt.Errorf("header %s: rendered value has a line break", k)
		}
		req.Headers[k] = v
	}
	return req, nil
}

// trigger is the trigger name of ev, "" when ev is no trigger.
func trigger(ev anomaly.Event) string {
	if ev.Kind != anomaly.EventOpened && ev.Kind != anomaly.EventUpdated {
		return ""
	}
	if ev.AnomalyKind == anomaly.KindPeerOutlier {
		return TriggerPeerOutlierOpened
	}
	return TriggerAnomalyOpened
}

// peerRuleOf is the peer-group rule a peer outlier event came from.
func peerRuleOf(ev anomaly.Event) string {
	if ev.AnomalyKind == anomaly.KindPeerOutlier {
		return strings.TrimPrefix(ev.Verdict.Detector, "peers:")
	}
	return ""
}
