package auth_test

import (
	"fmt"
	"strings"

	"github.com/anomalyd/detector/auth"
)

func ExampleParse() {
	file := `# scope  token                       name
read     dashboards-3kX9vQ2mL7pR4tW8   grafana
write    sha256:2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b  # the secret "secret"
`
	set, err := auth.Parse(strings.NewReader(file))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, tok := range []string{"dashboards-3kX9vQ2mL7pR4tW8", "secret", "guess-guess-guess-guess"} {
		id, ok := set.Lookup(tok)
		fmt.Println(tok, ok, id.Name, id.Scope)
	}
	_, err = auth.Parse(strings.NewReader("read dashboards-3kX9vQ2mL7pR4tW8\nroot x\n"))
	fmt.Println(err)
	// Output:
	// dashboards-3kX9vQ2mL7pR4tW8 true grafana read
	// secret true line 3 write
	// guess-guess-guess-guess false  none
	// line 2: unknown scope "root": want read or write
}
