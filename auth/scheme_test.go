package auth

import "testing"

func TestTokenSchemes(t *testing.T) {
	for h, want := range map[string]string{
		"Bearer abc": "abc", "bearer abc": "abc", "Token abc": "abc", "TOKEN  abc ": "abc",
		"Basic abc": "", "Token": "", "abc": "",
	} {
		got, ok := bearer(h)
		if got != want || ok != (want != "") {
			t.Errorf("bearer(%q) = %q, %v, want %q", h, got, ok, want)
		}
	}
}
