package influx

import "testing"

func TestFluxStringEscapes(t *testing.T) {
	for in, want := range map[string]string{
		`cpu{host="a"}`:      `"cpu{host=\"a\"}"`,
		`a\b`:                `"a\\b"`,
		`x{v="${secret}"}`:   `"x{v=\"\${secret}\"}"`,
		"m{v=\"a\nb\"}":      `"m{v=\"a\nb\"}"`,
		`") |> drop() |> ("`: `"\") |> drop() |> (\""`,
	} {
		if got := fluxString(in); got != want {
			t.Errorf("fluxString(%q) = %s, want %s", in, got, want)
		}
	}
}
