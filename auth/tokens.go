package auth

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
)

// Scope is what a token may do. Scopes are ordered: a higher scope allows
// everything a lower one does.
type Scope int

const (
	ScopeNone  Scope = iota // no token needed (open paths)
	ScopeRead               // read the state, ask for verdicts
	ScopeWrite              // change the state: ingest, add or delete rules
)

// String is the scope's name in the token file.
func (s Scope) String() string {
	switch s {
	case ScopeNone:
		return "none"
	case ScopeRead:
		return "read"
	case ScopeWrite:
		return "write"
	}
	return fmt.Sprintf("Scope(%d)", int(s))
}

// ParseScope parses a scope name of the token file.
func ParseScope(s string) (Scope, error) {
	switch s {
	case "read":
		return ScopeRead, nil
	case "write":
		return ScopeWrite, nil
	}
	return ScopeNone, fmt.Errorf("unknown scope %q: want read or write", s)
}

// MinTokenLen is the shortest secret the token file accepts in clear.
const MinTokenLen = 16

// Identity is who presented a known token.
type Identity struct {
	Name  string // the token's name in the file, or "line N" when it has none
	Scope Scope
}

type entry struct {
	hash [sha256.Size]byte
	id   Identity
}

// Set is an immutable set of tokens. Safe for concurrent use.
type Set struct {
	entries []entry
}

// Len is the number of tokens in the set.
func (s *Set) Len() int { return len(s.entries) }

// Lookup returns the identity of token. The token's SHA-256 is compared
// with every known hash in constant time and the loop never exits early, so
// the time taken depends only on the number of tokens.
func (s *Set) Lookup(token string) (Identity, bool) {
	h := sha256.Sum256([]byte(token))
	found := -1
	for i := range s.entries {
		if subtle.ConstantTimeCompare(h[:], s.entries[i].hash[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return Identity{}, false
	}
	return s.entries[found].id, true
}

// Parse reads a token file (format in the package documentation). Errors
// name the line.
func Parse(r io.Reader) (*Set, error) {
	s := &Set{}
	firstLine := map[[sha256.Size]byte]int{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	for n := 1; sc.Scan(); n++ {
		fields := strings.Fields(sc.Text())
		for i, f := range fields {
			if strings.HasPrefix(f, "#") {
				fields = fields[:i]
				break
			}
		}
		if len(fields) == 0 {
			continue
		}
		if len(fields) < 2 || len(fields) > 3 {
			return nil, fmt.Errorf("line %d: want <scope> <token> [name], got %d fields", n, len(fields))
		}
		scope, err := ParseScope(fields[0])
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		h, err := tokenHash(fields[1])
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		if prev, ok := firstLine[h]; ok {
			return nil, fmt.Errorf("line %d: duplicate token, first on line %d", n, prev)
		}
		firstLine[h] = n
		name := fmt.Sprintf("line %d", n)
		if len(fields) == 3 {
			name = fields[2]
		}
		s.entries = append(s.entries, entry{hash: h, id: Identity{Name: name, Scope: scope}})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading tokens: %w", err)
	}
	return s, nil
}

const hashPrefix = "sha256:"

// tokenHash returns the SHA-256 of a token field: the secret in clear, or
// its hash written as sha256:<hex>.
func tokenHash(field string) ([sha256.Size]byte, error) {
	var h [sha256.Size]byte
	if hexed, ok := strings.CutPrefix(field, hashPrefix); ok {
		if len(hexed) != 2*sha256.Size {
			return h, fmt.Errorf("token hash: want %d hex digits after %s, got %d", 2*sha256.Size, hashPrefix, len(hexed))
		}
		if _, err := hex.Decode(h[:], []byte(hexed)); err != nil {
			return h, fmt.Errorf("token hash: %w", err)
		}
		return h, nil
	}
	if len(field) < MinTokenLen {
		return h, fmt.Errorf("token too short: %d characters, want at least %d", len(field), MinTokenLen)
	}
	if i := invalidToken68(field); i >= 0 {
		return h, fmt.Errorf("token: character %d (%q) is not allowed in a bearer token", i+1, field[i])
	}
	return sha256.Sum256([]byte(field)), nil
}

// invalidToken68 returns the index of the first byte of s that breaks the
// token68 syntax of RFC 6750 (letters, digits, - . _ ~ + / then any '='),
// or -1.
func invalidToken68(s string) int {
	i := 0
	for ; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~+/", c) >= 0) {
			break
		}
	}
	if i == 0 && len(s) > 0 {
		return 0
	}
	for ; i < len(s); i++ {
		if s[i] != '=' {
			return i
		}
	}
	return -1
}

// maxFileBytes bounds the token file (about 100,000 tokens).
const maxFileBytes = 16 << 20

// Tokens is a token file loaded in memory and reloadable: Reload swaps in
// the file's new content, or keeps the current set when the file cannot be
// read or parsed. Safe for concurrent use.
type Tokens struct {
	path string
	log  *slog.Logger
	mu   sync.Mutex // serialises reloads
	set  atomic.Pointer[Set]
}

// OpenTokens loads the token file at path. log receives the warnings (a
// file any user can read, a file with no token).
func OpenTokens(path string, log *slog.Logger) (*Tokens, error) {
	t := &Tokens{path: path, log: log}
	if _, err := t.Reload(); err != nil {
		return nil, err
	}
	return t, nil
}

// Path is the token file's path.
func (t *Tokens) Path() string { return t.path }

// Len is the number of tokens in force.
func (t *Tokens) Len() int { return t.set.Load().Len() }

// Lookup returns the identity of token in the set in force (see Set.Lookup).
func (t *Tokens) Lookup(token string) (Identity, bool) { return t.set.Load().Lookup(token) }

// Reload reads the file again and returns the number of tokens now in
// force. On error the previous tokens stay in force.
func (t *Tokens) Reload() (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	f, err := os.Open(t.path)
	if err != nil {
		return t.current(), fmt.Errorf("token file: %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Mode().Perm()&0o004 != 0 {
		t.log.Warn("token file is readable by every user; chmod 600 it", "path", t.path, "mode", fi.Mode().Perm().String())
	}
	// Read it whole first so that a read error never yields half a file.
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, io.LimitReader(f, maxFileBytes+1)); err != nil {
		return t.current(), fmt.Errorf("token file %s: %w", t.path, err)
	}
	if buf.Len() > maxFileBytes {
		return t.current(), fmt.Errorf("token file %s: larger than %d bytes", t.path, maxFileBytes)
	}
	s, err := Parse(&buf)
	if err != nil {
		return t.current(), fmt.Errorf("token file %s: %w", t.path, err)
	}
	if s.Len() == 0 {
		t.log.Warn("token file has no token: every request but those to open paths is refused", "path", t.path)
	}
	t.set.Store(s)
	return s.Len(), nil
}

func (t *Tokens) current() int {
	if s := t.set.Load(); s != nil {
		return s.Len()
	}
	return 0
}
