package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/series"
)

// Event types a webhook can subscribe to.
const (
	TypeAnomalyOpened      = "anomaly.opened"
	TypeAnomalyUpdated     = "anomaly.updated"
	TypeAnomalyResolved    = "anomaly.resolved"
	TypePeerOutlierOpened  = "peer_outlier.opened"
	TypePeerOutlierUpdated = "peer_outlier.updated"
	TypePeerOutlierResolve = "peer_outlier.resolved"
	// TypeTest is the type of the event POST /webhooks/{id}/test sends.
	TypeTest = "webhook.test"
)

// EventTypes lists the types a subscription may name.
var EventTypes = []string{TypeAnomalyOpened, TypeAnomalyUpdated, TypeAnomalyResolved,
	TypePeerOutlierOpened, TypePeerOutlierUpdated, TypePeerOutlierResolve}

// typeOf returns the webhook event type of a log event.
func typeOf(ev anomaly.Event) string {
	prefix := "anomaly."
	if ev.AnomalyKind == anomaly.KindPeerOutlier {
		prefix = "peer_outlier."
	}
	return prefix + string(ev.Kind)
}

// Webhook is one subscription. Secret is set only in the answer that
// creates it or rotates its secret: it is never shown again.
type Webhook struct {
	ID  string `json:"id"`
	URL string `json:"url"`
	// Events are the event types sent; empty means all.
	Events []string `json:"events"`
	// Match is a series selector; "" selects every series.
	Match string `json:"match"`
	// MinScore and MinSeverity drop events of anomalies below them.
	MinScore       float64   `json:"min_score"`
	MinSeverity    string    `json:"min_severity"`
	Enabled        bool      `json:"enabled"`
	DisabledReason string    `json:"disabled_reason,omitempty"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
	// PreviousSecretExpiresAt is when the secret before the last rotation
	// stops signing deliveries.
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at,omitempty"`
	Secret                  string     `json:"secret,omitempty"`
}

// WebhookSpec creates or changes a subscription; nil fields keep their
// value (or default on create: all events, all series, enabled).
type WebhookSpec struct {
	URL         *string   `json:"url"`
	Events      *[]string `json:"events"`
	Match       *string   `json:"match"`
	MinScore    *float64  `json:"min_score"`
	MinSeverity *string   `json:"min_severity"`
	Enabled     *bool     `json:"enabled"`
}

// Delivery is one entry of an endpoint's delivery log: one event and the
// outcome of its attempts so far.
type Delivery struct {
	MessageID string     `json:"message_id"`
	Seq       uint64     `json:"seq"`
	Type      string     `json:"type"`
	AnomalyID anomaly.ID `json:"anomaly_id"`
	Status    string     `json:"status"` // delivered, retrying, failed, disabled
	Attempts  int        `json:"attempts"`
	LastCode  int        `json:"last_status_code,omitempty"`
	LastError string     `json:"last_error,omitempty"`
	LatencyMs float64    `json:"latency_ms"`
	FirstTry  time.Time  `json:"first_attempt_at"`
	LastTry   time.Time  `json:"last_attempt_at"`
}

type secretEntry struct {
	Secret    string     `json:"secret"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

type storedWebhook struct {
	Webhook Webhook       `json:"webhook"`
	Secrets []secretEntry `json:"secrets"`
	// Start is the log position the subscription began at, so that a
	// cursor lost by a crash right after subscribing does not replay the
	// whole log to the new receiver.
	Start uint64 `json:"start_seq,omitempty"`
}

// endpoint is a subscription and its delivery goroutine.
type endpoint struct {
	h  *Hub
	id string

	start uint64 // the log position the subscription began at

	mu         sync.Mutex
	w          Webhook
	secrets    []secretEntry
	ms         series.Matchers
	failRun    int
	deliveries []Delivery
	dirty      bool

	cancel context.CancelFunc
	done   chan struct{}
}

func (ep *endpoint) takeDirtyDeliveries() []byte {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	if !ep.dirty {
		return nil
	}
	ep.dirty = false
	b, _ := json.Marshal(ep.deliveries)
	return b
}

func cursorName(id string) string { return "webhook:" + id }

func (h *Hub) validateSpec(w *Webhook, s WebhookSpec) (series.Matchers, error) {
	if s.URL != nil {
		u, err := h.opt.Guard.CheckURL(*s.URL)
		if err != nil {
			return nil, invalid("url", "%v", err)
		}
		w.URL = u.String()
	}
	if w.URL == "" {
		return nil, anomaly.FieldError(anomaly.CodeMissingField, -1, "url", "a webhook needs a url")
	}
	if s.Events != nil {
		for _, t := range *s.Events {
			if !slices.Contains(EventTypes, t) {
				return nil, invalid("events", "unknown event type %q; known: %s", t, strings.Join(EventTypes, ", "))
			}
		}
		w.Events = slices.Clone(*s.Events)
	}
	if w.Events == nil {
		w.Events = []string{}
	}
	if s.Match != nil {
		w.Match = *s.Match
	}
	ms, err := series.ParseMatchers(w.Match)
	if err != nil {
		return nil, err
	}
	if s.MinScore != nil {
		if *s.MinScore < 0 || *s.MinScore > 1 {
			return nil, invalid("min_score", "min_score must be in [0, 1]")
		}
		w.MinScore = *s.MinScore
	}
	if s.MinSeverity != nil {
		if !ValidSeverity(*s.MinSeverity) {
			return nil, invalid("min_severity", "min_severity must be info, warning or critical")
		}
		w.MinSeverity = *s.MinSeverity
	}
	if s.Enabled != nil {
		w.Enabled = *s.Enabled
		if w.Enabled {
			w.DisabledReason = ""
		}
	}
	return ms, nil
}

// MaxWebhooks is the most webhook subscriptions: each reads the event
// log on its own and is sent every event it selects.
const MaxWebhooks = 1000

// AddWebhook creates a subscription and returns it with its secret, the
// only time the secret is shown. It starts at the end of the event log:
// it receives the events that happen from now on.
func (h *Hub) AddWebhook(_ context.Context, s WebhookSpec) (Webhook, error) {
	now := h.opt.Now().UTC()
	w := Webhook{ID: newID("wh_"), Enabled: true, CreatedAt: now, UpdatedAt: now}
	ms, err := h.validateSpec(&w, s)
	if err != nil {
		return Webhook{}, err
	}
	start := h.opt.Log.Last()
	if err := h.opt.Cursors.Save(cursorName(w.ID), start); err != nil {
		return Webhook{}, err
	}
	ep := &endpoint{h: h, id: w.ID, w: w, ms: ms, secrets: []secretEntry{{Secret: NewSecret()}}, start: start}
	h.mu.Lock()
	n := len(h.webhooks)
	h.mu.Unlock()
	if n >= MaxWebhooks {
		return Webhook{}, invalid("url", "%d webhooks are subscribed, the most there can be: delete one first", n)
	}
	if err := h.saveEndpoint(ep); err != nil {
		return Webhook{}, err
	}
	h.mu.Lock()
	h.webhooks[w.ID] = ep
	h.startEndpointLocked(ep)
	h.mu.Unlock()
	out := w
	out.Secret = ep.secrets[0].Secret
	return out, nil
}

func (h *Hub) saveEndpoint(ep *endpoint) error {
	ep.mu.Lock()
	b, _ := json.Marshal(storedWebhook{Webhook: ep.w, Secrets: ep.secrets, Start: ep.start})
	ep.mu.Unlock()
	return h.kv.put(bucketWebhooks, map[string][]byte{ep.id: b})
}

func (h *Hub) restoreWebhooks() error {
	err := h.kv.each(bucketWebhooks, func(k string, v []byte) error {
		var sw storedWebhook
		if err := json.Unmarshal(v, &sw); err != nil {
			return err
		}
		ms, err := series.ParseMatchers(sw.Webhook.Match)
		if err != nil {
			return err
		}
		h.webhooks[k] = &endpoint{h: h, id: k, w: sw.Webhook, secrets: sw.Secrets, ms: ms, start: sw.Start}
		return nil
	})
	if err != nil {
		return err
	}
	return h.kv.each(bucketDeliveries, func(k string, v []byte) error {
		if ep := h.webhooks[k]; ep != nil {
			return json.Unmarshal(v, &ep.deliveries)
		}
		return nil
	})
}

func (h *Hub) endpoint(id string) (*endpoint, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ep := h.webhooks[id]
	if ep == nil {
		return nil, anomaly.Errorf(anomaly.CodeNotFound, "no webhook %q", id)
	}
	return ep, nil
}

func (ep *endpoint) view() Webhook {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	w := ep.w
	w.Events = slices.Clone(w.Events)
	return w
}

// Webhooks lists the subscriptions, oldest first, without secrets.
func (h *Hub) Webhooks() []Webhook {
	h.mu.Lock()
	eps := make([]*endpoint, 0, len(h.webhooks))
	for _, ep := range h.webhooks {
		eps = append(eps, ep)
	}
	h.mu.Unlock()
	out := make([]Webhook, len(eps))
	for i, ep := range eps {
		out[i] = ep.view()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out
}

// Webhook returns one subscription.
func (h *Hub) Webhook(id string) (Webhook, error) {
	ep, err := h.endpoint(id)
	if err != nil {
		return Webhook{}, err
	}
	return ep.view(), nil
}

// UpdateWebhook changes a subscription. Enabling a disabled one resumes
// delivery from where it stopped.
func (h *Hub) UpdateWebhook(_ context.Context, id string, s WebhookSpec) (Webhook, error) {
	ep, err := h.endpoint(id)
	if err != nil {
		return Webhook{}, err
	}
	h.stopEndpoint(ep)
	ep.mu.Lock()
	w := ep.w
	ms, err := h.validateSpec(&w, s)
	if err == nil {
		w.UpdatedAt = h.opt.Now().UTC()
		ep.w, ep.ms = w, ms
		if w.Enabled {
			ep.failRun = 0
		}
	}
	ep.mu.Unlock()
	if err == nil {
		err = h.saveEndpoint(ep)
	}
	h.mu.Lock()
	h.startEndpointLocked(ep)
	h.mu.Unlock()
	if err != nil {
		return Webhook{}, err
	}
	return ep.view(), nil
}

// DeleteWebhook removes a subscription and stops its deliveries.
func (h *Hub) DeleteWebhook(_ context.Context, id string) error {
	ep, err := h.endpoint(id)
	if err != nil {
		return err
	}
	h.stopEndpoint(ep)
	h.mu.Lock()
	delete(h.webhooks, id)
	h.mu.Unlock()
	h.m.delivered.DeleteLabelValues(id)
	h.m.failed.DeleteLabelValues(id)
	h.m.retries.DeleteLabelValues(id)
	h.m.lag.DeleteLabelValues(id)
	if err := h.kv.put(bucketWebhooks, map[string][]byte{id: nil}); err != nil {
		return err
	}
	return h.kv.put(bucketDeliveries, map[string][]byte{id: nil})
}

// RotateSecret gives the subscription a new secret, returned once. The
// old one keeps signing (beside the new) for grace (default 24h).
func (h *Hub) RotateSecret(_ context.Context, id string, grace time.Duration) (Webhook, error) {
	ep, err := h.endpoint(id)
	if err != nil {
		return Webhook{}, err
	}
	if grace <= 0 {
		grace = 24 * time.Hour
	}
	now := h.opt.Now().UTC()
	exp := now.Add(grace)
	ep.mu.Lock()
	keep := []secretEntry{{Secret: NewSecret()}}
	for _, s := range ep.secrets {
		if s.ExpiresAt == nil {
			keep = append(keep, secretEntry{Secret: s.Secret, ExpiresAt: &exp})
		} else if s.ExpiresAt.After(now) {
			keep = append(keep, s)
		}
	}
	ep.secrets = keep
	ep.w.PreviousSecretExpiresAt = &exp
	ep.w.UpdatedAt = now
	ep.mu.Unlock()
	if err := h.saveEndpoint(ep); err != nil {
		return Webhook{}, err
	}
	out := ep.view()
	out.Secret = keep[0].Secret
	return out, nil
}

// Deliveries returns the delivery log of a subscription, newest first.
func (h *Hub) Deliveries(id string) ([]Delivery, error) {
	ep, err := h.endpoint(id)
	if err != nil {
		return nil, err
	}
	ep.mu.Lock()
	out := slices.Clone(ep.deliveries)
	ep.mu.Unlock()
	slices.Reverse(out)
	if out == nil {
		out = []Delivery{}
	}
	return out, nil
}

// TestWebhook sends one test event to the subscription now, once, and
// returns the outcome.
func (h *Hub) TestWebhook(ctx context.Context, id string) (Delivery, error) {
	ep, err := h.endpoint(id)
	if err != nil {
		return Delivery{}, err
	}
	now := h.opt.Now().UTC()
	msg := Message{Type: TypeTest, Timestamp: now, Data: map[string]string{"webhook_id": id, "message": "test event"}}
	body, _ := json.Marshal(msg)
	mid := newID("msg_test_")
	d := Delivery{MessageID: mid, Type: TypeTest, FirstTry: now, Attempts: 1}
	res := ep.post(ctx, mid, body)
	d.LastTry, d.LastCode, d.LatencyMs = h.opt.Now().UTC(), res.code, float64(res.latency.Microseconds())/1000
	if res.err != nil {
		d.Status, d.LastError = "failed", res.err.Error()
	} else if res.code/100 != 2 {
		d.Status, d.LastError = "failed", fmt.Sprintf("answered %d", res.code)
	} else {
		d.Status = "delivered"
	}
	ep.record(d)
	return d, nil
}

// record adds or replaces (same message id) an entry of the delivery log.
func (ep *endpoint) record(d Delivery) {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	ep.dirty = true
	for i := len(ep.deliveries) - 1; i >= 0; i-- {
		if ep.deliveries[i].MessageID == d.MessageID {
			ep.deliveries[i] = d
			return
		}
	}
	ep.deliveries = append(ep.deliveries, d)
	if n := len(ep.deliveries) - ep.h.opt.DeliveryLog; n > 0 {
		ep.deliveries = append(ep.deliveries[:0], ep.deliveries[n:]...)
	}
}
