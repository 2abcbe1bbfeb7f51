package store_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/testkit"
)

const (
	schemaDoc      = "../../schemas/clickhouse/README.md"
	schemaDocBegin = "<!-- tables: generated from the migrated schema by `go test ./pkg/store -run TestSchemaREADME -update` (needs the test ClickHouse); do not edit -->"
	schemaDocEnd   = "<!-- end of tables -->"
)

// The column tables of schemas/clickhouse/README.md are what the
// migrations create, as system.tables and system.columns report them
// on the plain form (18.16).
func TestSchemaREADME(t *testing.T) {
	cfg := testkit.ClickHouse(t)
	var b strings.Builder
	for _, table := range []string{"events", "scores", "alerts", "events_per_minute", "failed_auth_per_minute", "schema_migrations"} {
		var engine, partition, sorting string
		query(t, cfg, func(scan func(...any)) { scan(&engine, &partition, &sorting) },
			"SELECT engine, partition_key, sorting_key FROM system.tables WHERE database = ? AND name = ?", cfg.Database, table)
		require.NotEmpty(t, engine, "table %s exists", table)
		fmt.Fprintf(&b, "\n### `%s`\n\n%s", table, engine)
		if partition != "" {
			fmt.Fprintf(&b, ", partitioned by `%s`", partition)
		}
		fmt.Fprintf(&b, ", ordered by `(%s)`.\n\n| column | type | meaning |\n|---|---|---|\n", sorting)
		query(t, cfg, func(scan func(...any)) {
			var name, typ, comment string
			scan(&name, &typ, &comment)
			fmt.Fprintf(&b, "| `%s` | `%s` | %s |\n", name, strings.ReplaceAll(typ, `\'`, "'"), strings.ReplaceAll(comment, "|", `\|`))
		}, "SELECT name, type, comment FROM system.columns WHERE database = ? AND table = ?", // in definition order
			cfg.Database, table)
	}
	raw, err := os.ReadFile(schemaDoc)
	require.NoError(t, err)
	doc := string(raw)
	i, j := strings.Index(doc, schemaDocBegin), strings.Index(doc, schemaDocEnd)
	require.True(t, i >= 0 && j > i, "%s has the markers", schemaDoc)
	want := doc[:i+len(schemaDocBegin)] + "\n" + b.String() + "\n" + doc[j:]
	if *update {
		require.NoError(t, os.WriteFile(schemaDoc, []byte(want), 0o644))
		return
	}
	require.Equal(t, want, doc, "%s is out of date: go test ./pkg/store -run TestSchemaREADME -update", schemaDoc)
}
