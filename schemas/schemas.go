// Package schemas holds Vigil's contracts as files: the event envelope's and
// the alert payload's JSON Schemas, and the numbered ClickHouse migrations.
// The files stay where users look for them; this package embeds them so the
// binaries carry them.
package schemas

import "embed"

// FS holds events/*.json, alerts/*.json and clickhouse/*.sql.
//
//go:embed events/*.json alerts/*.json clickhouse/*.sql
var FS embed.FS
