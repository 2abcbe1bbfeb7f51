package stream

import (
	"context"
	"maps"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	metadataAPI "github.com/segmentio/kafka-go/protocol/metadata"
)

// writerMetadataTTL is how long a writer's view of a topic's partitions is
// reused before the transport is asked again.
const writerMetadataTTL = time.Second

// writerTransport is the transport of writers. kafka-go's Writer asks the
// transport for the topic's metadata once per message it is given, to
// count the partitions; the transport answers from its own cache, but
// building each answer (a lock, a channel, a copy of the response) costs
// as much as a good part of the rest of publishing the message. A topic's
// answer is kept here for writerMetadataTTL instead, so a writer given a
// batch of thousands of messages asks once. Only successful answers for
// one topic, without topic creation, are kept; every other request goes to
// the transport as it is.
type writerTransport struct {
	next kafka.RoundTripper
	ttl  time.Duration
	now  func() time.Time

	// topics maps a topic to its cached answer. It is replaced, never
	// changed, so reading it takes no lock; mu orders the replacements.
	topics atomic.Pointer[map[string]cachedTopic]
	mu     sync.Mutex
}

type cachedTopic struct {
	res     *metadataAPI.Response
	expires time.Time
}

func newWriterTransport(next kafka.RoundTripper) *writerTransport {
	t := &writerTransport{next: next, ttl: writerMetadataTTL, now: time.Now}
	t.topics.Store(&map[string]cachedTopic{})
	return t
}

// RoundTrip answers a one-topic metadata request from the cache when it
// can, and sends everything else on.
func (t *writerTransport) RoundTrip(ctx context.Context, addr net.Addr, req kafka.Request) (kafka.Response, error) {
	m, ok := req.(*metadataAPI.Request)
	if !ok || len(m.TopicNames) != 1 || m.AllowAutoTopicCreation {
		return t.next.RoundTrip(ctx, addr, req)
	}
	topic, now := m.TopicNames[0], t.now()
	c, hit := (*t.topics.Load())[topic]
	if hit && now.Before(c.expires) {
		return c.res, nil
	}
	res, err := t.next.RoundTrip(ctx, addr, req)
	if err != nil {
		return res, err
	}
	if r, ok := res.(*metadataAPI.Response); ok && usable(r, topic) {
		t.mu.Lock()
		next := maps.Clone(*t.topics.Load())
		next[topic] = cachedTopic{res: r, expires: now.Add(t.ttl)}
		t.topics.Store(&next)
		t.mu.Unlock()
	}
	return res, nil
}

// usable reports whether r describes topic, without error, with partitions.
func usable(r *metadataAPI.Response, topic string) bool {
	for _, tp := range r.Topics {
		if tp.Name == topic {
			return tp.ErrorCode == 0 && len(tp.Partitions) > 0
		}
	}
	return false
}
