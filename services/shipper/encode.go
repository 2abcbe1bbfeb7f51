package shipper

import (
	"unicode/utf8"

	"github.com/vigil-soc/vigil/pkg/event"
	"github.com/vigil-soc/vigil/services/shipper/parse"
	"github.com/vigil-soc/vigil/services/shipper/spool"
)

// maxEventBytes bounds one encoded event, well under Kafka's default
// message.max.bytes (1 MiB): JSON escaping can make an event several times
// longer than its line.
const maxEventBytes = 512 << 10

// appendEvent encodes ev at the end of buf and returns the message for it,
// whose key and value point into buf (append only ever moves later bytes,
// so earlier messages stay valid). The key is source.ip, or host.name when
// there is none: every event of one source lands on one partition.
//
// An event over maxEventBytes has its original line cut (at a character
// boundary) until it fits, and is flagged truncated, so no line can stall
// the stream.
func appendEvent(buf []byte, ev *event.Event) ([]byte, spool.Msg, error) {
	start := len(buf)
	key := ev.SrcIP
	if key == "" {
		key = ev.Host
	}
	buf = append(buf, key...)
	mid := len(buf)
	var err error
	for {
		buf, err = event.AppendJSON(buf[:mid], ev)
		if err != nil || len(buf)-mid <= maxEventBytes || ev.Message == "" {
			break
		}
		cut := len(ev.Message) / 2
		for cut > 0 && !utf8.RuneStart(ev.Message[cut]) {
			cut--
		}
		ev.Message = ev.Message[:cut]
		if ev.Attrs == nil {
			ev.Attrs = map[string]string{}
		}
		ev.Attrs[parse.AttrTruncated] = "true"
	}
	if err != nil {
		return buf[:start], spool.Msg{}, err
	}
	return buf, spool.Msg{Key: buf[start:mid:mid], Value: buf[mid:len(buf):len(buf)]}, nil
}
