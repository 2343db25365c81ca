package api

import "net/http"

// status handles GET /status: the service's own description of itself.
func (a *API) status(*http.Request) (any, error) {
	if a.deps.Status == nil {
		return nil, unavailable("the status page")
	}
	return a.deps.Status(), nil
}
