package peers

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/series"
)

// Store defaults.
const (
	DefaultShards    = 64
	DefaultMaxSeries = 2_000_000
)

// EventSink receives the timeline events of peer outliers (AnomalyKind
// anomaly.KindPeerOutlier). Record is called from the goroutine running
// Evaluate or DeleteRule, one event at a time and in order per series; it
// should return quickly.
type EventSink = anomaly.Recorder

// RuleStore persists the rule list. SaveRules gets the whole list after
// every change, before the change takes effect (a failed save leaves the
// rules as they were). Implementations must be safe for concurrent use.
type RuleStore interface {
	LoadRules(ctx context.Context) ([]Rule, error)
	SaveRules(ctx context.Context, rules []Rule) error
}

// Options configures a Store. Zero fields take the defaults named.
type Options struct {
	// Logger for evaluation failures; default slog.Default().
	Logger *slog.Logger
	// Registerer for the store's metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// Sink receives outlier events; nil drops them.
	Sink EventSink
	// NextID hands out anomaly ids shared with the rest of the timeline;
	// nil uses a private counter starting at 1.
	NextID func() anomaly.ID
	// NextIDFor, when set, is used instead of NextID with the series of
	// the outlier (the scaled-out service numbers anomalies by the
	// series' partition, see series.IDSpace).
	NextIDFor func(series string) anomaly.ID
	// Rules persists rules; nil keeps them in memory only. New loads them.
	Rules RuleStore
	// Shards is the number of lock stripes for series windows; default
	// DefaultShards.
	Shards int
	// Workers is the number of goroutines judging groups; default
	// runtime.GOMAXPROCS(0).
	Workers int
	// MaxSeries caps the windows kept (one per rule and matching series);
	// default DefaultMaxSeries, negative means no cap. Series beyond the cap
	// are not tracked (counted in detector_peers_samples_total{result=
	// "untracked"}).
	MaxSeries int
	// Limits bounds series keys when parsing them (zero: series defaults).
	Limits series.Limits
	// RuleLimits bounds the rules and their windows (limits.go).
	RuleLimits RuleLimits
	// Now is the clock of Run; default time.Now.
	Now func() time.Time
}

// Store is the former name of Groups.
//
// Deprecated: use Groups.
type Store = Groups

// Groups keeps the recent step-aligned values of the series some rule
// matches, judges their peer groups and remembers the latest results. All
// methods are safe for concurrent use; evaluations run one at a time.
//
// Memory: a tracked series costs (window + 1) × 4 bytes of values, 8 bytes
// for its newest step, about 50 bytes of shard index, entry and link, and
// its member record (48 bytes plus the member and series texts): about 400
// bytes for a 30-step window and 40-byte keys, measured (README.md).
type Groups struct {
	log     *slog.Logger
	sink    EventSink
	nextID  func(series string) anomaly.ID
	persist RuleStore
	workers int
	max     int64
	limits  series.Limits
	now     func() time.Time

	shards  []*shard
	snap    atomic.Pointer[ruleSet]
	mu      sync.Mutex // serialises rule changes
	evalMu  sync.Mutex // serialises evaluations
	tracked atomic.Int64

	// ruleLimits bound the rules (limits.go).
	ruleLimits RuleLimits

	ruleSeq uint32
	idSeq   atomic.Uint64
	pool    sync.Pool
	m       *metrics
}

// ruleSet is an immutable snapshot of the rules; Observe reads it without
// locking. gen changes with every rule change and invalidates the match
// caches.
type ruleSet struct {
	gen    uint32
	rules  []*ruleState
	byName map[string]*ruleState
	names  map[string]struct{} // metric names any rule can match; nil: any name
}

// ruleState is a rule with its groups, latest results and open events.
type ruleState struct {
	id      uint32
	c       *compiled
	deleted atomic.Bool

	mu     sync.Mutex // guards groups and byKey
	groups []*group
	byKey  map[string]int

	latest atomic.Pointer[evalResult]

	evMu sync.Mutex // guards open
	open map[string]openOutlier
}

type openOutlier struct {
	id    anomaly.ID
	group string
}

// group is one peer group. members only grows by appending; removals
// build a new slice, so a copied slice header stays valid.
type group struct {
	key     string
	members []memberRef
}

// memberRef locates a member's window.
type memberRef struct {
	name   string
	series string
	hash   uint64 // hash of the series text as observed (the shard index key)
	shard  uint32
	ring   int32
}

// New returns a Store with the rules of opts.Rules loaded.
func New(ctx context.Context, opts Options) (*Store, error) {
	s := &Store{
		log:     opts.Logger,
		sink:    opts.Sink,
		nextID:  opts.NextIDFor,
		persist: opts.Rules,
		workers: opts.Workers,
		max:     int64(opts.MaxSeries),
		limits:  opts.Limits,
		now:     opts.Now,
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.nextID == nil {
		next := opts.NextID
		if next == nil {
			next = func() anomaly.ID { return anomaly.ID(s.idSeq.Add(1)) }
		}
		s.nextID = func(string) anomaly.ID { return next() }
	}
	if s.workers <= 0 {
		s.workers = runtime.GOMAXPROCS(0)
	}
	if s.max == 0 {
		s.max = DefaultMaxSeries
	}
	s.ruleLimits = opts.RuleLimits
	s.ruleLimits.fill(s.max)
	if s.now == nil {
		s.now = time.Now
	}
	n := opts.Shards
	if n <= 0 {
		n = DefaultShards
	}
	s.shards = make([]*shard, n)
	for i := range s.shards {
		s.shards[i] = newShard()
	}
	s.pool.New = func() any { return new(batch) }
	s.snap.Store(&ruleSet{gen: 1, byName: map[string]*ruleState{}, names: map[string]struct{}{}})
	var err error
	if s.m, err = newMetrics(opts.Registerer, s); err != nil {
		return nil, err
	}
	if s.persist != nil {
		rules, err := s.persist.LoadRules(ctx)
		if err != nil {
			return nil, fmt.Errorf("peers: load rules: %w", err)
		}
		for _, r := range rules {
			if _, err := s.addRule(ctx, r, false); err != nil {
				if anomaly.ErrorCode(err) == anomaly.CodeLimit || anomaly.ErrorCode(err) == anomaly.CodeInvalidArgument {
					// Limits tighter than when the rule was stored: the
					// service starts without it.
					s.log.Error("stored peer rule not loaded: beyond the current limits", "rule", r.Name, "reason", err.Error())
					continue
				}
				return nil, fmt.Errorf("peers: stored rule %q: %w", r.Name, err)
			}
		}
	}
	return s, nil
}

// AddRule validates r, fills its defaults, persists the new list and
// starts tracking the series it matches (from their next sample on). It
// returns the rule as stored. Errors: *anomaly.Error with CodeConflict when
// a rule has that name, the codes of Validate, or the persistence error.
func (s *Store) AddRule(ctx context.Context, r Rule) (Rule, error) {
	return s.addRule(ctx, r, true)
}

func (s *Store) addRule(ctx context.Context, r Rule, save bool) (Rule, error) {
	c, err := compile(r)
	if err != nil {
		return Rule{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.snap.Load()
	if _, dup := old.byName[c.rule.Name]; dup {
		return Rule{}, &anomaly.Error{Code: anomaly.CodeConflict, Field: "name", Message: fmt.Sprintf("rule %q exists", c.rule.Name), Index: -1}
	}
	if err := s.checkBudget(old, c); err != nil {
		return Rule{}, err
	}
	s.ruleSeq++
	rs := &ruleState{id: s.ruleSeq, c: c, byKey: map[string]int{}, open: map[string]openOutlier{}}
	next := old.with(rs, nil)
	if save && s.persist != nil {
		if err := s.persist.SaveRules(ctx, next.list()); err != nil {
			return Rule{}, saveError(err)
		}
	}
	s.snap.Store(next)
	return c.rule, nil
}

// DeleteRule removes the named rule, persists the new list, frees its
// windows and resolves its open outliers. Errors: *anomaly.Error with
// CodeNotFound for an unknown name, or the persistence error.
func (s *Store) DeleteRule(ctx context.Context, name string) error {
	s.mu.Lock()
	old := s.snap.Load()
	rs, ok := old.byName[name]
	if !ok {
		s.mu.Unlock()
		return &anomaly.Error{Code: anomaly.CodeNotFound, Message: fmt.Sprintf("no rule %q", name), Index: -1}
	}
	next := old.with(nil, rs)
	if s.persist != nil {
		if err := s.persist.SaveRules(ctx, next.list()); err != nil {
			s.mu.Unlock()
			return saveError(err)
		}
	}
	rs.deleted.Store(true)
	s.snap.Store(next)
	s.mu.Unlock()

	for _, sh := range s.shards {
		sh.mu.Lock()
		if sl := sh.slabs[rs.id]; sl != nil {
			s.tracked.Add(-int64(len(sl.last) - len(sl.free)))
			delete(sh.slabs, rs.id)
		}
		for e := range sh.entries {
			if sh.entries[e].link >= 0 {
				sh.unlink(int32(e), func(l link) bool { return l.rule == rs.id }, false)
			}
		}
		sh.mu.Unlock()
	}
	rs.mu.Lock()
	rs.groups, rs.byKey = nil, map[string]int{}
	rs.mu.Unlock()

	rs.evMu.Lock()
	at := s.now()
	for _, k := range slices.Sorted(mapKeys(rs.open)) {
		o := rs.open[k]
		s.record(anomaly.Event{Kind: anomaly.EventResolved, AnomalyID: o.id, AnomalyKind: anomaly.KindPeerOutlier,
			Series: k, At: at, Verdict: anomaly.Verdict{Series: k, Timestamp: at, State: anomaly.StateNormal, Detector: detector(rs)}})
	}
	clear(rs.open)
	rs.evMu.Unlock()
	return nil
}

func mapKeys[M ~map[K]V, K comparable, V any](m M) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// Rules returns the rules in the order they were added, with defaults
// filled in.
func (s *Store) Rules() []Rule { return s.snap.Load().list() }

func (rs *ruleSet) list() []Rule {
	out := make([]Rule, len(rs.rules))
	for i, r := range rs.rules {
		out[i] = r.c.rule
	}
	return out
}

// with returns a copy of rs with add appended and del removed.
func (rs *ruleSet) with(add, del *ruleState) *ruleSet {
	n := &ruleSet{gen: rs.gen + 1, byName: map[string]*ruleState{}, names: map[string]struct{}{}}
	if n.gen == 0 {
		n.gen = 1
	}
	for _, r := range rs.rules {
		if r != del {
			n.rules = append(n.rules, r)
		}
	}
	if add != nil {
		n.rules = append(n.rules, add)
	}
	for _, r := range n.rules {
		n.byName[r.c.rule.Name] = r
		if n.names != nil && r.c.names != nil {
			for _, name := range r.c.names {
				n.names[name] = struct{}{}
			}
		} else {
			n.names = nil
		}
	}
	return n
}

// metricName returns the metric name of a series text without parsing it.
func metricName(s string) string {
	if i := strings.IndexByte(s, '{'); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}

// batch is the per-call scratch of Observe.
type batch struct {
	hash    []uint64
	idx     []int32 // sample indices grouped by shard
	count   []int32 // per shard
	pending []pending
	links   []int32
}

// pending is a new window to register with its rule's group after the
// shard lock is released.
type pending struct {
	rule          *ruleState
	group, member string
	series        string
	hash          uint64
	shard         uint32
	ring          int32
}

// Observe records accepted samples: for each series matched by a rule, the
// value becomes the last value of its step in that rule's window. Samples
// of unmatched series cost a hash and a map lookup (none at all when every
// rule names its metric and the sample's metric is not one of them).
// Series texts are expected in canonical form, as the engine keeps them:
// two spellings of one series would be tracked as two members. A sample
// older than its window is dropped. Safe for concurrent use; each shard's
// lock is taken once per call.
func (s *Store) Observe(samples []anomaly.Sample) { s.observe(samples, nil) }

// ObserveKeys is Observe for samples whose identity the engine has already
// worked out (series.Engine.IngestKeys): keys[i] is the canonical key of
// samples[i], and a zero key skips the sample. Nothing is parsed or
// hashed again; samples[i].Series is not read.
func (s *Store) ObserveKeys(samples []anomaly.Sample, keys []series.Key) {
	if len(keys) != len(samples) {
		return
	}
	s.observe(samples, keys)
}

func (s *Store) observe(samples []anomaly.Sample, keys []series.Key) {
	rs := s.snap.Load()
	if len(rs.rules) == 0 || len(samples) == 0 {
		return
	}
	b := s.pool.Get().(*batch)
	defer s.pool.Put(b)
	nsh := len(s.shards)
	b.hash = slices.Grow(b.hash[:0], len(samples))[:len(samples)]
	b.count = slices.Grow(b.count[:0], nsh+1)[:nsh+1]
	clear(b.count)
	for i := range samples {
		var h uint64
		if keys != nil {
			k := &keys[i]
			if k.IsZero() {
				b.hash[i] = 0
				continue
			}
			if rs.names != nil {
				if _, ok := rs.names[k.Name()]; !ok {
					b.hash[i] = 0
					continue
				}
			}
			h = k.Hash() | 1 // 0 marks "skip"
		} else {
			if rs.names != nil {
				if _, ok := rs.names[metricName(samples[i].Series)]; !ok {
					b.hash[i] = 0
					continue
				}
			}
			h = xxhash.Sum64String(samples[i].Series) | 1
		}
		b.hash[i] = h
		b.count[h%uint64(nsh)+1]++
	}
	for i := 1; i <= nsh; i++ {
		b.count[i] += b.count[i-1]
	}
	total := int(b.count[nsh])
	if total == 0 {
		return
	}
	b.idx = slices.Grow(b.idx[:0], total)[:total]
	for i, h := range b.hash {
		if h == 0 {
			continue
		}
		sh := h % uint64(nsh)
		b.idx[b.count[sh]] = int32(i)
		b.count[sh]++
	}
	// b.count[sh] is now the end of shard sh's run; its start is the end of
	// the previous one.
	var stored, late, untracked int
	b.pending = b.pending[:0]
	start := int32(0)
	for shi := range nsh {
		end := b.count[shi]
		if end == start {
			continue
		}
		sh := s.shards[shi]
		sh.mu.Lock()
		for _, i := range b.idx[start:end] {
			smp := &samples[i]
			h := b.hash[i]
			e, ok := sh.index[h]
			if !ok || sh.entries[e].gen != rs.gen {
				if !ok {
					if g, neg := sh.neg[h]; neg && g == rs.gen {
						continue
					}
				}
				var u int
				var key *series.Key
				if keys != nil {
					key = &keys[i]
				}
				e, u = s.match(rs, sh, uint32(shi), e, ok, h, smp.Series, key, b)
				untracked += u
				if e < 0 {
					continue
				}
			}
			for l := sh.entries[e].link; l >= 0; l = sh.links[l].next {
				ln := sh.links[l]
				if sl := sh.slabs[ln.rule]; sl != nil {
					if sl.put(ln.ring, smp.TimestampMs, smp.Value) {
						stored++
					} else {
						late++
					}
				}
			}
		}
		sh.mu.Unlock()
		start = end
	}
	s.m.samples(stored, late, untracked)
	for _, p := range b.pending {
		s.register(p)
	}
	clear(b.pending) // drop string references held by the pooled batch
}

// match (re)matches a series against the rules under the shard lock: it
// creates the entry when needed, adds links and windows for matching rules
// it lacks, and queues their registration. It returns the entry (-1 when
// the series matches no rule) and the number of windows refused by the
// cap.
func (s *Store) match(rs *ruleSet, sh *shard, shi uint32, e int32, exists bool, h uint64, text string, known *series.Key, b *batch) (int32, int) {
	var key series.Key
	var err error
	if known != nil {
		key = *known
	} else {
		key, err = series.Parse(text, s.limits)
	}
	untracked := 0
	if err == nil {
		canonical := ""
		for _, r := range rs.rules {
			if r.deleted.Load() || !r.c.matchers.Matches(key) {
				continue
			}
			if exists && sh.hasLink(e, r.id) {
				continue
			}
			group, member, ok := r.c.identify(key)
			if !ok {
				continue
			}
			if s.max > 0 && s.tracked.Load() >= s.max {
				untracked++
				continue
			}
			sl := sh.slabs[r.id]
			if sl == nil {
				sl = &slab{width: r.c.rule.Window + 1, stepMs: r.c.rule.Step.Milliseconds()}
				sh.slabs[r.id] = sl
			}
			if !exists {
				e = sh.newEntry(h, rs.gen)
				exists = true
			}
			ring := sl.alloc()
			s.tracked.Add(1)
			sh.entries[e].link = sh.newLink(r.id, ring, sh.entries[e].link)
			if canonical == "" {
				canonical = strings.Clone(key.Canonical())
			}
			// The member is a label value, a substring of the caller's
			// series text: kept as a copy of its own, so that a tracked
			// member never holds a whole request's text alive.
			b.pending = append(b.pending, pending{rule: r, group: group, member: strings.Clone(member), series: canonical, hash: h, shard: shi, ring: ring})
		}
	}
	if !exists {
		if len(sh.neg) >= negCacheMax {
			clear(sh.neg)
		}
		sh.neg[h] = rs.gen
		return -1, untracked
	}
	sh.entries[e].gen = rs.gen
	return e, untracked
}

// register adds a new window to its rule's group. When the rule was
// deleted meanwhile there is nothing to do: DeleteRule drops the rule's
// slabs (this window included, and counted) and links.
func (s *Store) register(p pending) {
	r := p.rule
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.deleted.Load() {
		return
	}
	gi, ok := r.byKey[p.group]
	if !ok {
		gi = len(r.groups)
		r.byKey[p.group] = gi
		r.groups = append(r.groups, &group{key: p.group})
	}
	g := r.groups[gi]
	g.members = append(g.members, memberRef{name: p.member, series: p.series, hash: p.hash, shard: p.shard, ring: p.ring})
}

func detector(r *ruleState) string { return "peers:" + r.c.rule.Name }

func (s *Store) record(ev anomaly.Event) {
	if s.sink != nil {
		s.sink.Record(ev)
	}
}
