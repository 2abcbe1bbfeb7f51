// Package receiver holds what the shipper's network receivers (syslog,
// httpin) share: the Sink they append events to, which the spool
// satisfies; Encode, which turns an event into the Kafka message the spool
// holds; and ServerTLS, their TLS server settings.
package receiver

import (
	"context"
	"unicode/utf8"

	"github.com/vigil-soc/vigil/pkg/event"
	"github.com/vigil-soc/vigil/services/shipper/parse"
	"github.com/vigil-soc/vigil/services/shipper/spool"
)

// Sink takes batches of encoded events. *spool.Spool satisfies it.
type Sink interface {
	// Append queues msgs as one batch, blocking while the sink is full
	// until ctx ends. With durable, the batch survives the process once
	// Append returns.
	Append(ctx context.Context, msgs []spool.Msg, onAck func(), durable bool) error
	// TryAppend is Append that returns spool.ErrFull at once instead of
	// waiting.
	TryAppend(msgs []spool.Msg, onAck func(), durable bool) error
}

var _ Sink = (*spool.Spool)(nil)

// MaxEventBytes bounds one encoded event, well under Kafka's default
// message.max.bytes (1 MiB): JSON escaping can make an event several times
// longer than the message it came from.
const MaxEventBytes = 512 << 10

// Encode returns ev as a spool message: the value is the envelope's JSON,
// the key its source.ip, or host.name when it has none, so that every
// event of one source lands on one partition. An event longer than
// MaxEventBytes has its original message cut (at a character boundary)
// until it fits, and is flagged truncated.
func Encode(ev *event.Event) (spool.Msg, error) {
	_, msg, err := AppendEvent(nil, ev)
	return msg, err
}

// AppendEvent is Encode into the end of buf: it returns the extended
// buffer and the message, whose key and value point into it (append only
// ever moves later bytes, so messages made earlier stay valid).
func AppendEvent(buf []byte, ev *event.Event) ([]byte, spool.Msg, error) {
	start := len(buf)
	key := ev.SrcIP
	if key == "" {
		key = ev.Host
	}
	buf = append(buf, key...)
	mid := len(buf)
	buf, err := event.AppendJSON(buf, ev)
	for err == nil && len(buf)-mid > MaxEventBytes && ev.Message != "" {
		// Keep the share of the message that fits if its bytes escape as
		// the whole event did; the message shrinks every round, so the
		// loop ends.
		keep := max(int(int64(len(ev.Message))*MaxEventBytes/int64(len(buf)-mid))-1, 0)
		for keep > 0 && !utf8.RuneStart(ev.Message[keep]) {
			keep--
		}
		ev.Message = ev.Message[:keep]
		if ev.Attrs == nil {
			ev.Attrs = make(map[string]string, 1)
		}
		ev.Attrs[parse.AttrTruncated] = "true"
		buf, err = event.AppendJSON(buf[:mid], ev)
	}
	if err != nil {
		return buf[:start], spool.Msg{}, err
	}
	return buf, spool.Msg{Key: buf[start:mid:mid], Value: buf[mid:len(buf):len(buf)]}, nil
}
