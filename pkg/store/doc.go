// Package store is Vigil's ClickHouse plumbing: connecting with the
// configured credentials, waiting for a server that is not up yet, and
// applying the numbered migrations embedded from schemas/clickhouse.
package store
