package snapshot

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"time"
)

// FormatVersion is the version of the file layout this package writes and
// reads.
const FormatVersion = 1

// Size limits. A reader rejects larger values as corrupt before it
// allocates anything for them.
const (
	// MaxBlockBytes bounds a block's payload.
	MaxBlockBytes = 64 << 20
	// MaxKeyBytes bounds a record's key.
	MaxKeyBytes = 1 << 16
	// MaxModelBytes bounds a record's model encoding.
	MaxModelBytes = 1 << 20
	// blockTarget is the payload size at which the writer closes a block.
	blockTarget = 1 << 20
)

const (
	headerSize  = 48
	trailerSize = 24
	blockHead   = 8
	minRecord   = 8 // the smallest record: one-byte key, empty model
	magic       = "ANOMSNAP"
	endMagic    = "SNAPEND\n"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Errors. Every decoding error wraps ErrCorrupt or ErrVersion; ErrChecksum
// and ErrTruncated wrap ErrCorrupt.
var (
	ErrCorrupt   = errors.New("snapshot: corrupt")
	ErrChecksum  = fmt.Errorf("%w: checksum mismatch", ErrCorrupt)
	ErrTruncated = fmt.Errorf("%w: truncated", ErrCorrupt)
	ErrVersion   = errors.New("snapshot: unsupported format version")
	// ErrNewerFormat wraps ErrVersion for a file of a newer release's
	// layout: not damaged, only unreadable by this build.
	ErrNewerFormat = fmt.Errorf("%w, written by a newer release", ErrVersion)
)

// Header describes a snapshot file.
type Header struct {
	// FormatVersion is the layout version (FormatVersion when written).
	FormatVersion uint16
	// ModelVersion is the model encoding version of every record's Model.
	ModelVersion uint8
	// Created is when the snapshot began (the state is that of the engine
	// from this moment until the end of the write, shard chunk by chunk).
	Created time.Time
	// Series is the number of records.
	Series uint64
	// Blocks is the number of blocks.
	Blocks uint32
	// LastAnomalyID is the highest anomaly id the engine had handed out.
	LastAnomalyID uint64
}

func (h *Header) encode() []byte {
	b := make([]byte, 0, headerSize)
	b = append(b, magic...)
	b = binary.LittleEndian.AppendUint16(b, h.FormatVersion)
	b = append(b, h.ModelVersion, 0)
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = binary.LittleEndian.AppendUint64(b, uint64(h.Created.UnixNano()))
	b = binary.LittleEndian.AppendUint64(b, h.Series)
	b = binary.LittleEndian.AppendUint32(b, h.Blocks)
	b = binary.LittleEndian.AppendUint64(b, h.LastAnomalyID)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

func decodeHeader(b []byte) (Header, error) {
	if string(b[:8]) != magic {
		return Header{}, fmt.Errorf("%w: not a snapshot (bad magic %q)", ErrCorrupt, b[:8])
	}
	if got, want := binary.LittleEndian.Uint32(b[44:]), crc32.Checksum(b[:44], castagnoli); got != want {
		return Header{}, fmt.Errorf("%w: header crc %08x, computed %08x", ErrChecksum, got, want)
	}
	h := Header{
		FormatVersion: binary.LittleEndian.Uint16(b[8:]),
		ModelVersion:  b[10],
		Created:       time.Unix(0, int64(binary.LittleEndian.Uint64(b[16:]))).UTC(),
		Series:        binary.LittleEndian.Uint64(b[24:]),
		Blocks:        binary.LittleEndian.Uint32(b[32:]),
		LastAnomalyID: binary.LittleEndian.Uint64(b[36:]),
	}
	if h.FormatVersion > FormatVersion {
		return Header{}, fmt.Errorf("%w: %d, this build reads up to %d", ErrNewerFormat, h.FormatVersion, FormatVersion)
	}
	if h.FormatVersion != FormatVersion {
		// Older layouts are read here, each by its own branch, when there
		// are any.
		return Header{}, fmt.Errorf("%w: %d, this build reads %d", ErrVersion, h.FormatVersion, FormatVersion)
	}
	if b[11] != 0 || binary.LittleEndian.Uint32(b[12:]) != 0 {
		return Header{}, fmt.Errorf("%w: reserved header bytes are not zero", ErrCorrupt)
	}
	return h, nil
}

func encodeTrailer(series uint64, blocks uint32) []byte {
	b := make([]byte, 0, trailerSize)
	b = append(b, endMagic...)
	b = binary.LittleEndian.AppendUint64(b, series)
	b = binary.LittleEndian.AppendUint32(b, blocks)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// Record is one series in a snapshot. A Record returned by Reader.Next
// aliases the reader's buffer: Key and Model are valid until the next call.
type Record struct {
	// Key is the series' canonical key.
	Key []byte
	// LastTs is the last learned timestamp, Unix ms.
	LastTs int64
	// LastUpdate is the engine clock of the last accepted point, Unix ns.
	LastUpdate int64
	// AnomalyID is the open anomaly, 0 when none.
	AnomalyID uint64
	// LastID is the anomaly id on the verdict of the last learned point.
	LastID uint64
	// NeedPoints is the points the model still needed at the last verdict.
	NeedPoints int32
	// Model is the model's encoding (models.Model.AppendBinary).
	Model []byte
}

// appendRecord appends r's encoding to b.
func appendRecord(b []byte, r *Record) []byte {
	b = binary.AppendUvarint(b, uint64(len(r.Key)))
	b = append(b, r.Key...)
	b = binary.AppendVarint(b, r.LastTs)
	b = binary.AppendVarint(b, r.LastUpdate)
	b = binary.AppendUvarint(b, r.AnomalyID)
	b = binary.AppendUvarint(b, r.LastID)
	b = binary.AppendVarint(b, int64(r.NeedPoints))
	b = binary.AppendUvarint(b, uint64(len(r.Model)))
	return append(b, r.Model...)
}

// decodeRecord decodes one record from the front of b into r and returns
// the bytes consumed.
func decodeRecord(b []byte, r *Record) (int, error) {
	off := 0
	uv := func(what string) (uint64, error) {
		v, n := binary.Uvarint(b[off:])
		if n <= 0 {
			return 0, fmt.Errorf("bad %s", what)
		}
		off += n
		return v, nil
	}
	sv := func(what string) (int64, error) {
		v, n := binary.Varint(b[off:])
		if n <= 0 {
			return 0, fmt.Errorf("bad %s", what)
		}
		off += n
		return v, nil
	}
	bytesOf := func(what string, limit uint64) ([]byte, error) {
		n, err := uv(what + " length")
		if err != nil {
			return nil, err
		}
		if n > limit || n > uint64(len(b)-off) {
			return nil, fmt.Errorf("%s length %d out of bounds", what, n)
		}
		s := b[off : off+int(n) : off+int(n)]
		off += int(n)
		return s, nil
	}
	var err error
	if r.Key, err = bytesOf("key", MaxKeyBytes); err != nil {
		return 0, err
	}
	if len(r.Key) == 0 {
		return 0, errors.New("empty key")
	}
	if r.LastTs, err = sv("last timestamp"); err != nil {
		return 0, err
	}
	if r.LastUpdate, err = sv("last update"); err != nil {
		return 0, err
	}
	if r.AnomalyID, err = uv("anomaly id"); err != nil {
		return 0, err
	}
	if r.LastID, err = uv("last anomaly id"); err != nil {
		return 0, err
	}
	np, err := sv("points needed")
	if err != nil {
		return 0, err
	}
	if np < 0 || np > 1<<31-1 {
		return 0, fmt.Errorf("points needed %d out of range", np)
	}
	r.NeedPoints = int32(np)
	if r.Model, err = bytesOf("model", MaxModelBytes); err != nil {
		return 0, err
	}
	return off, nil
}

// Reader reads a snapshot record by record, checking each block's checksum
// before it returns any record of it. Not safe for concurrent use.
type Reader struct {
	r      *bufio.Reader
	size   int64 // total input size, -1 when unknown
	off    int64 // input bytes consumed
	h      Header
	block  uint32 // blocks read
	series uint64 // records returned
	buf    []byte // current block payload
	pos    int    // next record in buf
	left   uint32 // records left in the current block
	done   bool
	closer io.Closer
}

// NewReader reads and checks the header from r. size is the input's total
// length when known (it bounds allocations and detects truncation early),
// or -1.
func NewReader(r io.Reader, size int64) (*Reader, error) {
	rd := &Reader{r: bufio.NewReaderSize(r, 1<<20), size: size}
	var hb [headerSize]byte
	if err := rd.full(hb[:], "header"); err != nil {
		return nil, err
	}
	h, err := decodeHeader(hb[:])
	if err != nil {
		return nil, err
	}
	if size >= 0 {
		// Every block costs at least its head and crc.
		min := uint64(headerSize+trailerSize) + uint64(h.Blocks)*(blockHead+4)
		if uint64(size) < min {
			return nil, fmt.Errorf("%w: %d bytes cannot hold %d blocks", ErrTruncated, size, h.Blocks)
		}
	}
	rd.h = h
	return rd, nil
}

// Open opens the snapshot file at path and reads its header. Close the
// Reader when done.
func Open(path string) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	rd, err := NewReader(f, st.Size())
	if err != nil {
		f.Close()
		return nil, err
	}
	rd.closer = f
	return rd, nil
}

// Header returns the file's header.
func (rd *Reader) Header() Header { return rd.h }

// Close closes the file opened by Open; it does nothing for NewReader.
func (rd *Reader) Close() error {
	if rd.closer == nil {
		return nil
	}
	return rd.closer.Close()
}

// full reads exactly len(b) bytes; a short input is ErrTruncated.
func (rd *Reader) full(b []byte, what string) error {
	n, err := io.ReadFull(rd.r, b)
	rd.off += int64(n)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return fmt.Errorf("%w: %s at offset %d", ErrTruncated, what, rd.off-int64(n))
	}
	if err != nil {
		return fmt.Errorf("snapshot: read %s: %w", what, err)
	}
	return nil
}

// Next returns the next record. After the last record it checks the
// trailer and the end of input and returns io.EOF; any damage found on the
// way is an error wrapping ErrCorrupt. The record aliases the reader's
// buffer and is valid until the next call.
func (rd *Reader) Next(r *Record) error {
	for rd.left == 0 {
		if rd.done {
			return io.EOF
		}
		if rd.block == rd.h.Blocks {
			if err := rd.finish(); err != nil {
				return err
			}
			rd.done = true
			return io.EOF
		}
		if err := rd.readBlock(); err != nil {
			return err
		}
	}
	n, err := decodeRecord(rd.buf[rd.pos:], r)
	if err != nil {
		return fmt.Errorf("%w: block %d, record %d: %v", ErrCorrupt, rd.block-1, rd.series, err)
	}
	rd.pos += n
	rd.left--
	rd.series++
	if rd.left == 0 && rd.pos != len(rd.buf) {
		return fmt.Errorf("%w: block %d: %d bytes after its last record", ErrCorrupt, rd.block-1, len(rd.buf)-rd.pos)
	}
	return nil
}

func (rd *Reader) readBlock() error {
	start := rd.off
	var hb [blockHead]byte
	if err := rd.full(hb[:], fmt.Sprintf("block %d", rd.block)); err != nil {
		return err
	}
	count := binary.LittleEndian.Uint32(hb[:])
	length := binary.LittleEndian.Uint32(hb[4:])
	if length > MaxBlockBytes {
		return fmt.Errorf("%w: block %d at offset %d: length %d exceeds %d", ErrCorrupt, rd.block, start, length, MaxBlockBytes)
	}
	if rd.size >= 0 && int64(length)+4 > rd.size-rd.off {
		return fmt.Errorf("%w: block %d at offset %d: %d payload bytes, %d left in the file", ErrTruncated, rd.block, start, length, rd.size-rd.off)
	}
	if count == 0 || uint64(count)*minRecord > uint64(length) {
		// An empty block is never written.
		return fmt.Errorf("%w: block %d at offset %d: %d records in %d bytes", ErrCorrupt, rd.block, start, count, length)
	}
	if cap(rd.buf) < int(length)+4 {
		rd.buf = make([]byte, int(length)+4)
	}
	rd.buf = rd.buf[:int(length)+4]
	if err := rd.full(rd.buf, fmt.Sprintf("block %d payload", rd.block)); err != nil {
		return err
	}
	crc := crc32.Update(crc32.Checksum(hb[:], castagnoli), castagnoli, rd.buf[:length])
	if got := binary.LittleEndian.Uint32(rd.buf[length:]); got != crc {
		return fmt.Errorf("%w: block %d at offset %d: crc %08x, computed %08x", ErrChecksum, rd.block, start, got, crc)
	}
	if rd.series+uint64(count) > rd.h.Series {
		return fmt.Errorf("%w: block %d holds more records than the header's %d", ErrCorrupt, rd.block, rd.h.Series)
	}
	rd.buf = rd.buf[:length]
	rd.pos, rd.left = 0, count
	rd.block++
	return nil
}

func (rd *Reader) finish() error {
	if rd.series != rd.h.Series {
		return fmt.Errorf("%w: %d records, header says %d", ErrCorrupt, rd.series, rd.h.Series)
	}
	var tb [trailerSize]byte
	if err := rd.full(tb[:], "trailer"); err != nil {
		return err
	}
	if string(tb[:8]) != endMagic {
		return fmt.Errorf("%w: bad trailer magic %q at offset %d", ErrCorrupt, tb[:8], rd.off-trailerSize)
	}
	if got, want := binary.LittleEndian.Uint32(tb[20:]), crc32.Checksum(tb[:20], castagnoli); got != want {
		return fmt.Errorf("%w: trailer crc %08x, computed %08x", ErrChecksum, got, want)
	}
	if s, b := binary.LittleEndian.Uint64(tb[8:]), binary.LittleEndian.Uint32(tb[16:]); s != rd.h.Series || b != rd.h.Blocks {
		return fmt.Errorf("%w: trailer says %d records in %d blocks, header %d in %d", ErrCorrupt, s, b, rd.h.Series, rd.h.Blocks)
	}
	var one [1]byte
	if n, _ := io.ReadFull(rd.r, one[:]); n != 0 {
		return fmt.Errorf("%w: data after the trailer at offset %d", ErrCorrupt, rd.off)
	}
	return nil
}

// ReadAll reads every record of rd, calling fn (when not nil) with each,
// and checks the file to its end. It stops at fn's first error.
func ReadAll(rd *Reader, fn func(*Record) error) error {
	var r Record
	for {
		err := rd.Next(&r)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if fn != nil {
			if err := fn(&r); err != nil {
				return err
			}
		}
	}
}

// Verify reads the whole file at path, checking every checksum and record
// and calling check (when not nil) with each record, and returns its header.
// Use it before loading any of a snapshot, so that a damaged file loads
// nothing.
func Verify(path string, check func(*Record) error) (Header, error) {
	rd, err := Open(path)
	if err != nil {
		return Header{}, err
	}
	defer rd.Close()
	return rd.h, ReadAll(rd, check)
}
