package api

import (
	"context"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/anomalyd/detector/anomaly"
)

// Bounds keeps the user-set rules judged next to the learned baselines:
// static floors and ceilings, ratio-to-limit rules and per-series time
// zones (package bounds implements it). Implementations must be safe for
// concurrent use.
type Bounds interface {
	List() []anomaly.BoundRule
	Get(id string) (anomaly.BoundRule, error)
	Add(ctx context.Context, r anomaly.BoundRule) (anomaly.BoundRule, error)
	Delete(ctx context.Context, id string) error
}

// BoundList is the answer of GET /api/v1/bounds.
type BoundList struct {
	Rules []anomaly.BoundRule `json:"rules"`
}

var boundFields = []string{"match", "min", "max", "limit", "on", "ratio", "timezone"}

func (a *API) boundRoutes(r *mux.Router, v1 string) {
	r.Handle(v1+"/bounds", a.wrap(a.addBound)).Methods(http.MethodPost)
	r.Handle(v1+"/bounds", a.wrap(a.listBounds)).Methods(http.MethodGet)
	r.Handle(v1+"/bounds/{id}", a.wrap(a.getBound)).Methods(http.MethodGet)
	r.Handle(v1+"/bounds/{id}", a.wrap(a.deleteBound)).Methods(http.MethodDelete)
}

func (a *API) bounds() (Bounds, error) {
	if a.deps.Bounds == nil {
		return nil, unavailable("bound rules")
	}
	return a.deps.Bounds, nil
}

func (a *API) addBound(r *http.Request) (any, error) {
	bs, err := a.bounds()
	if err != nil {
		return nil, err
	}
	b, err := readBody(r, boundFields...)
	if err != nil {
		return nil, err
	}
	var rule anomaly.BoundRule
	if err := b.decodeInto(&rule); err != nil {
		return nil, err
	}
	stored, err := bs.Add(r.Context(), rule)
	if err != nil {
		return nil, err
	}
	return withStatus{status: http.StatusCreated, body: stored}, nil
}

func (a *API) listBounds(*http.Request) (any, error) {
	bs, err := a.bounds()
	if err != nil {
		return nil, err
	}
	rules := bs.List()
	if rules == nil {
		rules = []anomaly.BoundRule{}
	}
	return BoundList{Rules: rules}, nil
}

func (a *API) getBound(r *http.Request) (any, error) {
	bs, err := a.bounds()
	if err != nil {
		return nil, err
	}
	id, err := pathVar(r, "id")
	if err != nil {
		return nil, err
	}
	return bs.Get(id)
}

func (a *API) deleteBound(r *http.Request) (any, error) {
	bs, err := a.bounds()
	if err != nil {
		return nil, err
	}
	id, err := pathVar(r, "id")
	if err != nil {
		return nil, err
	}
	if err := bs.Delete(r.Context(), id); err != nil {
		return nil, err
	}
	return withStatus{status: http.StatusNoContent}, nil
}
