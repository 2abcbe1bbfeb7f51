// Package stream is Vigil's Kafka plumbing on top of segmentio/kafka-go:
// writers and group readers built from the configuration (SASL, TLS,
// compression), topic creation, and waiting for a broker that is not up yet.
package stream
