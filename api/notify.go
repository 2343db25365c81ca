package api

import (
	"context"
	"net/http"
	"time"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/notify"
)

// Notifier serves webhook subscriptions, silences and change events, and
// annotates anomalies with their incident view. Implementations must be
// safe for concurrent use; errors are *anomaly.Error (CodeNotFound for an
// unknown id, CodeInvalidArgument or CodeMissingField for a bad body).
// *notify.Hub implements it.
type Notifier interface {
	AddWebhook(ctx context.Context, s notify.WebhookSpec) (notify.Webhook, error)
	Webhooks() []notify.Webhook
	Webhook(id string) (notify.Webhook, error)
	UpdateWebhook(ctx context.Context, id string, s notify.WebhookSpec) (notify.Webhook, error)
	DeleteWebhook(ctx context.Context, id string) error
	RotateSecret(ctx context.Context, id string, grace time.Duration) (notify.Webhook, error)
	TestWebhook(ctx context.Context, id string) (notify.Delivery, error)
	Deliveries(id string) ([]notify.Delivery, error)

	AddSilence(ctx context.Context, s notify.Silence) (notify.Silence, error)
	Silences() []notify.Silence
	DeleteSilence(ctx context.Context, id string) error

	AddEvent(ctx context.Context, e notify.ChangeEvent) (notify.ChangeEvent, error)
	Events(ctx context.Context, q notify.EventQuery) ([]notify.ChangeEvent, error)

	// Annotate fills in severity, incident key, silenced and possible
	// causes of an anomaly read from the timeline.
	Annotate(a *anomaly.Anomaly)
}

var (
	webhookFields = []string{"url", "events", "match", "min_score", "min_severity", "enabled"}
	silenceFields = []string{"matchers", "starts_at", "ends_at", "comment", "author", "skip_learning"}
	eventFields   = []string{"type", "labels", "desc", "fields", "at"}
	rotateFields  = []string{"grace_seconds"}
)

// WebhookList is the answer of GET /api/v1/webhooks.
type WebhookList struct {
	Webhooks []notify.Webhook `json:"webhooks"`
}

// DeliveryList is the answer of GET /api/v1/webhooks/{id}/deliveries.
type DeliveryList struct {
	Deliveries []notify.Delivery `json:"deliveries"`
}

// SilenceList is the answer of GET /api/v1/silences.
type SilenceList struct {
	Silences []notify.Silence `json:"silences"`
}

// EventList is the answer of GET /api/v1/events.
type EventList struct {
	Events []notify.ChangeEvent `json:"events"`
}

func (a *API) notifier() (Notifier, error) {
	if a.deps.Notify == nil {
		return nil, unavailable("notifications")
	}
	return a.deps.Notify, nil
}

// notifierFor is notifier plus the request's {id} path variable, for the
// routes that name one webhook, silence or incident.
func (a *API) notifierFor(r *http.Request) (Notifier, string, error) {
	n, err := a.notifier()
	if err != nil {
		return nil, "", err
	}
	id, err := pathVar(r, "id")
	if err != nil {
		return nil, "", err
	}
	return n, id, nil
}

// annotate adds the incident view to anomalies when notifications run.
func (a *API) annotate(as []anomaly.Anomaly) {
	if a.deps.Notify == nil {
		return
	}
	for i := range as {
		a.deps.Notify.Annotate(&as[i])
	}
}

func decodeSpec(r *http.Request) (notify.WebhookSpec, error) {
	var s notify.WebhookSpec
	b, err := readBody(r, webhookFields...)
	if err != nil {
		return s, err
	}
	return s, b.decodeInto(&s)
}

// addWebhook handles POST /api/v1/webhooks: 201 with the secret, shown once.
func (a *API) addWebhook(r *http.Request) (any, error) {
	n, err := a.notifier()
	if err != nil {
		return nil, err
	}
	s, err := decodeSpec(r)
	if err != nil {
		return nil, err
	}
	w, err := n.AddWebhook(r.Context(), s)
	if err != nil {
		return nil, err
	}
	return withStatus{status: http.StatusCreated, body: w}, nil
}

func (a *API) listWebhooks(*http.Request) (any, error) {
	n, err := a.notifier()
	if err != nil {
		return nil, err
	}
	ws := n.Webhooks()
	if ws == nil {
		ws = []notify.Webhook{}
	}
	return WebhookList{Webhooks: ws}, nil
}

func (a *API) getWebhook(r *http.Request) (any, error) {
	n, id, err := a.notifierFor(r)
	if err != nil {
		return nil, err
	}
	return n.Webhook(id)
}

func (a *API) patchWebhook(r *http.Request) (any, error) {
	n, id, err := a.notifierFor(r)
	if err != nil {
		return nil, err
	}
	s, err := decodeSpec(r)
	if err != nil {
		return nil, err
	}
	return n.UpdateWebhook(r.Context(), id, s)
}

func (a *API) deleteWebhook(r *http.Request) (any, error) {
	n, id, err := a.notifierFor(r)
	if err != nil {
		return nil, err
	}
	if err := n.DeleteWebhook(r.Context(), id); err != nil {
		return nil, err
	}
	return withStatus{status: http.StatusNoContent}, nil
}

func (a *API) testWebhook(r *http.Request) (any, error) {
	n, id, err := a.notifierFor(r)
	if err != nil {
		return nil, err
	}
	return n.TestWebhook(r.Context(), id)
}

func (a *API) rotateWebhook(r *http.Request) (any, error) {
	n, id, err := a.notifierFor(r)
	if err != nil {
		return nil, err
	}
	var grace time.Duration
	if r.ContentLength != 0 {
		b, err := readBody(r, rotateFields...)
		if err != nil {
			return nil, err
		}
		g, err := b.number("grace_seconds")
		if err != nil {
			return nil, err
		}
		if g != nil {
			if *g < 0 || *g > 30*24*3600 {
				return nil, &anomaly.Error{Code: anomaly.CodeInvalidArgument, Field: "grace_seconds", Index: -1,
					Message: "grace_seconds must be between 0 and 30 days"}
			}
			grace = time.Duration(*g * float64(time.Second))
		}
	}
	return n.RotateSecret(r.Context(), id, grace)
}

func (a *API) webhookDeliveries(r *http.Request) (any, error) {
	n, id, err := a.notifierFor(r)
	if err != nil {
		return nil, err
	}
	ds, err := n.Deliveries(id)
	if err != nil {
		return nil, err
	}
	return DeliveryList{Deliveries: ds}, nil
}

func (a *API) addSilence(r *http.Request) (any, error) {
	n, err := a.notifier()
	if err != nil {
		return nil, err
	}
	b, err := readBody(r, silenceFields...)
	if err != nil {
		return nil, err
	}
	var s notify.Silence
	if err := b.decodeInto(&s); err != nil {
		return nil, err
	}
	s, err = n.AddSilence(r.Context(), s)
	if err != nil {
		return nil, err
	}
	return withStatus{status: http.StatusCreated, body: s}, nil
}

func (a *API) listSilences(*http.Request) (any, error) {
	n, err := a.notifier()
	if err != nil {
		return nil, err
	}
	ss := n.Silences()
	if ss == nil {
		ss = []notify.Silence{}
	}
	return SilenceList{Silences: ss}, nil
}

func (a *API) deleteSilence(r *http.Request) (any, error) {
	n, id, err := a.notifierFor(r)
	if err != nil {
		return nil, err
	}
	if err := n.DeleteSilence(r.Context(), id); err != nil {
		return nil, err
	}
	return withStatus{status: http.StatusNoContent}, nil
}

func (a *API) addEvent(r *http.Request) (any, error) {
	n, err := a.notifier()
	if err != nil {
		return nil, err
	}
	b, err := readBody(r, eventFields...)
	if err != nil {
		return nil, err
	}
	var e notify.ChangeEvent
	if err := b.decodeInto(&e); err != nil {
		return nil, err
	}
	e, err = n.AddEvent(r.Context(), e)
	if err != nil {
		return nil, err
	}
	return withStatus{status: http.StatusCreated, body: e}, nil
}

func (a *API) listEvents(r *http.Request) (any, error) {
	n, err := a.notifier()
	if err != nil {
		return nil, err
	}
	q := notify.EventQuery{Match: r.URL.Query().Get("match"), Type: r.URL.Query().Get("type")}
	if q.Since, err = timeParam(r, "since"); err != nil {
		return nil, err
	}
	if q.Until, err = timeParam(r, "until"); err != nil {
		return nil, err
	}
	if q.Limit, err = a.limitParam(r); err != nil {
		return nil, err
	}
	evs, err := n.Events(r.Context(), q)
	if err != nil {
		return nil, err
	}
	return EventList{Events: evs}, nil
}
