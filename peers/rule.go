package peers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/series"
)

// Rule defaults and bounds.
const (
	DefaultWindow     = 30
	DefaultStep       = time.Minute
	DefaultMinMembers = 3
	MaxWindow         = 1440
	MinStep           = time.Second
	MaxStep           = 24 * time.Hour
	MaxGroupBy        = 16
	MaxTolerance      = 100
	MaxMinPts         = 1000
	maxRuleName       = 128
)

// Rule says which series form peer groups and how to judge them.
//
// Match selects the series: a metric name (`cpu_seconds`), a selector
// (`{app="api"}`, `play_starts{title!="x"}`) in Prometheus syntax. A group
// is the set of matched series with the same metric name and the same
// values of the GroupBy labels; its members are told apart by the value of
// the Member label, or, when Member is empty, by all their other labels.
// Every Window steps of Step each member keeps its last value per step; the
// judgement runs over the last Window complete steps.
//
// Eps nil means automatic (see the package documentation); Scale "" means
// DefaultScale; MinPts 0 means
// automatic; Tolerance 0 means 3; MinMembers 0 means DefaultMinMembers;
// Window 0 means DefaultWindow; Step 0 means DefaultStep.
//
// In JSON, step is a Go duration string ("1m", "30s") or a number of
// seconds, and eps is a number or "auto" (null and absent mean auto too).
type Rule struct {
	Name       string
	Match      string
	GroupBy    []string
	Member     string
	Window     int
	Step       time.Duration
	Eps        *float64
	MinPts     int
	Tolerance  float64
	MinMembers int
	// Scale is what members are compared by (ScaleGroup, ScaleMember,
	// ScaleAuto); "" means DefaultScale.
	Scale Scale
}

type ruleJSON struct {
	Name       string          `json:"name"`
	Match      string          `json:"match"`
	GroupBy    []string        `json:"group_by"`
	Member     string          `json:"member,omitempty"`
	Window     int             `json:"window"`
	Step       json.RawMessage `json:"step,omitempty"`
	Eps        json.RawMessage `json:"eps,omitempty"`
	MinPts     int             `json:"min_pts"`
	Tolerance  float64         `json:"tolerance"`
	MinMembers int             `json:"min_members"`
	Scale      Scale           `json:"scale,omitempty"`
}

// MarshalJSON writes step as a duration string and eps as a number or
// "auto".
func (r Rule) MarshalJSON() ([]byte, error) {
	j := ruleJSON{Name: r.Name, Match: r.Match, GroupBy: r.GroupBy, Member: r.Member, Window: r.Window,
		MinPts: r.MinPts, Tolerance: r.Tolerance, MinMembers: r.MinMembers, Scale: r.Scale}
	if j.GroupBy == nil {
		j.GroupBy = []string{}
	}
	step := r.Step.String()
	if r.Step%time.Second == 0 {
		step = strconv.FormatInt(int64(r.Step/time.Second), 10) + "s"
	}
	j.Step, _ = json.Marshal(step)
	if r.Eps == nil {
		j.Eps = json.RawMessage(`"auto"`)
	} else {
		j.Eps, _ = json.Marshal(anomaly.Finite(*r.Eps))
	}
	return json.Marshal(j)
}

// UnmarshalJSON accepts what MarshalJSON writes, a number of seconds for
// step, and null or absent eps. Unknown fields are an error.
func (r *Rule) UnmarshalJSON(b []byte) error {
	var j ruleJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return err
	}
	out := Rule{Name: j.Name, Match: j.Match, GroupBy: j.GroupBy, Member: j.Member, Window: j.Window,
		MinPts: j.MinPts, Tolerance: j.Tolerance, MinMembers: j.MinMembers, Scale: j.Scale}
	if s := strings.TrimSpace(string(j.Step)); s != "" && s != "null" {
		var str string
		var secs float64
		switch {
		case json.Unmarshal(j.Step, &str) == nil:
			d, err := time.ParseDuration(str)
			if err != nil {
				return fmt.Errorf("step: %w", err)
			}
			out.Step = d
		case json.Unmarshal(j.Step, &secs) == nil:
			if math.IsNaN(secs) || math.Abs(secs) > float64(MaxStep/time.Second)*10 {
				return fmt.Errorf("step: %v seconds is out of range", secs)
			}
			out.Step = time.Duration(secs * float64(time.Second))
		default:
			return fmt.Errorf("step: want a duration string or a number of seconds, got %s", s)
		}
	}
	if s := strings.TrimSpace(string(j.Eps)); s != "" && s != "null" && s != `"auto"` {
		var e float64
		if err := json.Unmarshal(j.Eps, &e); err != nil {
			return fmt.Errorf(`eps: want a number or "auto", got %s`, s)
		}
		out.Eps = &e
	}
	*r = out
	return nil
}

// WithDefaults returns r with every zero field that has a default filled in
// (MinPts stays 0, meaning automatic, and Eps nil, meaning automatic).
func (r Rule) WithDefaults() Rule {
	if r.Window == 0 {
		r.Window = DefaultWindow
	}
	if r.Step == 0 {
		r.Step = DefaultStep
	}
	if r.Tolerance == 0 {
		r.Tolerance = 3
	}
	if r.MinMembers == 0 {
		r.MinMembers = DefaultMinMembers
	}
	if r.GroupBy == nil {
		r.GroupBy = []string{}
	}
	if r.Scale == "" {
		r.Scale = DefaultScale
	}
	return r
}

func ruleErr(field, format string, args ...any) *anomaly.Error {
	return &anomaly.Error{Code: anomaly.CodeInvalidArgument, Field: field, Message: fmt.Sprintf(format, args...), Index: -1}
}

// Validate checks r as given (zero fields take their defaults). Errors are
// *anomaly.Error with CodeInvalidArgument (CodeMissingField for a missing
// name or match) and Field set.
func (r Rule) Validate() error {
	_, err := compile(r)
	return err
}

// compiled is a validated rule with its matchers.
type compiled struct {
	rule     Rule
	matchers series.Matchers
	// names holds the metric names a series must have to match (from an
	// equality matcher on __name__), or nil when any name may match.
	names []string
}

func validName(s string, first func(byte) bool) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(first(c) || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func labelStart(c byte) bool { return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func compile(r Rule) (*compiled, error) {
	r = r.WithDefaults()
	if r.Name == "" {
		return nil, &anomaly.Error{Code: anomaly.CodeMissingField, Field: "name", Message: "a rule needs a name", Index: -1}
	}
	if len(r.Name) > maxRuleName || strings.IndexFunc(r.Name, func(c rune) bool {
		return !(c == '_' || c == '-' || c == '.' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9')
	}) >= 0 {
		return nil, ruleErr("name", "name %q: use 1 to %d letters, digits and _ - . :", r.Name, maxRuleName)
	}
	if strings.TrimSpace(r.Match) == "" {
		return nil, &anomaly.Error{Code: anomaly.CodeMissingField, Field: "match", Message: "a rule needs a metric name or selector to match", Index: -1}
	}
	ms, err := series.ParseMatchers(r.Match)
	if err != nil {
		return nil, ruleErr("match", "%v", err)
	}
	if len(r.GroupBy) > MaxGroupBy {
		return nil, ruleErr("group_by", "%d labels, limit is %d", len(r.GroupBy), MaxGroupBy)
	}
	for i, l := range r.GroupBy {
		if !validName(l, labelStart) || strings.HasPrefix(l, "__") {
			return nil, ruleErr("group_by", "label %q is not a label name", l)
		}
		if slices.Contains(r.GroupBy[:i], l) {
			return nil, ruleErr("group_by", "label %q appears twice", l)
		}
	}
	if r.Member != "" {
		if !validName(r.Member, labelStart) || strings.HasPrefix(r.Member, "__") {
			return nil, ruleErr("member", "label %q is not a label name", r.Member)
		}
		if slices.Contains(r.GroupBy, r.Member) {
			return nil, ruleErr("member", "label %q is also in group_by", r.Member)
		}
	}
	if r.Window < 3 || r.Window > MaxWindow {
		return nil, ruleErr("window", "window %d: want 3 to %d steps", r.Window, MaxWindow)
	}
	if r.Step < MinStep || r.Step > MaxStep || r.Step%time.Millisecond != 0 {
		return nil, ruleErr("step", "step %v: want a whole number of milliseconds from %v to %v", r.Step, MinStep, MaxStep)
	}
	if r.Eps != nil && (!(*r.Eps > 0) || math.IsInf(*r.Eps, 0)) {
		return nil, ruleErr("eps", "eps %v: want a finite number > 0, or auto", *r.Eps)
	}
	if r.MinPts < 0 || r.MinPts > MaxMinPts {
		return nil, ruleErr("min_pts", "min_pts %d: want 0 (automatic) to %d", r.MinPts, MaxMinPts)
	}
	if !(r.Tolerance > 0) || r.Tolerance > MaxTolerance {
		return nil, ruleErr("tolerance", "tolerance %v: want more than 0 and at most %d", r.Tolerance, MaxTolerance)
	}
	if r.MinMembers < 2 || r.MinMembers > 1_000_000 {
		return nil, ruleErr("min_members", "min_members %d: want at least 2", r.MinMembers)
	}
	if !r.Scale.valid() {
		return nil, ruleErr("scale", "%s", scaleErr(r.Scale))
	}
	c := &compiled{rule: r, matchers: ms}
	for _, m := range ms {
		if m.Name == "__name__" && m.Type == series.MatchEqual {
			c.names = []string{m.Value}
		}
	}
	return c, nil
}

// params returns the judgement settings of the rule.
func (c *compiled) params() params {
	p := params{minPts: c.rule.MinPts, tolerance: c.rule.Tolerance, minMembers: c.rule.MinMembers, scale: c.rule.Scale}
	if c.rule.Eps != nil {
		p.eps = *c.rule.Eps
	}
	return p
}

// identify returns the group text and the member text of a series for
// this rule, and false when the series has no value for the Member label.
// The group is the metric name and the GroupBy labels in rule order
// (`cpu{title="x",bitrate="1080"}`, a missing label written as ""); the
// member is the Member label's value, or the remaining labels in canonical
// form (`{device="tv",region="eu"}`).
func (c *compiled) identify(k series.Key) (group, member string, ok bool) {
	var b strings.Builder
	b.WriteString(k.Name())
	b.WriteByte('{')
	for i, l := range c.rule.GroupBy {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(l)
		b.WriteByte('=')
		writeQuoted(&b, k.Label(l))
	}
	b.WriteByte('}')
	group = b.String()
	if c.rule.Member != "" {
		member = k.Label(c.rule.Member)
		return group, member, member != ""
	}
	b.Reset()
	b.WriteByte('{')
	n := 0
	for name, v := range k.Labels() {
		if slices.Contains(c.rule.GroupBy, name) {
			continue
		}
		if n > 0 {
			b.WriteByte(',')
		}
		n++
		b.WriteString(name)
		b.WriteByte('=')
		writeQuoted(&b, v)
	}
	b.WriteByte('}')
	return group, b.String(), true
}

// MemberResult is the judgement of one member. Cluster is the DBSCAN
// cluster (-1 for noise or when not judged). Distance is the RMS difference
// between the member and the group's median series over the window,
// relative to the group's scale (0.25 = a quarter of the group's typical
// level). DiffFrom and DiffTo are the window steps (0 = oldest) where it
// differs most; -1 when it was not judged. Reason says why in words.
type MemberResult struct {
	Member   string  `json:"member"`
	Series   string  `json:"series,omitempty"`
	Cluster  int     `json:"cluster"`
	Outlier  bool    `json:"outlier"`
	Distance float64 `json:"distance"`
	Reason   string  `json:"reason"`
	DiffFrom int     `json:"diff_from"`
	DiffTo   int     `json:"diff_to"`
}

// GroupResult is the latest judgement of one group of one rule. Eps is the
// eps used, in the same scaled units as MemberResult.Distance. WindowStart
// is the start of step 0 of the window and Step its length in seconds, so a
// step index s covers [WindowStart + s×Step, WindowStart + (s+1)×Step).
// Skipped says why the group was not judged (then no member is an outlier).
// Scale is the scale the group was judged on ("group" or "member", the
// choice of a rule's "auto"); on "member" Eps and Distance are relative to
// each member's own level.
type GroupResult struct {
	Rule        string         `json:"rule"`
	Group       string         `json:"group"`
	EvaluatedAt time.Time      `json:"evaluated_at"`
	WindowStart time.Time      `json:"window_start"`
	StepSeconds float64        `json:"step_seconds"`
	Eps         float64        `json:"eps"`
	MinPts      int            `json:"min_pts"`
	Scale       Scale          `json:"scale,omitempty"`
	Outliers    int            `json:"outliers"`
	Members     []MemberResult `json:"members"`
	Skipped     string         `json:"skipped,omitempty"`
}

// writeQuoted writes v in double quotes with Prometheus' escapes (\\, \"
// and \n), as series keys write label values.
func writeQuoted(b *strings.Builder, v string) {
	b.WriteByte('"')
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\\', '"':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\n':
			b.WriteString(`\n`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
}
