package series

import (
	"errors"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/models"
)

// Rules: user-set bounds and time zones next to the learned baselines
// (anomaly.BoundRule, set with Engine.SetRules; package bounds keeps them).
//
//   - Static bounds: a matching series is anomalous with detector
//     static_bound below min or above max (models.Bounds: the band is the
//     learned band clipped to [min, max], so band = verdict still holds).
//   - Ratio to limit: a matching series is anomalous with detector
//     limit_ratio above ratio (default 0.8) times the latest value of its
//     limit series: the series matching the limit selector with the same
//     values of the on labels (no on labels: one limit value per rule, the
//     latest point of any limit series). Until its limit series has sent a
//     point, a series is judged by its baseline alone. A rule has static
//     bounds or a limit, not both.
//   - Time zone: the series' daily and weekly profile is kept in this IANA
//     zone instead of the engine's (models.Config.Location). A series that
//     changes zone keeps its learned profile, which then shifts by the
//     difference in offsets until it has relearned it: set zones before the
//     series learn.
//
// The first matching rule (in the order given) with bounds gives a series
// its bounds, the first with a time zone its zone, and the first whose
// limit selector matches makes it a limit series. Each series caches its
// matches in its slot (pointer-free indexes) against a generation of the
// rule set: a series is matched again only after the rules change. With no
// rule at all, the write path costs one atomic load per batch.

// Rule limits.
const (
	MaxRules        = 1000 // rules per engine
	MaxRuleSelector = 4096 // bytes of a match or limit selector
	MaxRuleOn       = 16   // on labels of a ratio rule
	MaxLimitGroups  = 1024 // distinct on-label values per ratio rule; further limit series are not used
	DefaultRatio    = 0.8
)

// ruleSet is a compiled, immutable set of rules (but for the limit values).
type ruleSet struct {
	gen   uint32
	rules []*rule
	cfgs  []models.Config // per zone index - 1
}

type rule struct {
	match, limit Matchers
	static       bool
	min, max     float64
	on           []string
	ratio        float64
	zone         uint16 // index+1 into ruleSet.cfgs, 0 for none

	mu     sync.Mutex
	groups map[string]int32 // on-label values -> index into vals
	vals   []atomic.Uint64  // latest limit value bits per group; NaN bits: none yet
}

// slotRules is a series' cached view of the rule set (pointer-free).
type slotRules struct {
	gen      uint32 // ruleSet.gen this was matched against; 0: never
	bounds   uint16 // rule index+1 giving bounds, 0 for none
	limitOf  uint16 // rule index+1 whose limit selector matches, 0 for none
	zone     uint16 // zone index+1, 0 for the engine's
	group    int32  // limit group of the bounds rule (ratio), -1 for none
	limGroup int32  // group this series sets as a limit, -1 for none
}

var ruleGen atomic.Uint32

// CheckRule validates one rule as SetRules would (defaults applied to the
// returned copy). Errors are *anomaly.Error with CodeInvalidArgument.
func CheckRule(r anomaly.BoundRule) (anomaly.BoundRule, error) {
	_, err := compileRule(&r, nil)
	return r, err
}

func ruleErr(field, format string, args ...any) error {
	e := anomaly.Errorf(anomaly.CodeInvalidArgument, format, args...)
	e.Field = field
	return e
}

// fieldErr names the field of a selector error.
func fieldErr(err error, field string) error {
	var ae *anomaly.Error
	if errors.As(err, &ae) {
		c := *ae
		c.Field = field
		return &c
	}
	return ruleErr(field, "%s: %v", field, err)
}

// compileRule checks r, fills its defaults and compiles it; zones collects
// the distinct zone names (nil: not collected).
func compileRule(r *anomaly.BoundRule, zones *[]string) (*rule, error) {
	if len(r.Match) > MaxRuleSelector || len(r.Limit) > MaxRuleSelector {
		return nil, ruleErr("match", "a selector is limited to %d bytes", MaxRuleSelector)
	}
	if strings.TrimSpace(r.Match) == "" {
		return nil, ruleErr("match", "match must select series")
	}
	c := &rule{min: math.Inf(-1), max: math.Inf(1)}
	var err error
	if c.match, err = ParseMatchers(r.Match); err != nil {
		return nil, fieldErr(err, "match")
	}
	finite := func(p *float64) bool { return !math.IsNaN(*p) && !math.IsInf(*p, 0) }
	if r.Min != nil {
		if !finite(r.Min) {
			return nil, ruleErr("min", "min must be a finite number")
		}
		c.min, c.static = *r.Min, true
	}
	if r.Max != nil {
		if !finite(r.Max) {
			return nil, ruleErr("max", "max must be a finite number")
		}
		c.max, c.static = *r.Max, true
	}
	if !(c.max > c.min) {
		return nil, ruleErr("max", "max %v must be above min %v", c.max, c.min)
	}
	switch {
	case r.Limit != "":
		if c.static {
			return nil, ruleErr("limit", "a rule has static bounds or a limit, not both")
		}
		if c.limit, err = ParseMatchers(r.Limit); err != nil {
			return nil, fieldErr(err, "limit")
		}
		if r.Ratio == 0 {
			r.Ratio = DefaultRatio
		}
		if !(r.Ratio > 0 && r.Ratio <= 100) {
			return nil, ruleErr("ratio", "ratio must be in (0, 100]")
		}
		if len(r.On) > MaxRuleOn {
			return nil, ruleErr("on", "at most %d on labels", MaxRuleOn)
		}
		for _, l := range r.On {
			if l == "" || len(l) > DefaultLimits().MaxLabelNameLen {
				return nil, ruleErr("on", "bad on label %q", l)
			}
		}
		c.on, c.ratio = r.On, r.Ratio
		c.groups = make(map[string]int32)
		c.vals = make([]atomic.Uint64, MaxLimitGroups)
		for i := range c.vals {
			c.vals[i].Store(math.Float64bits(math.NaN()))
		}
	case r.Ratio != 0 || len(r.On) > 0:
		return nil, ruleErr("limit", "ratio and on need a limit selector")
	}
	if r.Timezone != "" {
		loc, err := time.LoadLocation(r.Timezone)
		if err != nil || r.Timezone == "Local" {
			return nil, ruleErr("timezone", "unknown time zone %q", r.Timezone)
		}
		_ = loc
		if zones != nil {
			i := indexOf(*zones, r.Timezone)
			if i < 0 {
				*zones = append(*zones, r.Timezone)
				i = len(*zones) - 1
			}
			c.zone = uint16(i + 1)
		}
	}
	if !c.static && c.limit == nil && r.Timezone == "" {
		return nil, ruleErr("match", "a rule needs min, max, limit or timezone")
	}
	return c, nil
}

func indexOf(s []string, v string) int {
	for i := range s {
		if s[i] == v {
			return i
		}
	}
	return -1
}

// SetRules replaces the engine's rules (none: nil or empty). Every series
// is matched again at its next point. Errors are *anomaly.Error with
// CodeInvalidArgument (the rules are then unchanged), with Index naming the
// rule.
func (e *Engine) SetRules(rules []anomaly.BoundRule) error {
	if len(rules) > MaxRules {
		return anomaly.Errorf(anomaly.CodeLimit, "at most %d rules", MaxRules)
	}
	if len(rules) == 0 {
		e.rules.Store(nil)
		return nil
	}
	rs := &ruleSet{gen: ruleGen.Add(1)}
	if rs.gen == 0 { // wrapped: 0 means "never matched"
		rs.gen = ruleGen.Add(1)
	}
	var zones []string
	for i := range rules {
		r := rules[i]
		c, err := compileRule(&r, &zones)
		if err != nil {
			var ae *anomaly.Error
			if errors.As(err, &ae) {
				ae.Index = i
			}
			return err
		}
		rs.rules = append(rs.rules, c)
	}
	for _, z := range zones {
		loc, _ := time.LoadLocation(z)
		c := e.cfg
		c.Location = loc
		rs.cfgs = append(rs.cfgs, c)
	}
	e.rules.Store(rs)
	return nil
}

// groupKey is the limit group of key under r's on labels.
func (r *rule) groupKey(k Key) string {
	if len(r.on) == 0 {
		return ""
	}
	var b strings.Builder
	for _, l := range r.on {
		b.WriteString(k.Label(l))
		b.WriteByte(0xff)
	}
	return b.String()
}

// group returns the index of g in r's limit groups, adding it when add is
// set and there is room; -1 when none.
func (r *rule) group(g string, add bool) int32 {
	r.mu.Lock()
	defer r.mu.Unlock()
	i, ok := r.groups[g]
	if !ok {
		if !add || len(r.groups) >= len(r.vals) {
			return -1
		}
		i = int32(len(r.groups))
		r.groups[g] = i
	}
	return i
}

// match works out which rules apply to the series key.
func (rs *ruleSet) match(key string, hash uint64) slotRules {
	k := keyFromCanonical(key, hash)
	sr := slotRules{gen: rs.gen, group: -1, limGroup: -1}
	for i, r := range rs.rules {
		if r.match.Matches(k) {
			if sr.bounds == 0 && (r.static || r.limit != nil) {
				sr.bounds = uint16(i + 1)
				if r.limit != nil {
					sr.group = r.group(r.groupKey(k), true)
				}
			}
			if sr.zone == 0 && r.zone != 0 {
				sr.zone = r.zone
			}
		}
		if sr.limitOf == 0 && r.limit != nil && r.limit.Matches(k) {
			sr.limitOf = uint16(i + 1)
			sr.limGroup = r.group(r.groupKey(k), true)
		}
	}
	return sr
}

// bounds fills b with what sr's bounds rule says now; false when none.
func (rs *ruleSet) bounds(sr *slotRules, b *models.Bounds) bool {
	if sr.bounds == 0 {
		return false
	}
	r := rs.rules[sr.bounds-1]
	if r.static {
		*b = models.Bounds{Min: r.min, Max: r.max, Detector: models.DetectorStaticBound}
		return true
	}
	if sr.group < 0 {
		return false
	}
	lim := math.Float64frombits(r.vals[sr.group].Load())
	hi := r.ratio * lim
	if math.IsNaN(hi) || math.IsInf(hi, 0) {
		return false
	}
	*b = models.Bounds{Min: math.Inf(-1), Max: hi, Detector: models.DetectorLimitRatio}
	return true
}

// setLimit records v as the latest value of sr's limit group.
func (rs *ruleSet) setLimit(sr *slotRules, v float64) {
	if sr.limitOf == 0 || sr.limGroup < 0 {
		return
	}
	rs.rules[sr.limitOf-1].vals[sr.limGroup].Store(math.Float64bits(v))
}

// config returns the model configuration of a series under sr.
func (rs *ruleSet) config(sr *slotRules, def *models.Config) *models.Config {
	if rs == nil || sr.zone == 0 {
		return def
	}
	return &rs.cfgs[sr.zone-1]
}

// view returns the rules of slot idx for a reader (without caching them).
func (sh *shard) view(rs *ruleSet, idx int32) slotRules {
	sl := sh.slot(idx)
	if rs == nil {
		return slotRules{}
	}
	if sl.rules.gen == rs.gen {
		return sl.rules
	}
	return rs.match(sh.key(idx), sl.hash)
}

// readCfg returns the model configuration and the bounds (nil: none) of
// slot idx for a reader holding mu.
func (sh *shard) readCfg(idx int32) (*models.Config, *models.Bounds) {
	rs := sh.e.rules.Load()
	sr := sh.view(rs, idx)
	var b *models.Bounds
	if rs != nil {
		var bb models.Bounds
		if rs.bounds(&sr, &bb) {
			b = &bb
		}
	}
	return rs.config(&sr, &sh.e.cfg), b
}
