package anomaly

// EventRemediation is the kind of the event a remediation decision appends
// to the event log. AnomalyID is the anomaly the decision answered; the
// timeline does not change that anomaly for it.
const EventRemediation EventKind = "remediation"

// Remediation describes one remediation decision on an event of kind
// EventRemediation.
type Remediation struct {
	Rule     string `json:"rule"`
	ActionID string `json:"action_id"`
	// Outcome is executed, dry_run, pending, approved, suppressed, failed,
	// retried or expired.
	Outcome string `json:"outcome"`
	// Cap names the safety limit that suppressed the action.
	Cap    string `json:"cap,omitempty"`
	DryRun bool   `json:"dry_run"`
}
