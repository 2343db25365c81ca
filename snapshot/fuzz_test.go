package snapshot

import (
	"bytes"
	"errors"
	"os"
	"testing"
	"time"
)

// FuzzDecode feeds arbitrary bytes to the reader: it must return records
// or an error wrapping ErrCorrupt or ErrVersion, never panic; what it
// accepts must be records the writer could have written, as many as the
// header says. Seeds are in testdata/fuzz/FuzzDecode (snapshots of 0, 1 and
// 3 records, and damaged ones).
func FuzzDecode(f *testing.F) {
	s, err := OpenStore(f.TempDir(), 0)
	if err != nil {
		f.Fatal(err)
	}
	for _, n := range []int{0, 2} {
		w, _ := s.Create(Header{ModelVersion: 4, Created: time.Unix(1, 0)})
		rs := records(n)
		for i := range rs {
			w.Add(&rs[i])
		}
		g, err := w.Commit()
		if err != nil {
			f.Fatal(err)
		}
		b, _ := os.ReadFile(g.Path)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		rd, err := NewReader(bytes.NewReader(b), int64(len(b)))
		if err == nil {
			n := uint64(0)
			err = ReadAll(rd, func(r *Record) error {
				n++
				if len(r.Key) == 0 || len(r.Key) > MaxKeyBytes || len(r.Model) > MaxModelBytes || r.NeedPoints < 0 {
					t.Fatalf("record %d accepted out of bounds: key %d bytes, model %d, need %d", n, len(r.Key), len(r.Model), r.NeedPoints)
				}
				return nil
			})
			if err == nil && n != rd.Header().Series {
				t.Fatalf("accepted %d records, header says %d", n, rd.Header().Series)
			}
		}
		if err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrVersion) {
			t.Fatalf("error %v wraps neither ErrCorrupt nor ErrVersion", err)
		}
	})
}
