// Package archiver consumes events, scores and alerts from Kafka and writes
// them to ClickHouse in batches, committing Kafka offsets only after the
// insert that holds them succeeded. Messages it cannot decode go to the
// dead-letter topic with the reason; the rest flows on.
package archiver
