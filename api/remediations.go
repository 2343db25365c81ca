package api

import (
	"net/http"
	"strconv"

	"github.com/gorilla/mux"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/remediate"
)

// Remediations keeps remediation rules, their audit trail, pending
// approvals and the kill switch. Implementations are safe for concurrent
// use; errors are *anomaly.Error (CodeConflict for a taken rule name,
// CodeNotFound for an unknown rule or pending action, CodeMissingField or
// CodeInvalidArgument for an invalid rule). *remediate.Remediator
// implements it.
type Remediations interface {
	AddRule(r remediate.Rule) (remediate.Rule, error)
	Rules() []remediate.Rule
	Rule(name string) (remediate.Rule, error)
	// PatchRule applies a JSON merge patch to a rule.
	PatchRule(name string, patch []byte) (remediate.Rule, error)
	DeleteRule(name string) error
	Actions(q remediate.ActionQuery) remediate.ActionPage
	Approve(actionID string) (remediate.Record, error)
	KillSwitch() remediate.KillSwitch
	SetKillSwitch(engaged bool, reason string) (remediate.KillSwitch, error)
}

// Members of the remediation request bodies.
var (
	remediationFields = []string{"name", "match", "peer_rule", "events", "min_duration", "min_score", "detector", "action",
		"dry_run", "require_approval", "approval_timeout", "max_per_hour", "max_group_fraction", "min_healthy_fraction",
		"group_window", "cooldown", "enabled"}
	killSwitchFields = []string{"engaged", "reason"}
)

// RemediationList is the answer of GET /api/v1/remediations.
type RemediationList struct {
	Rules []remediate.Rule `json:"rules"`
}

// remediationRoutes adds the remediation routes to r; the literal paths
// come before /remediations/{name}.
func (a *API) remediationRoutes(r *mux.Router, v1 string) {
	r.Handle(v1+"/remediations", a.wrap(a.addRemediation)).Methods(http.MethodPost)
	r.Handle(v1+"/remediations", a.wrap(a.listRemediations)).Methods(http.MethodGet)
	r.Handle(v1+"/remediations/actions", a.wrap(a.remediationActions)).Methods(http.MethodGet)
	r.Handle(v1+"/remediations/actions/{id}/approve", a.wrap(a.approveRemediation)).Methods(http.MethodPost)
	r.Handle(v1+"/remediations/kill-switch", a.wrap(a.getKillSwitch)).Methods(http.MethodGet)
	r.Handle(v1+"/remediations/kill-switch", a.wrap(a.setKillSwitch)).Methods(http.MethodPut)
	r.Handle(v1+"/remediations/{name}", a.wrap(a.getRemediation)).Methods(http.MethodGet)
	r.Handle(v1+"/remediations/{name}", a.wrap(a.patchRemediation)).Methods(http.MethodPatch)
	r.Handle(v1+"/remediations/{name}", a.wrap(a.deleteRemediation)).Methods(http.MethodDelete)
}

func (a *API) remediations() (Remediations, error) {
	if a.deps.Remediations == nil {
		return nil, unavailable("remediation")
	}
	return a.deps.Remediations, nil
}

// addRemediation handles POST /api/v1/remediations: 201 with the rule.
func (a *API) addRemediation(r *http.Request) (any, error) {
	x, err := a.remediations()
	if err != nil {
		return nil, err
	}
	b, err := readBody(r, remediationFields...)
	if err != nil {
		return nil, err
	}
	var rule remediate.Rule
	if err := b.decodeInto(&rule); err != nil {
		return nil, err
	}
	stored, err := x.AddRule(rule)
	if err != nil {
		return nil, err
	}
	return withStatus{status: http.StatusCreated, body: stored}, nil
}

// listRemediations handles GET /api/v1/remediations.
func (a *API) listRemediations(*http.Request) (any, error) {
	x, err := a.remediations()
	if err != nil {
		return nil, err
	}
	return RemediationList{Rules: x.Rules()}, nil
}

func (a *API) getRemediation(r *http.Request) (any, error) {
	x, err := a.remediations()
	if err != nil {
		return nil, err
	}
	name, err := pathVar(r, "name")
	if err != nil {
		return nil, err
	}
	return x.Rule(name)
}

// patchRemediation handles PATCH /api/v1/remediations/{name}: a JSON merge
// patch of the rule.
func (a *API) patchRemediation(r *http.Request) (any, error) {
	x, err := a.remediations()
	if err != nil {
		return nil, err
	}
	name, err := pathVar(r, "name")
	if err != nil {
		return nil, err
	}
	b, err := readBody(r, remediationFields...)
	if err != nil {
		return nil, err
	}
	return x.PatchRule(name, b.raw)
}

func (a *API) deleteRemediation(r *http.Request) (any, error) {
	x, err := a.remediations()
	if err != nil {
		return nil, err
	}
	name, err := pathVar(r, "name")
	if err != nil {
		return nil, err
	}
	if err := x.DeleteRule(name); err != nil {
		return nil, err
	}
	return withStatus{status: http.StatusNoContent}, nil
}

// remediationActions handles GET /api/v1/remediations/actions
// ?rule=&outcome=&action_id=&anomaly_id=&after=&limit=.
func (a *API) remediationActions(r *http.Request) (any, error) {
	x, err := a.remediations()
	if err != nil {
		return nil, err
	}
	q := r.URL.Query()
	aq := remediate.ActionQuery{Rule: q.Get("rule"), Outcome: q.Get("outcome"), ActionID: q.Get("action_id")}
	if s := q.Get("anomaly_id"); s != "" {
		if aq.AnomalyID, err = anomaly.ParseID(s); err != nil {
			return nil, &anomaly.Error{Code: anomaly.CodeInvalidArgument, Field: "anomaly_id", Index: -1, Message: err.Error()}
		}
	}
	if s := q.Get("after"); s != "" {
		if aq.After, err = strconv.ParseUint(s, 10, 64); err != nil {
			return nil, &anomaly.Error{Code: anomaly.CodeInvalidArgument, Field: "after", Index: -1,
				Message: "after is the seq of the last record of the previous page"}
		}
	}
	if aq.Limit, err = a.limitParam(r); err != nil {
		return nil, err
	}
	return x.Actions(aq), nil
}

// approveRemediation handles POST /api/v1/remediations/actions/{id}/approve.
func (a *API) approveRemediation(r *http.Request) (any, error) {
	x, err := a.remediations()
	if err != nil {
		return nil, err
	}
	id, err := pathVar(r, "id")
	if err != nil {
		return nil, err
	}
	return x.Approve(id)
}

func (a *API) getKillSwitch(*http.Request) (any, error) {
	x, err := a.remediations()
	if err != nil {
		return nil, err
	}
	return x.KillSwitch(), nil
}

// setKillSwitch handles PUT /api/v1/remediations/kill-switch
// {"engaged": true, "reason": "..."}.
func (a *API) setKillSwitch(r *http.Request) (any, error) {
	x, err := a.remediations()
	if err != nil {
		return nil, err
	}
	b, err := readBody(r, killSwitchFields...)
	if err != nil {
		return nil, err
	}
	var req struct {
		Engaged *bool  `json:"engaged"`
		Reason  string `json:"reason"`
	}
	if err := b.decodeInto(&req); err != nil {
		return nil, err
	}
	if req.Engaged == nil {
		return nil, &anomaly.Error{Code: anomaly.CodeMissingField, Field: "engaged", Index: -1, Message: "engaged is true or false"}
	}
	if len(req.Reason) > 1024 {
		return nil, &anomaly.Error{Code: anomaly.CodeLimit, Field: "reason", Index: -1, Message: "reason is at most 1024 bytes"}
	}
	return x.SetKillSwitch(*req.Engaged, req.Reason)
}
