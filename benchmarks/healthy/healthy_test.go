package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/anomalyd/detector/internal/synth"
	"github.com/anomalyd/detector/models"
)

// Figures of the small suite as last recorded (go run ./benchmarks/healthy
// -small); the test fails when the default model does worse by more than
// the slack, so a model change that makes healthy series noisier, or
// misses more incidents, is seen in CI. After an intended improvement,
// lower the bound.
const (
	smallFalseAlarms = 1.224 // per series-month
	smallRecall      = 0.87  // spikes, dips, shifts and stuck values
	slackFalseAlarms = 0.5
	slackRecall      = 0.05
)

func TestHealthySmall(t *testing.T) {
	rep := Run(models.DefaultConfig(), Small)
	var b bytes.Buffer
	rep.Markdown(&b)
	t.Log("\n" + b.String())
	if fa := rep.FalseAlarmRate(); fa > smallFalseAlarms+slackFalseAlarms {
		t.Errorf("false alarms per series-month %.3f, recorded %.3f", fa, smallFalseAlarms)
	}
	if r := rep.Recall(synth.IncidentDrop); r < smallRecall-slackRecall {
		t.Errorf("recall %.2f, recorded %.2f", r, smallRecall)
	}
	for _, i := range rep.Incidents {
		if i.Kind == synth.IncidentStuck && i.Found < i.Injected {
			t.Errorf("stuck values: found %d of %d", i.Found, i.Injected)
		}
	}
	if len(rep.Shapes) != len(synth.Shapes) || !strings.Contains(b.String(), "| trend |") {
		t.Errorf("report misses shapes:\n%s", b.String())
	}
}

// TestSuiteDeterministic: two runs give the same figures.
func TestSuiteDeterministic(t *testing.T) {
	o := Options{Seeds: 1, Days: 10, Learn: 3, Units: 10, Workers: 2}
	a, b := Run(models.DefaultConfig(), o), Run(models.DefaultConfig(), o)
	if a.FalseAlarmRate() != b.FalseAlarmRate() || a.Recall() != b.Recall() || a.Points != b.Points {
		t.Errorf("runs differ: %v/%v/%d vs %v/%v/%d", a.FalseAlarmRate(), a.Recall(), a.Points, b.FalseAlarmRate(), b.Recall(), b.Points)
	}
}
