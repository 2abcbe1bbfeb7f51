// Package stream is Vigil's Kafka plumbing on top of segmentio/kafka-go:
// writers, group readers and consumer groups built from the configuration
// (SASL, TLS, compression), tables that follow a compacted topic, topic
// creation, and waiting for a broker that is not up yet.
//
// Loading the package replaces kafka-go's lz4 codec with one writing
// 64 KiB blocks (lz4.go), and its writers learn a topic's partitions once
// a second rather than once per message (metadata.go).
package stream
