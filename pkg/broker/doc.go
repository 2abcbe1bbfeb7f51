// Package broker runs the embedded Kafka-protocol broker (franz-go's kfake)
// that `vigil broker` and `vigil up` serve on this machine. It speaks the real
// Kafka protocol, so every Vigil service, kcat and librdkafka clients talk to
// it as to Apache Kafka; topics and committed offsets persist in a data
// directory across restarts.
package broker
