package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/peers"
)

// Members of the peer-group request bodies; any other is rejected.
var (
	ruleFields   = []string{"name", "match", "group_by", "member", "window", "step", "eps", "min_pts", "tolerance", "min_members", "scale"}
	detectFields = []string{"members", "eps", "min_pts", "tolerance", "min_members", "scale"}
)

// RuleList is the answer of GET /api/v1/peers/rules.
type RuleList struct {
	Rules []peers.Rule `json:"rules"`
}

// OutlierList is the answer of GET /api/v1/peers/outliers.
type OutlierList struct {
	Groups []peers.GroupResult `json:"groups"`
}

// decodeInto decodes a body that readBody has checked (one object, known
// top-level members) into dst, rejecting unknown members of nested objects
// too. Errors are whole-request *anomaly.Error.
func (b *body) decodeInto(dst any) error {
	dec := json.NewDecoder(bytes.NewReader(b.raw))
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	if err == nil {
		return nil
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return &anomaly.Error{Code: anomaly.CodeInvalidType, Field: te.Field, Index: -1, Err: err,
			Message: fmt.Sprintf("%s must be %s, got a JSON %s", te.Field, jsonKind(te.Type.Kind().String()), te.Value)}
	}
	msg := strings.TrimPrefix(err.Error(), "json: ")
	if strings.HasPrefix(msg, "unknown field ") {
		return &anomaly.Error{Code: anomaly.CodeInvalidJSON, Index: -1, Err: err, Message: msg}
	}
	// The field's own decoder refused the value (step, eps of a rule).
	field, _, _ := strings.Cut(msg, ":")
	if strings.ContainsAny(field, " \"") {
		field = ""
	}
	return &anomaly.Error{Code: anomaly.CodeInvalidArgument, Field: field, Index: -1, Err: err, Message: msg}
}

// jsonKind names a Go kind the way a JSON client thinks of it.
func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "slice", "array":
		return "an array"
	case "struct", "map":
		return "an object"
	case "bool":
		return "true or false"
	}
	return "a number"
}

// addPeerRule handles POST /api/v1/peers/rules: 201 with the rule as stored.
func (a *API) addPeerRule(r *http.Request) (any, error) {
	if a.deps.Peers == nil {
		return nil, unavailable("peer-group detection")
	}
	b, err := readBody(r, ruleFields...)
	if err != nil {
		return nil, err
	}
	var rule peers.Rule
	if err := b.decodeInto(&rule); err != nil {
		return nil, err
	}
	stored, err := a.deps.Peers.AddRule(r.Context(), rule)
	if err != nil {
		return nil, err
	}
	return withStatus{status: http.StatusCreated, body: stored}, nil
}

// listPeerRules handles GET /api/v1/peers/rules.
func (a *API) listPeerRules(*http.Request) (any, error) {
	if a.deps.Peers == nil {
		return nil, unavailable("peer-group detection")
	}
	rules := a.deps.Peers.Rules()
	if rules == nil {
		rules = []peers.Rule{}
	}
	return RuleList{Rules: rules}, nil
}

// deletePeerRule handles DELETE /api/v1/peers/rules/{name}: 204.
func (a *API) deletePeerRule(r *http.Request) (any, error) {
	if a.deps.Peers == nil {
		return nil, unavailable("peer-group detection")
	}
	name, err := pathVar(r, "name")
	if err != nil {
		return nil, err
	}
	if err := a.deps.Peers.DeleteRule(r.Context(), name); err != nil {
		return nil, err
	}
	return withStatus{status: http.StatusNoContent}, nil
}

// peerOutliers handles GET /api/v1/peers/outliers?rule=&group=.
func (a *API) peerOutliers(r *http.Request) (any, error) {
	if a.deps.Peers == nil {
		return nil, unavailable("peer-group detection")
	}
	q := r.URL.Query()
	rule := q.Get("rule")
	if rule == "" {
		return nil, &anomaly.Error{Code: anomaly.CodeMissingField, Field: "rule", Index: -1,
			Message: "query parameter rule is required: the name of a peer-group rule"}
	}
	groups, err := a.deps.Peers.Results(rule, q.Get("group"))
	if err != nil {
		return nil, err
	}
	if groups == nil {
		groups = []peers.GroupResult{}
	}
	return OutlierList{Groups: groups}, nil
}

// peerDetect handles POST /api/v1/peers/detect.
func (a *API) peerDetect(r *http.Request) (any, error) {
	if a.deps.PeerDetect == nil {
		return nil, unavailable("peer-group detection")
	}
	b, err := readBody(r, detectFields...)
	if err != nil {
		return nil, err
	}
	var req peers.DetectRequest
	if err := b.decodeInto(&req); err != nil {
		return nil, err
	}
	resp, err := a.deps.PeerDetect(req)
	if err != nil {
		return nil, err
	}
	if resp.Members == nil {
		resp.Members = []peers.MemberResult{}
	}
	return resp, nil
}
