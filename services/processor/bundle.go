package processor

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
)

// A bundle carries many forwarded events of one events partition to one
// repartition partition in a single Kafka message
// (processor.forward_format: bundles): the cost Kafka has per message
// (record, headers, batching, fetching) is paid once for all of them.
// Every event in it keeps its own offset, so the receiving engine drops a
// copy sent again after a crash event by event, whatever the bundles it
// came in.
//
// An events task writes at most one message to each repartition
// partition per flush, a bundle or a progress report alone, and starts
// the next flush only once every message of the last is acknowledged. A
// writer may split the messages of one call into several requests and
// retry one while a later one lands, so two messages of one flush to the
// same partition could land out of order, and the events of the first
// would then be taken for copies; with one message per partition and
// flush, a message that lands late is a copy of one acknowledged before.
// For the same reason a bundle carries the progress report of its flush
// in a header (hdrBundleProgress) rather than in a message of its own:
// the report never lands before the events it covers.
//
// The value of a bundle is
//
//	bundleV1
//	uvarint stage count, then each stage name (uvarint length, bytes)
//	items until the end, each:
//	  uvarint stage index, uvarint offset on the events partition,
//	  uvarint length, the event (pkg/event's binary form, trimmed)
//
// and its header hdrBundle names the events partition.
const bundleV1 = 0xB1

// bundleBytes is the size of a bundle at which its task flushes: a bundle
// stays well under a broker's default largest message (1 MiB) and the
// writers' largest batch (1 MiB).
const bundleBytes = 512 << 10

// bundler builds the bundles of one events partition for a flush: one per
// repartition partition.
type bundler struct {
	from   int
	stages []string
	parts  []int    // the repartition partitions, 0..n-1
	open   [][]byte // per repartition partition, the bundle being built
	// last is, per repartition partition, the size of the last bundle
	// taken: what the next is allocated for.
	last  []int
	items int  // events in the bundles
	full  bool // a bundle reached bundleBytes
	// report is the progress report of the flush, when one is due.
	report *progressReport
}

// progressReport is how far an events partition has been read, in event
// time, and whether it is idle.
type progressReport struct {
	eventTime time.Time
	idle      bool
}

func newBundler(from, partitions int, stages []string) *bundler {
	b := &bundler{from: from, stages: stages, open: make([][]byte, partitions), last: make([]int, partitions)}
	for i := range partitions {
		b.parts = append(b.parts, i)
	}
	return b
}

// partition is the repartition partition of key: the one a message with
// that key goes to by Kafka's murmur2 hash, as when events are forwarded
// one by one.
func (b *bundler) partition(key string) int {
	return kafka.Murmur2Balancer{}.Balance(kafka.Message{Key: []byte(key)}, b.parts...)
}

// add adds ev (in the binary form), read at offset, for stage (an index
// into the stages), to the bundle of the partition key goes to.
func (b *bundler) add(stage int, key string, offset int64, ev []byte) {
	to := b.partition(key)
	buf := b.open[to]
	if len(buf) == 0 {
		buf = make([]byte, 0, min(max(b.last[to], len(ev)+64), bundleBytes+len(ev)+32))
		buf = append(buf, bundleV1)
		buf = binary.AppendUvarint(buf, uint64(len(b.stages)))
		for _, s := range b.stages {
			buf = binary.AppendUvarint(buf, uint64(len(s)))
			buf = append(buf, s...)
		}
	}
	buf = binary.AppendUvarint(buf, uint64(stage))
	buf = binary.AppendUvarint(buf, uint64(offset))
	buf = binary.AppendUvarint(buf, uint64(len(ev)))
	buf = append(buf, ev...)
	b.open[to] = buf
	b.items++
	b.full = b.full || len(buf) >= bundleBytes
}

// progress makes r the progress report of the next flush.
func (b *bundler) progress(r progressReport) { b.report = &r }

// pending reports whether the next flush has something to write.
func (b *bundler) pending() bool { return b.items > 0 || b.report != nil }

// take appends the messages of a flush to msgs, at most one per
// repartition partition: its bundle, with the progress report when one is
// due, or the report alone. It empties the bundler.
func (b *bundler) take(msgs []kafka.Message) []kafka.Message {
	for to, buf := range b.open {
		switch {
		case len(buf) > 0:
			m := kafka.Message{Value: buf, Headers: []kafka.Header{
				{Key: hdrBundle, Value: strconv.AppendInt(nil, int64(b.from), 10)},
				{Key: hdrTo, Value: strconv.AppendInt(nil, int64(to), 10)},
			}}
			if b.report != nil {
				m.Headers = append(m.Headers, kafka.Header{Key: hdrBundleProgress, Value: progressValue(b.report.eventTime, b.report.idle)})
			}
			msgs = append(msgs, m)
			b.last[to] = len(buf)
			b.open[to] = nil // the message owns the bytes now
		case b.report != nil:
			msgs = append(msgs, progressMessage(b.from, to, b.report.eventTime, b.report.idle))
		}
	}
	b.items, b.full, b.report = 0, false, nil
	return msgs
}

var errBundle = errors.New("truncated or malformed bundle")

// bundleItem is one forwarded event of a bundle.
type bundleItem struct {
	stage  string
	offset int64
	event  []byte // aliases the bundle
}

// readBundle calls fn with each item of bundle value v, in order, and
// stops at the first error, fn's or a malformed item's (the items before
// it were handed over).
func readBundle(v []byte, fn func(bundleItem) error) error {
	if len(v) == 0 || v[0] != bundleV1 {
		return fmt.Errorf("%w: no bundle marker", errBundle)
	}
	r := byteReader{b: v[1:], bad: errBundle}
	n := r.count(1)
	stages := make([]string, 0, n)
	for range n {
		stages = append(stages, string(r.bytes()))
	}
	for r.err == nil && len(r.b) > 0 {
		st, off, ev := r.uvarint(), r.uvarint(), r.bytes()
		if r.err != nil {
			break
		}
		if st >= uint64(len(stages)) || off > 1<<62 {
			return fmt.Errorf("%w: stage %d of %d, offset %d", errBundle, st, len(stages), off)
		}
		if err := fn(bundleItem{stage: stages[st], offset: int64(off), event: ev}); err != nil {
			return err
		}
	}
	return r.err
}
