package stream

import (
	"strconv"

	"github.com/segmentio/kafka-go"
)

// Headers set on dead-letter messages.
const (
	HeaderDLQReason    = "vigil.dlq.reason"
	HeaderDLQTopic     = "vigil.dlq.topic"
	HeaderDLQPartition = "vigil.dlq.partition"
	HeaderDLQOffset    = "vigil.dlq.offset"
	HeaderDLQStage     = "vigil.dlq.stage"
)

// DeadLetter returns the message to publish on a dead-letter topic for m:
// m's key and value unchanged, and headers saying which stage gave up on it,
// why, and where it came from.
func DeadLetter(m kafka.Message, stage, reason string) kafka.Message {
	if len(reason) > 1024 {
		reason = reason[:1024]
	}
	return kafka.Message{
		Key:   m.Key,
		Value: m.Value,
		Headers: append(append([]kafka.Header(nil), m.Headers...),
			kafka.Header{Key: HeaderDLQStage, Value: []byte(stage)},
			kafka.Header{Key: HeaderDLQReason, Value: []byte(reason)},
			kafka.Header{Key: HeaderDLQTopic, Value: []byte(m.Topic)},
			kafka.Header{Key: HeaderDLQPartition, Value: []byte(strconv.Itoa(m.Partition))},
			kafka.Header{Key: HeaderDLQOffset, Value: []byte(strconv.FormatInt(m.Offset, 10))},
		),
	}
}
