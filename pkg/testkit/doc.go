// Package testkit starts the real infrastructure Vigil's integration tests
// run against: an embedded Kafka-protocol broker on a free loopback port, and
// a fresh database on the test ClickHouse server that `make test` starts.
// Nothing here is a mock.
package testkit
