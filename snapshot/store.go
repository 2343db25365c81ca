package snapshot

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// DefaultKeep is the number of generations a Store keeps.
const DefaultKeep = 2

const (
	prefix     = "snapshot-"
	suffix     = ".snap"
	tmpPattern = ".snapshot-*.tmp"
	// CorruptSuffix is appended to the name of a generation set aside by
	// Quarantine.
	CorruptSuffix = ".corrupt"
)

// Generation is one committed snapshot file.
type Generation struct {
	Seq  uint64
	Path string
	Size int64
}

// Store is a directory of snapshot generations. Its methods are safe for
// concurrent use; one process at a time may use a directory.
type Store struct {
	dir  string
	keep int
	mu   sync.Mutex // serialises commits and pruning
}

// OpenStore creates dir if needed, removes temporary files left by an
// interrupted write, and returns the Store. keep is the number of
// generations kept after a commit (at least 1; 0 means DefaultKeep).
func OpenStore(dir string, keep int) (*Store, error) {
	if keep <= 0 {
		keep = DefaultKeep
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	stale, err := filepath.Glob(filepath.Join(dir, tmpPattern))
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	for _, p := range stale {
		if err := os.Remove(p); err != nil {
			return nil, fmt.Errorf("snapshot: remove stale temporary file: %w", err)
		}
	}
	return &Store{dir: dir, keep: keep}, nil
}

// Dir returns the store's directory.
func (s *Store) Dir() string { return s.dir }

// Generations lists the committed generations, newest first. Quarantined
// and temporary files are not listed.
func (s *Store) Generations() ([]Generation, error) { return List(s.dir) }

// List returns the committed generations in dir, newest first, without
// opening a Store: it reads the directory only (OpenStore removes the
// temporary files of interrupted writes, which must not happen to the
// directory of a running service).
func List(dir string) ([]Generation, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	var gs []Generation
	for _, e := range ents {
		seq, ok := parseName(e.Name())
		if !ok || !e.Type().IsRegular() {
			continue
		}
		g := Generation{Seq: seq, Path: filepath.Join(dir, e.Name())}
		if info, err := e.Info(); err == nil {
			g.Size = info.Size()
		}
		gs = append(gs, g)
	}
	slices.SortFunc(gs, func(a, b Generation) int {
		switch {
		case a.Seq > b.Seq:
			return -1
		case a.Seq < b.Seq:
			return 1
		}
		return 0
	})
	return gs, nil
}

func fileName(seq uint64) string { return fmt.Sprintf("%s%020d%s", prefix, seq, suffix) }

func parseName(name string) (uint64, bool) {
	if !strings.HasPrefix(name, prefix) || !strings.HasSuffix(name, suffix) {
		return 0, false
	}
	digits := name[len(prefix) : len(name)-len(suffix)]
	if len(digits) != 20 {
		return 0, false
	}
	seq, err := strconv.ParseUint(digits, 10, 64)
	return seq, err == nil
}

// Quarantine renames g so that it is no longer listed nor pruned (it stays
// for inspection). Use it for a generation found damaged.
func (s *Store) Quarantine(g Generation) error {
	if err := os.Rename(g.Path, g.Path+CorruptSuffix); err != nil {
		return fmt.Errorf("snapshot: quarantine: %w", err)
	}
	return syncDir(s.dir)
}

// Writer writes one generation. Add records, then Commit (or Abort). Not
// safe for concurrent use.
type Writer struct {
	s      *Store
	f      *os.File
	w      *bufio.Writer
	h      Header
	block  []byte
	count  uint32
	size   int64
	err    error
	closed bool
}

// Create starts a generation with header h; its Series and Blocks are
// filled in by the writer, and FormatVersion is set to FormatVersion.
func (s *Store) Create(h Header) (*Writer, error) {
	f, err := os.CreateTemp(s.dir, tmpPattern)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	h.FormatVersion, h.Series, h.Blocks = FormatVersion, 0, 0
	w := &Writer{s: s, f: f, w: bufio.NewWriterSize(f, 1<<20), h: h, block: make([]byte, 0, blockTarget+4096)}
	// The header goes in last (see the package doc); reserve its place.
	var zero [headerSize]byte
	w.write(zero[:])
	return w, w.err
}

func (w *Writer) write(b []byte) {
	if w.err != nil {
		return
	}
	n, err := w.w.Write(b)
	w.size += int64(n)
	if err != nil {
		w.err = fmt.Errorf("snapshot: write: %w", err)
	}
}

// Add appends one record. r is not retained.
func (w *Writer) Add(r *Record) error {
	if w.err != nil {
		return w.err
	}
	if len(r.Key) == 0 || len(r.Key) > MaxKeyBytes || len(r.Model) > MaxModelBytes || r.NeedPoints < 0 {
		return fmt.Errorf("snapshot: record for %.64q out of bounds", r.Key)
	}
	w.block = appendRecord(w.block, r)
	w.count++
	w.h.Series++
	if len(w.block) >= blockTarget {
		w.flushBlock()
	}
	return w.err
}

func (w *Writer) flushBlock() {
	if w.count == 0 {
		return
	}
	var hb [blockHead]byte
	binary.LittleEndian.PutUint32(hb[:], w.count)
	binary.LittleEndian.PutUint32(hb[4:], uint32(len(w.block)))
	crc := crc32.Update(crc32.Checksum(hb[:], castagnoli), castagnoli, w.block)
	w.write(hb[:])
	w.write(w.block)
	w.write(binary.LittleEndian.AppendUint32(nil, crc))
	w.block, w.count = w.block[:0], 0
	w.h.Blocks++
}

// Commit completes the file, makes it durable and visible as the newest
// generation, and deletes generations beyond the store's keep count. It
// returns the new generation. On error nothing is visible and the
// temporary file is removed.
func (w *Writer) Commit() (Generation, error) {
	if w.closed {
		return Generation{}, errors.New("snapshot: writer already closed")
	}
	w.flushBlock()
	w.write(encodeTrailer(w.h.Series, w.h.Blocks))
	if w.err == nil {
		if err := w.w.Flush(); err != nil {
			w.err = fmt.Errorf("snapshot: write: %w", err)
		}
	}
	if w.err == nil {
		if _, err := w.f.WriteAt(w.h.encode(), 0); err != nil {
			w.err = fmt.Errorf("snapshot: write header: %w", err)
		}
	}
	if w.err == nil {
		if err := w.f.Sync(); err != nil {
			w.err = fmt.Errorf("snapshot: sync: %w", err)
		}
	}
	if w.err != nil {
		w.Abort()
		return Generation{}, w.err
	}
	w.closed = true
	tmp := w.f.Name()
	if err := w.f.Close(); err != nil {
		os.Remove(tmp)
		return Generation{}, fmt.Errorf("snapshot: close: %w", err)
	}
	s := w.s
	s.mu.Lock()
	defer s.mu.Unlock()
	gs, err := s.Generations()
	if err != nil {
		os.Remove(tmp)
		return Generation{}, err
	}
	g := Generation{Seq: 1, Size: w.size}
	if len(gs) > 0 {
		g.Seq = gs[0].Seq + 1
	}
	g.Path = filepath.Join(s.dir, fileName(g.Seq))
	if err := os.Rename(tmp, g.Path); err != nil {
		os.Remove(tmp)
		return Generation{}, fmt.Errorf("snapshot: %w", err)
	}
	if err := syncDir(s.dir); err != nil {
		return g, err
	}
	gs = append([]Generation{g}, gs...)
	for _, old := range gs[min(s.keep, len(gs)):] {
		if err := os.Remove(old.Path); err != nil {
			return g, fmt.Errorf("snapshot: prune: %w", err)
		}
	}
	return g, nil
}

// Abort discards the generation being written.
func (w *Writer) Abort() {
	if w.closed {
		return
	}
	w.closed = true
	w.f.Close()
	os.Remove(w.f.Name())
}

// Series returns the records added so far.
func (w *Writer) Series() uint64 { return w.h.Series }

// syncDir makes a rename or removal in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("snapshot: sync dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("snapshot: sync dir: %w", err)
	}
	return nil
}

// SetLastAnomalyID sets the header's LastAnomalyID; call it before Commit
// with the highest id handed out by the end of the export.
func (w *Writer) SetLastAnomalyID(id uint64) { w.h.LastAnomalyID = id }
