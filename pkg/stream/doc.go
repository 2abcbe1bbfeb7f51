// Package stream is Vigil's Kafka plumbing on top of segmentio/kafka-go:
// writers, group readers and consumer groups built from the configuration
// (SASL, TLS, compression), tables that follow a compacted topic, topic
// creation, and waiting for a broker that is not up yet.
package stream
