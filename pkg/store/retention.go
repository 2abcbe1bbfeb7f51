package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/vigil-soc/vigil/pkg/config"
)

// Keep is how many days one table keeps; 0 keeps it forever.
type Keep struct {
	Table string
	Days  int
}

// RetentionPlan lists every table retention applies to with the days r
// gives it, in a fixed order.
func RetentionPlan(r config.RetentionConfig) []Keep {
	return []Keep{
		{"events", r.EventsDays},
		{"scores", r.ScoresDays},
		{"alerts", r.AlertsDays},
		{"events_per_minute", r.RollupsDays},
		{"failed_auth_per_minute", r.RollupsDays},
	}
}

// Expired reports whether the partition of day (a UTC date) is past a
// retention of days at now: all of it is older than days days, i.e. day
// is before today (UTC) minus days. Today and later are never expired, nor
// is anything when days is 0.
func Expired(day time.Time, days int, now time.Time) bool {
	if days <= 0 {
		return false
	}
	today := now.UTC().Truncate(24 * time.Hour)
	return day.Before(today.AddDate(0, 0, -days)) && day.Before(today)
}

// Partition is one day partition of a table.
type Partition struct {
	Table string
	// Day is the partition's date, midnight UTC.
	Day time.Time
	// Rows is how many rows its active parts hold.
	Rows uint64
}

// ID is the partition's value as ALTER TABLE … DROP PARTITION takes it.
func (p Partition) ID() string { return p.Day.Format("20060102") }

// EnforceRetention drops, from each table of the plan with a retention, the
// day partitions Expired at now, and returns them. With dryRun it only
// returns them. Tables must be partitioned by toYYYYMMDD(…), as every table
// of the plan is; partitions are listed from system.parts, so this works on
// every server version.
func EnforceRetention(ctx context.Context, conn driver.Conn, database string, plan []Keep, now time.Time, dryRun bool) ([]Partition, error) {
	var dropped []Partition
	for _, k := range plan {
		if k.Days <= 0 {
			continue
		}
		parts, err := DayPartitions(ctx, conn, database, k.Table)
		if err != nil {
			return dropped, err
		}
		for _, p := range parts {
			if !Expired(p.Day, k.Days, now) {
				continue
			}
			if !dryRun {
				if err := conn.Exec(ctx, fmt.Sprintf("ALTER TABLE %s.%s DROP PARTITION %s",
					quoteIdent(database), quoteIdent(k.Table), p.ID())); err != nil {
					return dropped, fmt.Errorf("drop partition %s of %s: %w", p.ID(), k.Table, err)
				}
			}
			dropped = append(dropped, p)
		}
	}
	return dropped, nil
}

// DayPartitions lists the partitions of a table partitioned by day
// (toYYYYMMDD), oldest first, with the rows of their active parts.
func DayPartitions(ctx context.Context, conn driver.Conn, database, table string) ([]Partition, error) {
	var key string
	if err := conn.QueryRow(ctx, "SELECT partition_key FROM system.tables WHERE database = ? AND name = ?",
		database, table).Scan(&key); err != nil {
		return nil, fmt.Errorf("retention of %s.%s: no such table (run vigil migrate): %w", database, table, err)
	}
	if !strings.HasPrefix(key, "toYYYYMMDD(") {
		return nil, fmt.Errorf("retention of %s.%s: partitioned by %q, not by day (toYYYYMMDD)", database, table, key)
	}
	rows, err := conn.Query(ctx, "SELECT partition, sum(rows) FROM system.parts WHERE database = ? AND table = ? AND active GROUP BY partition ORDER BY partition",
		database, table)
	if err != nil {
		return nil, fmt.Errorf("list partitions of %s: %w", table, err)
	}
	defer rows.Close()
	var out []Partition
	for rows.Next() {
		var id string
		var n uint64
		if err := rows.Scan(&id, &n); err != nil {
			return nil, fmt.Errorf("list partitions of %s: %w", table, err)
		}
		day, err := time.Parse("20060102", id)
		if err != nil || len(id) != 8 {
			return nil, fmt.Errorf("retention of %s: partition %q is not a day (YYYYMMDD)", table, id)
		}
		out = append(out, Partition{Table: table, Day: day, Rows: n})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list partitions of %s: %w", table, err)
	}
	return out, nil
}
