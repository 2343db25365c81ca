package snapshot

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// records makes n distinct records; every tenth has an open anomaly.
func records(n int) []Record {
	rs := make([]Record, n)
	for i := range rs {
		model := bytes.Repeat([]byte{byte(i)}, 40+i%7)
		rs[i] = Record{
			Key:        []byte(fmt.Sprintf(`cpu{host="h%d"}`, i)),
			LastTs:     1767571200000 + int64(i)*1000,
			LastUpdate: int64(i) * 1e9,
			LastID:     uint64(i % 3),
			NeedPoints: int32(i % 5),
			Model:      model,
		}
		if i%10 == 0 {
			rs[i].AnomalyID = uint64(i + 1)
		}
	}
	if n > 0 {
		rs[0].LastTs = -1 << 63 // a series that learned nothing yet
	}
	return rs
}

func write(t *testing.T, s *Store, rs []Record, created time.Time) Generation {
	t.Helper()
	w, err := s.Create(Header{ModelVersion: 4, Created: created})
	if err != nil {
		t.Fatal(err)
	}
	for i := range rs {
		if err := w.Add(&rs[i]); err != nil {
			t.Fatal(err)
		}
	}
	w.SetLastAnomalyID(99)
	g, err := w.Commit()
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func readAll(t *testing.T, path string) (Header, []Record, error) {
	t.Helper()
	rd, err := Open(path)
	if err != nil {
		return Header{}, nil, err
	}
	defer rd.Close()
	var out []Record
	err = ReadAll(rd, func(r *Record) error {
		c := *r
		c.Key, c.Model = bytes.Clone(r.Key), bytes.Clone(r.Model)
		out = append(out, c)
		return nil
	})
	return rd.Header(), out, err
}

func equalRecords(a, b *Record) bool {
	return bytes.Equal(a.Key, b.Key) && bytes.Equal(a.Model, b.Model) && a.LastTs == b.LastTs &&
		a.LastUpdate == b.LastUpdate && a.AnomalyID == b.AnomalyID && a.LastID == b.LastID && a.NeedPoints == b.NeedPoints
}

func TestRoundTrip(t *testing.T) {
	created := time.Date(2026, 11, 22, 5, 0, 0, 123, time.UTC)
	// 40000 records of about 70 bytes span several 1 MiB blocks.
	for _, n := range []int{0, 1, 40000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			s, err := OpenStore(t.TempDir(), 0)
			if err != nil {
				t.Fatal(err)
			}
			rs := records(n)
			g := write(t, s, rs, created)
			h, got, err := readAll(t, g.Path)
			if err != nil {
				t.Fatalf("read back: %v", err)
			}
			want := Header{FormatVersion: FormatVersion, ModelVersion: 4, Created: created, Series: uint64(n), Blocks: h.Blocks, LastAnomalyID: 99}
			if h != want {
				t.Errorf("header = %+v, want %+v", h, want)
			}
			if n == 40000 && h.Blocks < 2 {
				t.Errorf("blocks = %d, want several", h.Blocks)
			}
			if len(got) != n {
				t.Fatalf("read %d records, want %d", len(got), n)
			}
			for i := range rs {
				if !equalRecords(&got[i], &rs[i]) {
					t.Fatalf("record %d = %+v, want %+v", i, got[i], rs[i])
				}
			}
			if info, err := os.Stat(g.Path); err != nil || info.Size() != g.Size {
				t.Errorf("file size = %v (%v), generation says %d", info.Size(), err, g.Size)
			}
		})
	}
}

func TestCorruptByteIsChecksumError(t *testing.T) {
	s, _ := OpenStore(t.TempDir(), 0)
	g := write(t, s, records(3000), time.Now())
	orig, _ := os.ReadFile(g.Path)
	// Flip one byte in the header, in a block's payload, in a block's
	// crc and in the trailer's counts.
	for _, off := range []int{30, headerSize + blockHead + 100, len(orig) - trailerSize - 1, len(orig) - 10} {
		b := bytes.Clone(orig)
		b[off] ^= 0x40
		_, err := Decode(b)
		if !errors.Is(err, ErrChecksum) {
			t.Errorf("byte %d of %d flipped: Decode error = %v, want ErrChecksum", off, len(b), err)
		}
	}
}

func TestTruncatedIsError(t *testing.T) {
	s, _ := OpenStore(t.TempDir(), 0)
	g := write(t, s, records(3000), time.Now())
	orig, _ := os.ReadFile(g.Path)
	for _, n := range []int{0, 10, headerSize, headerSize + 5, len(orig) / 2, len(orig) - trailerSize, len(orig) - 1} {
		_, err := Decode(orig[:n])
		if !errors.Is(err, ErrTruncated) {
			t.Errorf("first %d of %d bytes: Decode error = %v, want ErrTruncated", n, len(orig), err)
		}
	}
	if _, err := Decode(append(bytes.Clone(orig), 0)); !errors.Is(err, ErrCorrupt) {
		t.Errorf("a byte after the trailer: Decode error = %v, want ErrCorrupt", err)
	}
	if _, err := Decode(orig); err != nil {
		t.Errorf("Decode(intact) = %v", err)
	}
}

func TestVersionIsReported(t *testing.T) {
	s, _ := OpenStore(t.TempDir(), 0)
	g := write(t, s, records(1), time.Now())
	b, _ := os.ReadFile(g.Path)
	h := Header{FormatVersion: FormatVersion + 1, Created: time.Unix(0, 0)}
	copy(b, h.encode())
	if _, err := Decode(b); !errors.Is(err, ErrVersion) {
		t.Errorf("Decode(format %d) = %v, want ErrVersion", FormatVersion+1, err)
	}
}

func TestGenerationsKeepAndOrder(t *testing.T) {
	dir := t.TempDir()
	s, _ := OpenStore(dir, 2)
	var gs []Generation
	for i := range 4 {
		gs = append(gs, write(t, s, records(i+1), time.Now()))
	}
	list, err := s.Generations()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Seq != gs[3].Seq || list[1].Seq != gs[2].Seq {
		t.Fatalf("Generations = %+v, want seqs %d, %d", list, gs[3].Seq, gs[2].Seq)
	}
	if _, err := os.Stat(gs[1].Path); !os.IsNotExist(err) {
		t.Errorf("generation %d still exists (%v), want pruned", gs[1].Seq, err)
	}
	// Set the newest aside: it is no longer listed, and the next commit
	// continues the sequence from the remaining ones.
	if err := s.Quarantine(list[0]); err != nil {
		t.Fatal(err)
	}
	list, _ = s.Generations()
	if len(list) != 1 || list[0].Seq != gs[2].Seq {
		t.Fatalf("after quarantine: Generations = %+v, want only seq %d", list, gs[2].Seq)
	}
	if _, err := os.Stat(gs[3].Path + CorruptSuffix); err != nil {
		t.Errorf("quarantined file: %v", err)
	}
}

func TestAbortAndStaleTempFiles(t *testing.T) {
	dir := t.TempDir()
	s, _ := OpenStore(dir, 0)
	w, err := s.Create(Header{})
	if err != nil {
		t.Fatal(err)
	}
	rs := records(1)
	w.Add(&rs[0])
	w.Abort()
	// A write interrupted by a crash leaves its temporary file behind.
	stale := filepath.Join(dir, ".snapshot-123.tmp")
	os.WriteFile(stale, []byte("partial"), 0o644)
	if _, err := OpenStore(dir, 0); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 0 {
		t.Errorf("files left = %v, want none", ents)
	}
}

func TestAddRejectsBadRecord(t *testing.T) {
	s, _ := OpenStore(t.TempDir(), 0)
	w, _ := s.Create(Header{})
	defer w.Abort()
	for _, r := range []Record{{}, {Key: make([]byte, MaxKeyBytes+1)}, {Key: []byte("a"), NeedPoints: -1}} {
		if err := w.Add(&r); err == nil {
			t.Errorf("Add(key of %d bytes, need %d) = nil, want an error", len(r.Key), r.NeedPoints)
		}
	}
}

// Decode reads a whole in-memory snapshot, as the fuzz target does.
func Decode(b []byte) ([]Record, error) {
	rd, err := NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return nil, err
	}
	var out []Record
	err = ReadAll(rd, func(r *Record) error {
		c := *r
		c.Key, c.Model = bytes.Clone(r.Key), bytes.Clone(r.Model)
		out = append(out, c)
		return nil
	})
	return out, err
}
