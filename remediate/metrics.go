package remediate

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	decisions  *prometheus.CounterVec
	kill       prometheus.Gauge
	pending    prometheus.Gauge
	saveErrors prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "detector_remediation_decisions_total",
			Help: "Remediation decisions by rule, outcome (executed, dry_run, pending, approved, suppressed, failed, retried, expired) and the cap that suppressed them.",
		}, []string{"rule", "outcome", "cap"}),
		kill: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "detector_remediation_kill_switch",
			Help: "1 while a remediation kill switch (API, flag or file) is engaged, as of the last decision or change.",
		}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "detector_remediation_pending",
			Help: "Remediation actions waiting for approval.",
		}),
		saveErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "detector_remediation_state_save_errors_total",
			Help: "Remediation state changes that could not be written to the state file.",
		}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.decisions, m.kill, m.pending, m.saveErrors} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

func (m *metrics) decision(rule, outcome, capName string) {
	m.decisions.WithLabelValues(rule, outcome, capName).Inc()
}

func (m *metrics) killSwitch(on bool) {
	if on {
		m.kill.Set(1)
	} else {
		m.kill.Set(0)
	}
}

func (m *metrics) pendingGauge(n int) { m.pending.Set(float64(n)) }
