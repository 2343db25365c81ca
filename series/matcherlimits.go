package series

import (
	"regexp"
	"regexp/syntax"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/anomalyd/detector/anomaly"
)

// Bounds of a series selector (ParseMatchers). A selector beyond them is
// refused with CodeInvalidArgument before any series is scanned: a
// listing's cost is the number of series times the cost of its matchers,
// and these keep the second small.
const (
	// MaxSelectorLen bounds the selector text, in bytes.
	MaxSelectorLen = 4096
	// MaxMatchers bounds the label matchers of one selector.
	MaxMatchers = 16
	// MaxRegexLen bounds the text of one regular expression, in bytes.
	MaxRegexLen = 512
	// MaxRegexCost bounds the size of one regular expression once its
	// repetitions are expanded: about one unit per instruction of the
	// compiled program, a character class costing one more per 16 ranges.
	// `(.?)` costs 5, so `(.?)` repeated 30 times is refused; so is
	// `(?:[a-z]{30}){30}` (900 copies) before it is compiled.
	MaxRegexCost = 150
	// regexCacheSize is the number of compiled regular expressions kept.
	regexCacheSize = 512
)

// regexCache holds compiled matcher expressions by their text, so that a
// selector repeated by a dashboard or a peer rule is compiled once.
var regexCache, _ = lru.New[string, *regexp.Regexp](regexCacheSize)

// compileMatcherRegexp returns the anchored expression for value, from the
// cache or compiled after its cost is checked.
func compileMatcherRegexp(sel, label, value string) (*regexp.Regexp, error) {
	if re, ok := regexCache.Get(value); ok {
		return re, nil
	}
	if len(value) > MaxRegexLen {
		return nil, matcherErr(sel, "the regular expression for label %q is %d bytes long; the limit is %d", label, len(value), MaxRegexLen)
	}
	tree, err := syntax.Parse(value, syntax.Perl|syntax.DotNL)
	if err != nil {
		return nil, matcherErr(sel, "invalid regular expression %q for label %q: %v", value, label, err)
	}
	if c := regexCost(tree, MaxRegexCost+1); c > MaxRegexCost {
		return nil, matcherErr(sel, "the regular expression for label %q is too complex (cost above %d, the limit): simplify it or use fewer repetitions", label, MaxRegexCost)
	}
	re, err := regexp.Compile("^(?s:" + value + ")$")
	if err != nil {
		return nil, matcherErr(sel, "invalid regular expression %q for label %q: %v", value, label, err)
	}
	regexCache.Add(value, re)
	return re, nil
}

// regexCost estimates the size of re's program with its repetitions
// expanded, stopping once it passes limit (so that nested repetitions
// cannot make the estimate itself expensive or overflow).
func regexCost(re *syntax.Regexp, limit int) int {
	cost := 1
	switch re.Op {
	case syntax.OpCharClass:
		cost += len(re.Rune) / 32 // pairs of bounds, one unit per 16 ranges
	case syntax.OpLiteral:
		cost += len(re.Rune)
	case syntax.OpRepeat:
		n := re.Max
		if n < 0 {
			n = re.Min + 1
		}
		n = max(n, 1)
		sub := regexCost(re.Sub[0], limit)
		if sub > limit/n {
			return limit
		}
		return min(limit, cost+n*sub)
	}
	for _, s := range re.Sub {
		cost += regexCost(s, limit)
		if cost >= limit {
			return limit
		}
	}
	if re.Op == syntax.OpCapture || re.Op == syntax.OpQuest || re.Op == syntax.OpStar || re.Op == syntax.OpPlus {
		cost++
	}
	return min(cost, limit)
}

// checkSelector refuses a selector over MaxSelectorLen.
func checkSelector(s string) error {
	if len(s) > MaxSelectorLen {
		return anomaly.Errorf(anomaly.CodeInvalidArgument, "the selector is %d bytes long; the limit is %d", len(s), MaxSelectorLen)
	}
	return nil
}

// tooManyMatchers is the error of a selector with more than MaxMatchers.
func tooManyMatchers(s string) error {
	return matcherErr(s, "more than %d label matchers; the limit is %d", MaxMatchers, MaxMatchers)
}
