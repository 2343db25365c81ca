package auth

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const (
	tokA = "aaaaaaaaaaaaaaaaaaaaaaaa"
	tokB = "bbbbbbbbbbbbbbbbbbbbbbbb"
	tokC = "cccccccccccccccccccccccc"
)

func sum(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(h[:])
}

func TestParse(t *testing.T) {
	type want struct {
		token string
		id    Identity
	}
	cases := []struct {
		name  string
		in    string
		want  []want // tokens that must be found
		len   int
		err   string // substring of the error; "" means no error
		wrong []string
	}{
		{name: "empty", in: "", len: 0},
		{name: "comments and blanks", in: "# header\n\n   \n\t# indented comment\n", len: 0},
		{
			name: "scopes and names",
			in:   "read " + tokA + " grafana\nwrite " + tokB + "\n",
			len:  2,
			want: []want{{tokA, Identity{"grafana", ScopeRead}}, {tokB, Identity{"line 2", ScopeWrite}}},
		},
		{
			name: "trailing comment, tabs, CRLF",
			in:   "read\t" + tokA + "\tgrafana # dashboards\r\n# x\r\nwrite " + tokB + " #collector\r\n",
			len:  2,
			want: []want{{tokA, Identity{"grafana", ScopeRead}}, {tokB, Identity{"line 3", ScopeWrite}}},
		},
		{
			name: "hashed token",
			in:   "write sha256:" + sum(tokC) + " ci\n",
			len:  1,
			want: []want{{tokC, Identity{"ci", ScopeWrite}}},
			// the hash itself is not a token
			wrong: []string{"sha256:" + sum(tokC), sum(tokC)},
		},
		{
			name: "upper-case hash",
			in:   "read sha256:" + strings.ToUpper(sum(tokC)) + "\n",
			len:  1,
			want: []want{{tokC, Identity{"line 1", ScopeRead}}},
		},
		{name: "token68 padding", in: "read abcdefghijklmnop-._~+/==\n", len: 1,
			want: []want{{"abcdefghijklmnop-._~+/==", Identity{"line 1", ScopeRead}}}},
		{name: "unknown scope", in: "# c\nadmin " + tokA + "\n", err: `line 2: unknown scope "admin"`},
		{name: "scope is case-sensitive", in: "READ " + tokA + "\n", err: `line 1: unknown scope "READ"`},
		{name: "one field", in: "read\n", err: "line 1: want <scope> <token> [name], got 1 fields"},
		{name: "four fields", in: "\n\nread " + tokA + " a b\n", err: "line 3: want <scope> <token> [name], got 4 fields"},
		{name: "short token", in: "read short\n", err: "line 1: token too short: 5 characters, want at least 16"},
		{name: "bad character", in: "read aaaaaaaa\"aaaaaaaaa\n", err: `line 1: token: character 9 ('"') is not allowed`},
		{name: "padding in the middle", in: "read aaaaaaaa=aaaaaaaaa\n", err: "line 1: token: character 10 ('a')"},
		{name: "only padding", in: "read ================\n", err: "line 1: token: character 1 ('=')"},
		{name: "short hash", in: "read sha256:abcd\n", err: "line 1: token hash: want 64 hex digits after sha256:, got 4"},
		{name: "bad hex", in: "read sha256:" + strings.Repeat("zz", 32) + "\n", err: "line 1: token hash: encoding/hex: invalid byte"},
		{name: "duplicate", in: "read " + tokA + "\n# x\nwrite " + tokA + "\n", err: "line 3: duplicate token, first on line 1"},
		{name: "duplicate through hash", in: "read " + tokA + "\nwrite sha256:" + sum(tokA) + "\n", err: "line 2: duplicate token, first on line 1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := Parse(strings.NewReader(c.in))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("Parse(%q) error = %v, want one containing %q", c.in, err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q) error = %v", c.in, err)
			}
			if s.Len() != c.len {
				t.Errorf("Parse(%q).Len() = %d, want %d", c.in, s.Len(), c.len)
			}
			for _, w := range c.want {
				id, ok := s.Lookup(w.token)
				if !ok || id != w.id {
					t.Errorf("Lookup(%q) = %+v, %v, want %+v, true", w.token, id, ok, w.id)
				}
			}
			for _, tok := range append(c.wrong, "", tokA+"x", tokA[1:]) {
				if id, ok := s.Lookup(tok); ok {
					t.Errorf("Lookup(%q) = %+v, true, want not found", tok, id)
				}
			}
		})
	}
}

// TestLookupComparesEveryByte checks that tokens differing from a known
// one only in their first or last byte, or by a prefix, are refused: the
// comparison covers the whole secret.
func TestLookupComparesEveryByte(t *testing.T) {
	s, err := Parse(strings.NewReader("write " + tokA + "\nread " + tokB + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{
		"x" + tokA[1:], tokA[:len(tokA)-1] + "x", tokA[:len(tokA)-1], tokA + tokA, strings.ToUpper(tokA), tokA + " ",
	} {
		if id, ok := s.Lookup(tok); ok {
			t.Errorf("Lookup(%q) = %+v, true, want not found", tok, id)
		}
	}
	// The last entry wins nothing: each token finds its own line.
	if id, _ := s.Lookup(tokA); id.Scope != ScopeWrite {
		t.Errorf("Lookup(tokA).Scope = %v, want write", id.Scope)
	}
	if id, _ := s.Lookup(tokB); id.Scope != ScopeRead {
		t.Errorf("Lookup(tokB).Scope = %v, want read", id.Scope)
	}
}

func TestScopeOrder(t *testing.T) {
	for _, c := range []struct {
		have, need Scope
		ok         bool
	}{
		{ScopeRead, ScopeRead, true}, {ScopeWrite, ScopeRead, true}, {ScopeWrite, ScopeWrite, true},
		{ScopeRead, ScopeWrite, false}, {ScopeNone, ScopeRead, false},
	} {
		if got := c.have >= c.need; got != c.ok {
			t.Errorf("%v covers %v = %v, want %v", c.have, c.need, got, c.ok)
		}
	}
	for _, name := range []string{"read", "write"} {
		s, err := ParseScope(name)
		if err != nil || s.String() != name {
			t.Errorf("ParseScope(%q) = %v, %v, want %s, nil", name, s, err, name)
		}
	}
}

func writeFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // WriteFile's mode is masked by umask
		t.Fatal(err)
	}
}

func TestTokensReload(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	path := filepath.Join(t.TempDir(), "tokens")
	writeFile(t, path, "write "+tokA+"\n", 0o600)
	tk, err := OpenTokens(path, log)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := tk.Lookup(tokA); !ok || tk.Len() != 1 {
		t.Fatalf("after open: Lookup(tokA) = %v, Len = %d, want true, 1", ok, tk.Len())
	}
	if strings.Contains(logs.String(), "readable by every user") {
		t.Errorf("mode 0600 warned: %s", logs.String())
	}

	// A broken file keeps the old tokens.
	writeFile(t, path, "write "+tokB+"\nbogus line here too\n", 0o600)
	n, err := tk.Reload()
	if err == nil || !strings.Contains(err.Error(), "line 2:") {
		t.Fatalf("Reload of a broken file = %d, %v, want an error naming line 2", n, err)
	}
	if _, ok := tk.Lookup(tokA); !ok || n != 1 {
		t.Errorf("after failed reload: Lookup(tokA) = %v, n = %d, want true, 1", ok, n)
	}
	if _, ok := tk.Lookup(tokB); ok {
		t.Errorf("after failed reload: tokB accepted")
	}

	// A missing file keeps them too.
	os.Remove(path)
	if _, err := tk.Reload(); err == nil {
		t.Fatal("Reload of a missing file succeeded")
	}
	if _, ok := tk.Lookup(tokA); !ok {
		t.Errorf("after reload of a missing file: tokA refused")
	}

	// A good file replaces them; a world-readable one is accepted with a warning.
	writeFile(t, path, "read "+tokB+"\nread "+tokC+"\n", 0o644)
	if n, err := tk.Reload(); err != nil || n != 2 {
		t.Fatalf("Reload = %d, %v, want 2, nil", n, err)
	}
	if _, ok := tk.Lookup(tokA); ok {
		t.Errorf("after reload: revoked tokA still accepted")
	}
	if id, ok := tk.Lookup(tokB); !ok || id.Scope != ScopeRead {
		t.Errorf("after reload: Lookup(tokB) = %+v, %v, want read, true", id, ok)
	}
	if !strings.Contains(logs.String(), "readable by every user") {
		t.Errorf("mode 0644 did not warn; logs:\n%s", logs.String())
	}

	// Emptying the file revokes every token.
	writeFile(t, path, "# nobody\n", 0o600)
	if n, err := tk.Reload(); err != nil || n != 0 {
		t.Fatalf("Reload of an empty file = %d, %v, want 0, nil", n, err)
	}
	if _, ok := tk.Lookup(tokB); ok {
		t.Errorf("after emptying: tokB still accepted")
	}
}

func TestOpenTokensErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := OpenTokens(filepath.Join(dir, "missing"), slog.New(slog.DiscardHandler)); err == nil {
		t.Error("OpenTokens(missing file) succeeded")
	}
	bad := filepath.Join(dir, "bad")
	writeFile(t, bad, "read "+tokA+"\nwrite x\n", 0o600)
	_, err := OpenTokens(bad, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "line 2:") {
		t.Errorf("OpenTokens(bad) = %v, want an error naming the file and line 2", err)
	}
	big := filepath.Join(dir, "big")
	writeFile(t, big, strings.Repeat("#", maxFileBytes+1), 0o600)
	if _, err := OpenTokens(big, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("OpenTokens(big) = %v, want a size error", err)
	}
}

func BenchmarkLookup(b *testing.B) {
	for _, n := range []int{1, 10, 100} {
		var sb strings.Builder
		for i := range n {
			fmt.Fprintf(&sb, "read token-%020d\n", i)
		}
		s, err := Parse(strings.NewReader(sb.String()))
		if err != nil {
			b.Fatal(err)
		}
		b.Run("tokens="+strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				s.Lookup(tokA)
			}
		})
	}
}
