package store

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/schemas"
)

// Migration is one numbered SQL file from schemas/clickhouse.
type Migration struct {
	Version uint32
	Name    string
	SQL     string
}

// Migrations returns the embedded migrations in version order.
func Migrations() ([]Migration, error) {
	files, err := fs.Glob(schemas.FS, "clickhouse/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []Migration
	seen := map[uint32]string{}
	for _, f := range files {
		base := path.Base(f)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.ParseUint(num, 10, 32)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s: name must start with a number and _", base)
		}
		if prev, dup := seen[uint32(v)]; dup {
			return nil, fmt.Errorf("migrations %s and %s share version %d", prev, base, v)
		}
		seen[uint32(v)] = base
		b, err := fs.ReadFile(schemas.FS, f)
		if err != nil {
			return nil, err
		}
		ms = append(ms, Migration{Version: uint32(v), Name: strings.TrimSuffix(base, ".sql"), SQL: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	return ms, nil
}

// Statements splits a migration into statements at semicolons that end a
// line, dropping comment-only lines.
func Statements(sql string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(sql, "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "--") {
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(trimmed, ";") {
			s := strings.TrimSuffix(strings.TrimSpace(cur.String()), ";")
			out = append(out, s)
			cur.Reset()
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}

// Report says what Migrate found and did.
type Report struct {
	// Server is the server's version as SELECT version() returns it.
	Server string
	// Extras are the extras that server has, whether or not a pending
	// migration used them.
	Extras []string
	// Applied lists the migrations applied by this run, in order.
	Applied []Applied
}

// Applied is one migration a run applied.
type Applied struct {
	Version uint32
	Name    string
	// Extras are the extras its statements used on this server.
	Extras []string
}

// Versions returns the versions applied, in order.
func (r Report) Versions() []uint32 {
	var vs []uint32
	for _, a := range r.Applied {
		vs = append(vs, a.Version)
	}
	return vs
}

// Comments of the schema_migrations columns added after the first release.
const (
	serverVersionComment = "ClickHouse version it was applied on (SELECT version()); empty for migrations applied before this was recorded"
	extrasComment        = "Version-gated extras its statements used on that server, e.g. low_cardinality, codec, skip_index"
)

// schemaMigrationsDDL creates the table of applied migrations. Tables made
// before server_version and extras existed get them from
// upgradeSchemaMigrations.
const schemaMigrationsDDL = `CREATE TABLE IF NOT EXISTS schema_migrations
(
    version        UInt32   COMMENT 'Migration number (file name prefix)',
    name           String   COMMENT 'Migration file name without .sql',
    applied_at     DateTime('UTC') COMMENT 'When it was applied, UTC',
    server_version String   COMMENT '` + serverVersionComment + `',
    extras         Array(String) COMMENT '` + extrasComment + `'
)
ENGINE = ReplacingMergeTree
ORDER BY version`

// Migrate creates the database if needed and applies, in order, every
// embedded migration not yet recorded in its schema_migrations table,
// rendered for the server's version (see Extras). Running it again applies
// nothing.
func Migrate(ctx context.Context, cfg config.ClickHouseConfig, logger *slog.Logger) (Report, error) {
	var rep Report
	ms, err := Migrations()
	if err != nil {
		return rep, err
	}
	admin, err := open(cfg, "default")
	if err != nil {
		return rep, err
	}
	defer admin.Close()
	if err := admin.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+quoteIdent(cfg.Database)); err != nil {
		return rep, fmt.Errorf("create database %s: %w", cfg.Database, err)
	}
	conn, err := Open(cfg)
	if err != nil {
		return rep, err
	}
	defer conn.Close()

	if err := conn.QueryRow(ctx, "SELECT version()").Scan(&rep.Server); err != nil {
		return rep, fmt.Errorf("read server version: %w", err)
	}
	v, err := ParseVersion(rep.Server)
	if err != nil {
		return rep, err
	}
	rep.Extras = ExtrasFor(v)
	logger.Info("clickhouse server", "version", rep.Server, "extras", rep.Extras)

	if err := conn.Exec(ctx, schemaMigrationsDDL); err != nil {
		return rep, fmt.Errorf("create schema_migrations: %w", err)
	}
	if err := upgradeSchemaMigrations(ctx, conn, cfg.Database); err != nil {
		return rep, err
	}
	applied := map[uint32]bool{}
	rows, err := conn.Query(ctx, "SELECT DISTINCT version FROM schema_migrations")
	if err != nil {
		return rep, fmt.Errorf("read schema_migrations: %w", err)
	}
	for rows.Next() {
		var v uint32
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return rep, fmt.Errorf("read schema_migrations: %w", err)
		}
		applied[v] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return rep, fmt.Errorf("read schema_migrations: %w", err)
	}

	for _, m := range ms {
		if applied[m.Version] {
			continue
		}
		stmts, used, err := Render(m.SQL, rep.Extras)
		if err != nil {
			return rep, fmt.Errorf("migration %s: %w", m.Name, err)
		}
		for i, stmt := range stmts {
			if err := conn.Exec(ctx, stmt); err != nil {
				return rep, fmt.Errorf("migration %s statement %d: %w", m.Name, i+1, err)
			}
		}
		batch, err := conn.PrepareBatch(ctx, "INSERT INTO schema_migrations (version, name, applied_at, server_version, extras)")
		if err != nil {
			return rep, fmt.Errorf("record migration %s: %w", m.Name, err)
		}
		if used == nil {
			used = []string{}
		}
		if err := batch.Append(m.Version, m.Name, time.Now().UTC(), rep.Server, used); err != nil {
			return rep, fmt.Errorf("record migration %s: %w", m.Name, err)
		}
		if err := batch.Send(); err != nil {
			return rep, fmt.Errorf("record migration %s: %w", m.Name, err)
		}
		logger.Info("migration applied", "version", m.Version, "name", m.Name, "extras", used)
		rep.Applied = append(rep.Applied, Applied{Version: m.Version, Name: m.Name, Extras: used})
	}
	return rep, nil
}

// upgradeSchemaMigrations adds the columns a schema_migrations table made
// by an older runner lacks. 18.16 has no ADD COLUMN IF NOT EXISTS, and
// drops a COMMENT given in ADD COLUMN, hence the look-up and the separate
// COMMENT COLUMN.
func upgradeSchemaMigrations(ctx context.Context, conn driver.Conn, database string) error {
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM system.columns WHERE database = ? AND table = 'schema_migrations' AND name = 'extras'",
		database).Scan(&n); err != nil {
		return fmt.Errorf("inspect schema_migrations: %w", err)
	}
	if n > 0 {
		return nil
	}
	for _, stmt := range []string{
		"ALTER TABLE schema_migrations ADD COLUMN server_version String, ADD COLUMN extras Array(String)",
		"ALTER TABLE schema_migrations COMMENT COLUMN server_version '" + serverVersionComment + "', " +
			"COMMENT COLUMN extras '" + extrasComment + "'",
	} {
		if err := conn.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("upgrade schema_migrations: %w", err)
		}
	}
	return nil
}

func quoteIdent(s string) string {
	return "`" + strings.ReplaceAll(s, "`", "\\`") + "`"
}
