package notify

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	delivered, failed, retries *prometheus.CounterVec
	lag                        *prometheus.GaugeVec
	disabled                   prometheus.Counter
	silenced                   prometheus.Counter
	flapsMerged                prometheus.Counter
	changeEvents               prometheus.Counter
	amPosts                    *prometheus.CounterVec
	amLag, amAlerts            *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "detector_webhook_delivered_total",
			Help: "Events delivered to a webhook endpoint (2xx answer)."}, []string{"webhook"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "detector_webhook_failed_total",
			Help: "Events given up on a webhook endpoint after the maximum age."}, []string{"webhook"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "detector_webhook_retries_total",
			Help: "Delivery attempts to a webhook endpoint that failed and were retried."}, []string{"webhook"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "detector_webhook_lag_events",
			Help: "Events in the event log a webhook endpoint has not handled yet."}, []string{"webhook"}),
		disabled: prometheus.NewCounter(prometheus.CounterOpts{Name: "detector_webhook_disabled_total",
			Help: "Webhook endpoints disabled by a 410 answer or a run of failures."}),
		silenced: prometheus.NewCounter(prometheus.CounterOpts{Name: "detector_notify_silenced_total",
			Help: "Notifications not sent because a silence covered them."}),
		flapsMerged: prometheus.NewCounter(prometheus.CounterOpts{Name: "detector_incident_flaps_merged_total",
			Help: "Anomalies that reopened within the hold-down and joined the previous incident."}),
		changeEvents: prometheus.NewCounter(prometheus.CounterOpts{Name: "detector_change_events_total",
			Help: "Change events posted."}),
		amPosts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "detector_alertmanager_posts_total",
			Help: "Posts of alerts to an Alertmanager, by result."}, []string{"alertmanager", "result"}),
		amLag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "detector_alertmanager_lag_events",
			Help: "Events in the event log an Alertmanager sender has not handled yet."}, []string{"alertmanager"}),
		amAlerts: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "detector_alertmanager_alerts",
			Help: "Alerts an Alertmanager sender keeps posting (open, or resolved within the hold-down)."}, []string{"alertmanager"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.delivered, m.failed, m.retries, m.lag, m.disabled, m.silenced,
		m.flapsMerged, m.changeEvents, m.amPosts, m.amLag, m.amAlerts} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, err
			}
		}
	}
	return m, nil
}
