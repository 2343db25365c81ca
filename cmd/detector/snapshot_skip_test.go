package main

import (
	"bytes"
	"fmt"
	"io"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/anomalyd/detector/snapshot"
)

// TestRestoreSkipsABadRecord: a generation whose checksums hold but in
// which one record's model does not decode restores every other series:
// the bad record costs its series, not the file.
func TestRestoreSkipsABadRecord(t *testing.T) {
	dir := t.TempDir()
	m := snapMain(t, dir, io.Discard)
	feed(t, m, 4, 0, 600)
	want := details(t, m, 4)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	store, err := snapshot.OpenStore(filepath.Join(dir, snapshotDir), 0)
	if err != nil {
		t.Fatal(err)
	}
	gens, _ := store.Generations()
	rd, err := snapshot.Open(gens[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := store.Create(rd.Header())
	if err != nil {
		t.Fatal(err)
	}
	bad := fmt.Sprintf(`requests{app="api",instance="i-%d"}`, 2)
	if err := snapshot.ReadAll(rd, func(r *snapshot.Record) error {
		c := *r
		c.Model = append([]byte(nil), r.Model...)
		if string(r.Key) == bad {
			c.Model = c.Model[:len(c.Model)-1] // a model that cannot be decoded
		}
		return w.Add(&c)
	}); err != nil {
		t.Fatal(err)
	}
	rd.Close()
	if _, err := w.Commit(); err != nil {
		t.Fatal(err)
	}

	var log bytes.Buffer
	m = snapMain(t, dir, &log)
	defer m.Close()
	if n := m.engine.Stats().Series; n != 3 {
		t.Errorf("series restored = %d, want the 3 healthy ones\n%s", n, log.String())
	}
	got := details(t, m, 2)
	if !reflect.DeepEqual(got, want[:2]) {
		t.Errorf("healthy series after restore differ: %+v, want %+v", got[0].SeriesSummary, want[0].SeriesSummary)
	}
	if !strings.Contains(log.String(), "snapshot series skipped") || !strings.Contains(log.String(), "instance=\\\"i-2\\\"") {
		t.Errorf("log does not name the skipped series:\n%s", log.String())
	}
	if strings.Contains(log.String(), "unusable") {
		t.Errorf("the generation was rejected whole:\n%s", log.String())
	}
}
