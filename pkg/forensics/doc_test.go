package forensics_test

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/forensics"
)

var update = flag.Bool("update", false, "rewrite README.md's query section and the golden files in testdata/")

const (
	beginMark = "<!-- queries: generated from queries.go by `go test -run TestREADME -update`; do not edit -->"
	endMark   = "<!-- end of queries -->"
)

// reference renders every query as README.md shows it.
func reference() string {
	var b strings.Builder
	for _, q := range forensics.Queries() {
		fmt.Fprintf(&b, "\n### %s\n\n%s\n\n", q.Name, q.Summary)
		b.WriteString("| parameter | type | default | meaning |\n|---|---|---|---|\n")
		var example []string
		for _, p := range q.Params {
			def := "`" + p.Default + "`"
			switch {
			case p.Required:
				def = "required"
				example = append(example, "--param "+p.Name+"=…")
			case p.Default == "":
				def = "empty"
			}
			typ := p.Type.String()
			switch p.Type {
			case forensics.Int:
				typ = fmt.Sprintf("int, %d to %d", p.Min, p.Max)
			case forensics.Choice:
				typ = strings.Join(p.Choices, " or ")
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", p.Name, typ, def, p.Doc)
		}
		fmt.Fprintf(&b, "\n```sh\nvigil query %s\n```\n\n```sql\n%s\n```\n", strings.Join(append([]string{q.Name}, example...), " "), q.SQL)
	}
	return b.String()
}

// README.md's query section is generated from the definitions.
func TestREADME(t *testing.T) {
	raw, err := os.ReadFile("README.md")
	require.NoError(t, err)
	doc := string(raw)
	i, j := strings.Index(doc, beginMark), strings.Index(doc, endMark)
	require.True(t, i >= 0 && j > i, "README.md has the markers %q and %q", beginMark, endMark)
	want := doc[:i+len(beginMark)] + "\n" + reference() + "\n" + doc[j:]
	if *update {
		require.NoError(t, os.WriteFile("README.md", []byte(want), 0o644))
		return
	}
	require.Equal(t, want, doc, "README.md is out of date: go test ./pkg/forensics -run TestREADME -update")
}
