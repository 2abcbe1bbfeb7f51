// Package store is Vigil's ClickHouse plumbing: connecting with the
// configured credentials, waiting for a server that is not up yet,
// applying the numbered migrations embedded from schemas/clickhouse
// (rendered for the server's version: see Extras), and enforcing
// retention by dropping expired day partitions.
package store
