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

// Migrate creates the database if needed and applies, in order, every
// embedded migration not yet recorded in its schema_migrations table. It
// returns the versions it applied; running it again applies nothing.
func Migrate(ctx context.Context, cfg config.ClickHouseConfig, logger *slog.Logger) ([]uint32, error) {
	ms, err := Migrations()
	if err != nil {
		return nil, err
	}
	admin, err := open(cfg, "default")
	if err != nil {
		return nil, err
	}
	defer admin.Close()
	if err := admin.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+quoteIdent(cfg.Database)); err != nil {
		return nil, fmt.Errorf("create database %s: %w", cfg.Database, err)
	}
	conn, err := Open(cfg)
	if err != nil {
		return nil, err
	}
	defer conn.Close()

	const ddl = `CREATE TABLE IF NOT EXISTS schema_migrations
(
    version    UInt32   COMMENT 'Migration number (file name prefix)',
    name       String   COMMENT 'Migration file name without .sql',
    applied_at DateTime('UTC') COMMENT 'When it was applied, UTC'
)
ENGINE = ReplacingMergeTree
ORDER BY version`
	if err := conn.Exec(ctx, ddl); err != nil {
		return nil, fmt.Errorf("create schema_migrations: %w", err)
	}
	applied := map[uint32]bool{}
	rows, err := conn.Query(ctx, "SELECT DISTINCT version FROM schema_migrations")
	if err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	for rows.Next() {
		var v uint32
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read schema_migrations: %w", err)
		}
		applied[v] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}

	var done []uint32
	for _, m := range ms {
		if applied[m.Version] {
			continue
		}
		for i, stmt := range Statements(m.SQL) {
			if err := conn.Exec(ctx, stmt); err != nil {
				return done, fmt.Errorf("migration %s statement %d: %w", m.Name, i+1, err)
			}
		}
		batch, err := conn.PrepareBatch(ctx, "INSERT INTO schema_migrations (version, name, applied_at)")
		if err != nil {
			return done, fmt.Errorf("record migration %s: %w", m.Name, err)
		}
		if err := batch.Append(m.Version, m.Name, time.Now().UTC()); err != nil {
			return done, fmt.Errorf("record migration %s: %w", m.Name, err)
		}
		if err := batch.Send(); err != nil {
			return done, fmt.Errorf("record migration %s: %w", m.Name, err)
		}
		logger.Info("migration applied", "version", m.Version, "name", m.Name)
		done = append(done, m.Version)
	}
	return done, nil
}

func quoteIdent(s string) string {
	return "`" + strings.ReplaceAll(s, "`", "\\`") + "`"
}
