package bounds

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/series"
)

// engine records the rules it is given; fail makes SetRules refuse.
type engine struct {
	mu    sync.Mutex
	rules []anomaly.BoundRule
	fail  error
}

func (e *engine) SetRules(r []anomaly.BoundRule) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.fail != nil {
		return e.fail
	}
	e.rules = r
	return nil
}

func fp(v float64) *float64 { return &v }

// TestStorePersists: rules added and deleted reach the engine, survive a
// reopen of the data directory in order and with their ids, and ids are
// not reused.
func TestStorePersists(t *testing.T) {
	dir := t.TempDir()
	eng := &engine{}
	s, err := Open(dir, eng)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a, err := s.Add(ctx, anomaly.BoundRule{Match: `disk_used`, Max: fp(90)})
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Add(ctx, anomaly.BoundRule{Match: `conn_used`, Limit: `conn_max`, On: []string{"pool"}})
	if err != nil {
		t.Fatal(err)
	}
	if b.Ratio != series.DefaultRatio || a.ID == b.ID || a.ID == "" {
		t.Fatalf("rules %+v %+v: want distinct ids and the default ratio", a, b)
	}
	c, err := s.Add(ctx, anomaly.BoundRule{Match: `{site="nyc"}`, Timezone: "America/New_York"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if len(eng.rules) != 2 || eng.rules[0].ID != b.ID || eng.rules[1].ID != c.ID {
		t.Fatalf("engine rules %+v, want %s then %s", eng.rules, b.ID, c.ID)
	}
	if err := s.Delete(ctx, a.ID); anomaly.ErrorCode(err) != anomaly.CodeNotFound {
		t.Fatalf("second delete: %v, want not_found", err)
	}
	if _, err := s.Get(c.ID); err != nil {
		t.Fatal(err)
	}

	eng2 := &engine{}
	s2, err := Open(dir, eng2)
	if err != nil {
		t.Fatal(err)
	}
	got := s2.List()
	if len(got) != 2 || got[0].ID != b.ID || got[1].Timezone != "America/New_York" || len(eng2.rules) != 2 {
		t.Fatalf("after reopen %+v (engine %+v)", got, eng2.rules)
	}
	d, err := s2.Add(ctx, anomaly.BoundRule{Match: `x`, Min: fp(0)})
	if err != nil {
		t.Fatal(err)
	}
	if d.ID == a.ID || d.ID == b.ID || d.ID == c.ID {
		t.Fatalf("id %s reused", d.ID)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("data dir holds %v, want only %s", entries, FileName)
	}
}

// TestStoreRefuses: a bad rule and an engine refusal leave the rules and
// the file as they were; a file with a wrong checksum is refused at open.
func TestStoreRefuses(t *testing.T) {
	dir := t.TempDir()
	eng := &engine{}
	s, err := Open(dir, eng)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := s.Add(ctx, anomaly.BoundRule{Match: `x`, Max: fp(1)}); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(dir, FileName))
	if _, err := s.Add(ctx, anomaly.BoundRule{Match: `x`, Min: fp(3), Max: fp(1)}); anomaly.ErrorCode(err) != anomaly.CodeInvalidArgument {
		t.Fatalf("min above max: %v", err)
	}
	eng.fail = anomaly.Errorf(anomaly.CodeInvalidArgument, "refused")
	if _, err := s.Add(ctx, anomaly.BoundRule{Match: `y`, Max: fp(1)}); err == nil {
		t.Fatal("engine refusal not reported")
	}
	eng.fail = nil
	after, _ := os.ReadFile(filepath.Join(dir, FileName))
	if string(before) != string(after) || len(s.List()) != 1 {
		t.Fatalf("file or rules changed by refused adds: %d rules", len(s.List()))
	}
	// a hand edit breaks the checksum
	edited := strings.Replace(string(after), `\"max\":1`, `\"max\":2`, 1)
	edited = strings.Replace(edited, `"max":1`, `"max":2`, 1)
	if edited == string(after) {
		t.Fatalf("test could not edit the file: %s", after)
	}
	if err := os.WriteFile(filepath.Join(dir, FileName), []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, &engine{}); err == nil || !strings.Contains(err.Error(), "checksum") {
		t.Fatalf("edited file opened: %v", err)
	}
	// and a file the engine refuses is an error too
	os.WriteFile(filepath.Join(dir, FileName), before, 0o600)
	if _, err := Open(dir, &engine{fail: errors.New("no")}); err == nil {
		t.Fatal("rules the engine refuses were opened")
	}
}

// TestStoreInMemory: without a data dir the store works and writes nothing.
func TestStoreInMemory(t *testing.T) {
	eng := &engine{}
	s, err := Open("", eng)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Add(context.Background(), anomaly.BoundRule{Match: `x`, Max: fp(1)}); err != nil || len(eng.rules) != 1 {
		t.Fatalf("add in memory: %v, engine %+v", err, eng.rules)
	}
}
