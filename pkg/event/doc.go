// Package event defines Vigil's event envelope: the one JSON object per Kafka
// message that every source produces and every stage consumes. It holds the
// Go type, its encoding and validation, and the deterministic event id that
// lets downstream stages remove redelivered copies.
package event
