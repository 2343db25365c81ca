package main

// Remediation wiring: the remediator, its flags and its subscription to the
// service's event log (cursor "remediate"); its decisions are appended to
// the same log.

import (
	"context"
	"flag"
	"fmt"
	"path/filepath"
	"time"

	"github.com/anomalyd/detector/api"
	"github.com/anomalyd/detector/netguard"
	"github.com/anomalyd/detector/peers"
	"github.com/anomalyd/detector/remediate"
)

// RemediateConfig configures automated remediation.
type RemediateConfig struct {
	// KillSwitch stops every action from the start; the API cannot
	// release it.
	KillSwitch bool
	// KillFile: while it exists, nothing is acted on. Default
	// <data-dir>/remediation.stop with a data directory.
	KillFile string
	// Commands is the configuration file of local commands rules may name.
	Commands string
	// CredentialsDir holds the credentials files rules may name.
	CredentialsDir string
	// MaxPerHour caps the actions of all rules in any hour (default 20;
	// -1: no cap).
	MaxPerHour int
	// RetryBackoff is the first pause between attempts of a failed action.
	RetryBackoff time.Duration
}

func bindRemediateFlags(fs *flag.FlagSet, c *RemediateConfig) {
	fs.BoolVar(&c.KillSwitch, "remediation-kill-switch", false, "stop every remediation action (decisions are recorded as suppressed)")
	fs.StringVar(&c.KillFile, "remediation-kill-file", "", "while this file exists, no remediation action runs (default <data-dir>/remediation.stop)")
	fs.StringVar(&c.Commands, "remediation-commands", "", "JSON file of the local commands remediation rules may run")
	fs.StringVar(&c.CredentialsDir, "remediation-credentials-dir", "", "directory of the credentials files remediation rules may name")
	fs.IntVar(&c.MaxPerHour, "remediation-max-per-hour", remediate.DefaultGlobalMaxPerHour, "remediation actions of all rules in any hour (-1: no cap)")
	fs.DurationVar(&c.RetryBackoff, "remediation-retry-backoff", remediate.DefaultRetryBackoff, "first pause before a failed remediation action is retried (doubled each time)")
}

// remediation is the running remediator and its subscription.
type remediation struct {
	x      *remediate.Remediator
	cancel context.CancelFunc
	done   chan struct{}
}

// peerGroups answers the remediator's group questions from the peer store's
// latest results.
type peerGroups struct{ s *peers.Groups }

func (p peerGroups) GroupOf(rule, series string) (remediate.Group, bool) {
	res, err := p.s.Results(rule, "")
	if err != nil {
		return remediate.Group{}, false
	}
	for _, g := range res {
		for _, mem := range g.Members {
			if mem.Series != series {
				continue
			}
			out := remediate.Group{PeerRule: rule, Key: g.Group, Members: len(g.Members)}
			for _, o := range g.Members {
				if o.Outlier {
					out.Outliers = append(out.Outliers, o.Series)
				}
			}
			return out, true
		}
	}
	return remediate.Group{}, false
}

// openRemediation builds the remediator (state in <data-dir>/remediation.db).
func (m *Main) openRemediation() error {
	c := m.cfg.Remediate
	allow, err := netguard.ParseAllowList(m.cfg.AllowDestinations)
	if err != nil {
		return fmt.Errorf("--allow-destination: %w", err)
	}
	opts := remediate.Options{
		Guard:            netguard.New(allow),
		Groups:           peerGroups{m.peers},
		CredentialsDir:   c.CredentialsDir,
		GlobalMaxPerHour: c.MaxPerHour,
		KillSwitch:       c.KillSwitch,
		KillFile:         c.KillFile,
		RetryBackoff:     c.RetryBackoff,
		Limits:           m.engine.Limits(),
		Logger:           m.log.With("component", "remediate"),
		Registerer:       m.reg,
		Events:           m.svc.Recorder().Record,
	}
	if d := m.cfg.Persist.DataDir; d != "" {
		opts.Path = filepath.Join(d, "remediation.db")
		if opts.KillFile == "" {
			opts.KillFile = filepath.Join(d, "remediation.stop")
		}
	}
	if c.Commands != "" {
		if opts.Commands, err = remediate.LoadCommands(c.Commands); err != nil {
			return fmt.Errorf("--remediation-commands: %w", err)
		}
	}
	x, err := remediate.New(opts)
	if err != nil {
		return err
	}
	m.remediation = &remediation{x: x}
	return nil
}

// remediations is the API's view of the remediator; nil when there is none.
func (m *Main) remediations() api.Remediations {
	if m.remediation == nil || m.remediation.x == nil {
		return nil
	}
	return m.remediation.x
}

// startRemediation subscribes the remediator to the event log.
func (m *Main) startRemediation() {
	r := m.remediation
	if r == nil || r.x == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan struct{})
	go func() {
		defer close(r.done)
		r.x.Run(ctx, m.hubLog.Log, m.hubLog.Cursors) // the cluster's events with Kafka (kafka.go)
	}()
}

// closeRemediation stops the subscription and the running actions and
// closes the state file.
func (m *Main) closeRemediation() error {
	r := m.remediation
	if r == nil || r.x == nil {
		return nil
	}
	if r.cancel != nil {
		r.cancel()
		<-r.done
		r.cancel = nil
	}
	err := r.x.Close()
	r.x = nil
	return err
}
