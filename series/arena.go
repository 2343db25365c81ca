package series

import "unsafe"

// keyArena holds the canonical keys of one shard's series in large byte
// chunks, so that a million keys are a few dozen pointer-free allocations
// the garbage collector neither scans nor counts one by one (a []string
// cost a 16-byte header, a heap object and a pointer to mark per series).
// A slot names its key by chunk, offset and length.
//
// Chunks are append-only: bytes once written never change, so a string
// made over them (keyArena.str) stays valid for as long as it is held.
// Strings over the arena are nevertheless kept inside the engine (under
// the shard lock or for the duration of a call); what leaves the engine is
// copied (shard.keyCopy), so that a retained key never pins a chunk the
// arena has let go of. Freed keys leave holes; when they add up to more
// than the live bytes, compact moves the keys of sparse chunks to the tail
// and drops those chunks.
//
// Not safe for concurrent use: the shard writes it under its lock and
// readers read it under the read lock.
type keyArena struct {
	chunks [][]byte // nil: released, its number in spare
	live   []int    // live bytes per chunk
	spare  []uint32 // released chunk numbers, reused first
	cur    int32    // the chunk appended to; -1 before the first
	// liveBytes and deadBytes add up over the chunks: bytes of held keys
	// and bytes of keys freed since they were written.
	liveBytes, deadBytes int
}

// arenaChunk is the size of one arena chunk: 256 KiB, about 5,000 keys of
// 50 bytes. A key longer than a chunk gets a chunk of its own.
const arenaChunk = 256 << 10

// Once an arena holds bigArenaAfter bytes of keys, its new chunks are
// bigArenaChunk bytes in memory marked for huge pages
// (hugepage_linux.go): at ten million series the keys are some 500 MB,
// read at random by every lookup, which in 256 KiB chunks stayed in small
// pages.
const (
	bigArenaAfter = 8 * arenaChunk
	bigArenaChunk = 2 << 20
)

func newKeyArena() keyArena { return keyArena{cur: -1} }

// add copies key into the arena and returns where it is.
func (a *keyArena) add(key string) (chunk, off uint32) {
	n := len(key)
	if a.cur < 0 || len(a.chunks[a.cur])+n > cap(a.chunks[a.cur]) {
		size := arenaChunk
		if a.liveBytes >= bigArenaAfter {
			size = bigArenaChunk
		}
		a.cur = int32(a.newChunk(max(n, size)))
	}
	c := a.chunks[a.cur]
	off = uint32(len(c))
	a.chunks[a.cur] = append(c, key...)
	a.live[a.cur] += n
	a.liveBytes += n
	return uint32(a.cur), off
}

func (a *keyArena) newChunk(size int) int {
	b := make([]byte, 0, size)
	if size >= bigArenaChunk {
		adviseHugePages(unsafe.Pointer(unsafe.SliceData(b)), uintptr(size))
	}
	if n := len(a.spare); n > 0 {
		i := a.spare[n-1]
		a.spare = a.spare[:n-1]
		a.chunks[i], a.live[i] = b, 0
		return int(i)
	}
	a.chunks = append(a.chunks, b)
	a.live = append(a.live, 0)
	return len(a.chunks) - 1
}

// str returns the key at (chunk, off) of n bytes, sharing the arena's
// bytes.
func (a *keyArena) str(chunk, off, n uint32) string {
	if n == 0 {
		return ""
	}
	return unsafe.String(&a.chunks[chunk][off], n)
}

// free forgets the key at chunk of n bytes. A chunk left with no live key
// is released, unless it is the one appended to.
func (a *keyArena) free(chunk, n uint32) {
	a.live[chunk] -= int(n)
	a.liveBytes -= int(n)
	a.deadBytes += int(n)
	if a.live[chunk] == 0 && int32(chunk) != a.cur {
		a.release(chunk)
	}
}

func (a *keyArena) release(chunk uint32) {
	a.deadBytes -= len(a.chunks[chunk])
	a.chunks[chunk] = nil
	a.spare = append(a.spare, chunk)
}

// needsCompaction reports whether the freed bytes still held (in chunks
// with some live key) exceed the live bytes and a few chunks.
func (a *keyArena) needsCompaction() bool {
	return a.deadBytes > a.liveBytes && a.deadBytes > 4*arenaChunk
}

// sparse reports whether chunk is worth emptying: not the chunk appended
// to, and less than half live.
func (a *keyArena) sparse(chunk uint32) bool {
	return int32(chunk) != a.cur && a.chunks[chunk] != nil && 2*a.live[chunk] < cap(a.chunks[chunk])
}

// bytes returns the bytes the arena holds (chunk capacities).
func (a *keyArena) bytes() int {
	n := 0
	for _, c := range a.chunks {
		n += cap(c)
	}
	return n
}
