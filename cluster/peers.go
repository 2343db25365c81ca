package cluster

import (
	"fmt"
	"slices"
	"strings"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/peers"
)

// CheckPeerRule reports whether every peer group of r stays on one
// partition when points are keyed by keyLabels (RoutingKey). A group is the
// series of one metric name with the same values of r's GroupBy labels; its
// members share the routing key, and so the partition and the node, when
// every key label is one of GroupBy (or __name__, the metric name). With
// no key labels (the whole series is the key) every member has its own
// partition and no rule can be judged. The error is an *anomaly.Error with
// CodeInvalidArgument and Field "group_by" saying what to change.
//
// Series that carry none of the key labels are routed by their whole key
// (RoutingKey), so a group of such series, whose group-by values are all
// empty, is not kept together: give every series of a peer rule its key
// labels.
func CheckPeerRule(r peers.Rule, keyLabels []string) error {
	if len(keyLabels) == 0 {
		return &anomaly.Error{Code: anomaly.CodeInvalidArgument, Field: "group_by", Index: -1,
			Message: fmt.Sprintf("peer rule %q cannot be judged on this cluster: points are keyed by the whole series, so the members of a group land on different nodes; start every node (and key every producer) with --kafka-key-labels set to labels of group_by, such as --kafka-key-labels %s",
				r.Name, strings.Join(orExample(r.GroupBy), ","))}
	}
	var outside []string
	for _, l := range keyLabels {
		if l != "__name__" && !slices.Contains(r.GroupBy, l) {
			outside = append(outside, l)
		}
	}
	if len(outside) == 0 {
		return nil
	}
	return &anomaly.Error{Code: anomaly.CodeInvalidArgument, Field: "group_by", Index: -1,
		Message: fmt.Sprintf("peer rule %q groups by [%s] but points are keyed by [%s] (--kafka-key-labels): members of one group that differ in %s would land on different nodes and never be judged together; add %s to group_by, or key the cluster by a subset of group_by",
			r.Name, strings.Join(r.GroupBy, ","), strings.Join(keyLabels, ","), strings.Join(outside, ", "), strings.Join(outside, ", "))}
}

func orExample(groupBy []string) []string {
	if len(groupBy) == 0 {
		return []string{"<label>"}
	}
	return groupBy
}

// CheckPeerRules checks every rule (CheckPeerRule) and returns the errors
// of those whose groups would be split, one per rule.
func CheckPeerRules(rules []peers.Rule, keyLabels []string) []error {
	var errs []error
	for _, r := range rules {
		if err := CheckPeerRule(r, keyLabels); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}
