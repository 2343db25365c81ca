package auth

import (
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary token files to Parse: it must not panic, and
// every token of a file it accepts must be found with its line's scope.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"",
		"# comment only\n",
		"read " + tokA + " grafana\nwrite " + tokB + "\n",
		"write sha256:" + sum(tokC) + " ci # comment\r\n",
		"read abcdefghijklmnop-._~+/==\n",
		"admin " + tokA + "\n",
		"read short\n",
		"read " + tokA + "\nread " + tokA + "\n",
		"read sha256:zz\n",
		"\xff\xfe read \x00" + tokA,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := Parse(strings.NewReader(in))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "line ") && !strings.HasPrefix(err.Error(), "reading tokens") {
				t.Fatalf("Parse error %q does not name a line", err)
			}
			return
		}
		n := 0
		for line := range strings.Lines(in) {
			fields := strings.Fields(line)
			for i, fl := range fields {
				if strings.HasPrefix(fl, "#") {
					fields = fields[:i]
					break
				}
			}
			if len(fields) == 0 {
				continue
			}
			n++
			want, _ := ParseScope(fields[0])
			if strings.HasPrefix(fields[1], hashPrefix) {
				continue
			}
			if id, ok := s.Lookup(fields[1]); !ok || id.Scope != want {
				t.Fatalf("Lookup(%q) = %+v, %v after parsing %q, want scope %v", fields[1], id, ok, in, want)
			}
		}
		if s.Len() != n {
			t.Fatalf("Parse(%q).Len() = %d, want %d token lines", in, s.Len(), n)
		}
	})
}

// FuzzBearer checks the Authorization header parser on arbitrary input.
func FuzzBearer(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer  abc ", "Basic x", "", "Bearer", "Bearer \t x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		tok, ok := bearer(h)
		if ok != (tok != "") || tok != strings.TrimSpace(tok) {
			t.Fatalf("bearer(%q) = %q, %v", h, tok, ok)
		}
		if ok && !strings.Contains(h, tok) {
			t.Fatalf("bearer(%q) = %q, not part of the header", h, tok)
		}
	})
}
