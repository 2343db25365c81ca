package notify

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/eventlog"
)

// remediationEvent is what the remediator appends to the log for a
// decision on anomaly id: its verdict carries the score and no value.
func remediationEvent(id anomaly.ID, s string, at time.Time) anomaly.Event {
	return anomaly.Event{Kind: anomaly.EventRemediation, AnomalyID: id, AnomalyKind: anomaly.KindPoint, Series: s, At: at,
		Verdict:     anomaly.Verdict{Series: s, Timestamp: at, Score: 1, Detector: "remediate:restart", AnomalyID: id},
		Remediation: &anomaly.Remediation{Rule: "restart", ActionID: "1", Outcome: "dry_run", DryRun: true}}
}

// A remediation decision in the log is not a notification: a webhook
// subscribed to every event gets opened and resolved only, and the
// anomaly's peak stays the anomalous point's verdict.
func TestRemediationEventsAreNotNotified(t *testing.T) {
	log, cur := eventlog.NewMemory(0, 0), eventlog.NewMemoryCursors()
	h := newHub(t, fastOptions(log, cur))
	r := newReceiver(t, nil)
	w := addWebhook(t, h, r.srv.URL+"/hook", WebhookSpec{})
	r.setSecret(w.Secret)
	s := `cpu{host="h1"}`
	feed(h, log, event(anomaly.EventOpened, 1, s, t0, 0.99),
		remediationEvent(1, s, t0.Add(time.Second)),
		event(anomaly.EventResolved, 1, s, t0.Add(time.Minute), 0.1),
		remediationEvent(1, s, t0.Add(2*time.Minute)))
	h.Start()
	eventually(t, "opened and resolved", func() bool { return len(r.received()) >= 2 })
	// Give a wrongly delivered remediation event the time to arrive.
	feed(h, log, event(anomaly.EventOpened, 2, s, t0.Add(time.Hour), 0.99))
	eventually(t, "the next anomaly", func() bool { return len(r.received()) >= 3 })
	var types []string
	for _, g := range r.received() {
		types = append(types, g.Type)
	}
	if want := []string{TypeAnomalyOpened, TypeAnomalyResolved, TypeAnomalyOpened}; !slices.Equal(types, want) {
		t.Fatalf("delivered %v, want %v", types, want)
	}
	for _, g := range r.received()[:2] {
		if p := g.Payload.Anomaly.Peak; p.Value != 100 || p.Detector != "robust_z" {
			t.Errorf("%s: peak %+v, want the anomalous point's verdict", g.Type, p)
		}
	}
}

// In Alertmanager a remediation decision neither changes the open alert
// (its detector label and annotations stay the anomaly's) nor brings a
// resolved alert back.
func TestAlertmanagerIgnoresRemediationEvents(t *testing.T) {
	am := startAlertmanager(t)
	o := amOptions(am)
	h := newHub(t, o)
	h.Start()
	now := time.Now().UTC()
	s := `http_latency{svc="api",region="eu"}`
	feed(h, o.Log, event(anomaly.EventOpened, 1, s, now, 0.99999), remediationEvent(1, s, now.Add(time.Second)))
	eventually(t, "the alert in Alertmanager", func() bool { return len(am.alerts()) == 1 })
	// The sender has handled both events once the alert is re-sent.
	time.Sleep(3 * o.ResendInterval)
	if as := am.alerts(); len(as) != 1 || as[0].Labels["detector"] != "robust_z" || as[0].Annotations["value"] != "100" {
		t.Fatalf("alerts %+v: want one, detector robust_z, value 100", as)
	}
	feed(h, o.Log, event(anomaly.EventResolved, 1, s, now.Add(2*time.Second), 0.1))
	eventually(t, "the alert resolved", func() bool { return len(am.alerts()) == 0 })
	other := `http_latency{svc="web",region="eu"}`
	feed(h, o.Log, remediationEvent(1, s, now.Add(3*time.Second)), event(anomaly.EventOpened, 2, other, now.Add(4*time.Second), 0.99999))
	eventually(t, "the other alert", func() bool { return len(am.alerts()) == 1 })
	if a := am.alerts()[0]; a.Labels["svc"] != "web" {
		t.Fatalf("active alert %v: the resolved one came back", a.Labels)
	}
}

// Subscriptions and silences are bounded: each webhook reads the log on
// its own, and every event is checked against every current silence.
func TestWebhookAndSilenceCounts(t *testing.T) {
	log, cur := eventlog.NewMemory(0, 0), eventlog.NewMemoryCursors()
	h := newHub(t, fastOptions(log, cur))
	ctx := context.Background()
	for i := range MaxWebhooks {
		addWebhook(t, h, fmt.Sprintf("http://127.0.0.1:9/h%d", i), WebhookSpec{Enabled: ptr(false)})
	}
	u := "http://127.0.0.1:9/one-more"
	if _, err := h.AddWebhook(ctx, WebhookSpec{URL: &u}); err == nil {
		t.Fatalf("webhook %d accepted", MaxWebhooks+1)
	}
	now := time.Now()
	for i := range MaxSilences {
		if _, err := h.AddSilence(ctx, Silence{Matchers: fmt.Sprintf(`{host="h%d"}`, i), EndsAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.AddSilence(ctx, Silence{Matchers: `{host="x"}`, EndsAt: now.Add(time.Hour)}); err == nil {
		t.Fatalf("silence %d accepted", MaxSilences+1)
	}
}

// A crash right after subscribing can lose the new cursor (the log saves
// cursors a moment later); after the restart the receiver gets the events
// from its subscription on, not the whole log.
func TestNewWebhookLostCursorDoesNotReplayTheLog(t *testing.T) {
	log := eventlog.NewMemory(0, 0)
	o := fastOptions(log, eventlog.NewMemoryCursors())
	o.DataDir = t.TempDir()
	s := `cpu{host="h1"}`
	for i := range 5 {
		log.Append(event(anomaly.EventOpened, anomaly.ID(i+1), s, t0.Add(time.Duration(i)*time.Minute), 0.99))
	}
	h := newHub(t, o)
	r := newReceiver(t, nil)
	w := addWebhook(t, h, r.srv.URL+"/hook", WebhookSpec{})
	r.setSecret(w.Secret)
	h.Close()
	// The restart: notify.db kept the subscription, the cursor is gone.
	o.Cursors, o.Registerer = eventlog.NewMemoryCursors(), nil
	h2 := newHub(t, o)
	h2.Start()
	feed(h2, log, event(anomaly.EventOpened, 6, s, t0.Add(time.Hour), 0.99))
	eventually(t, "the new event", func() bool { return len(r.received()) >= 1 })
	if got := r.received(); len(got) != 1 || got[0].Payload.Anomaly.ID != 6 {
		t.Fatalf("received %d events (first anomaly %v), want only anomaly 6", len(got), got[0].Payload.Anomaly.ID)
	}
}
