package processor

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
)

// Headers of the messages on the repartition topic.
const (
	// hdrStage names the re-keyed stage a forwarded event is for.
	hdrStage = "vigil-stage"
	// hdrFrom is "<partition>/<offset>": where the event was read on the
	// events topic. It makes the lane of the receiving engine, and lets it
	// drop a copy forwarded again after a crash.
	hdrFrom = "vigil-from"
	// hdrProgress marks a progress report of events partition
	// "<partition>": its value is "<unix nanos> <idle 0|1>".
	hdrProgress = "vigil-progress"
	// hdrTo sends a message to the partition it names instead of the
	// one its key hashes to.
	hdrTo = "vigil-to"
	// hdrBundle marks a bundle of events forwarded from events partition
	// "<partition>" (see bundle.go).
	hdrBundle = "vigil-bundle"
	// hdrBundleProgress is the progress report a bundle carries, as the
	// value of a progress report: "<unix nanos> <idle 0|1>".
	hdrBundleProgress = "vigil-bundle-progress"
)

// forwardBatch is how many forwarded events wait before they are written
// one message each; forwardBundled, in bundles.
const (
	forwardBatch   = 2000
	forwardBundled = 16384
)

// forwardMessage is value, the event of events-topic message m (trimmed
// for the re-keyed stages, in event's binary form), re-keyed by key for
// stage.
func forwardMessage(stage, key string, value []byte, m *kafka.Message) kafka.Message {
	return kafka.Message{
		Key:   []byte(key),
		Value: value,
		Headers: []kafka.Header{
			{Key: hdrStage, Value: []byte(stage)},
			{Key: hdrFrom, Value: fmt.Appendf(nil, "%d/%d", m.Partition, m.Offset)},
		},
	}
}

// progressMessage reports to repartition partition `to` that events
// partition from has been read up to eventTime, and whether it is idle.
func progressMessage(from, to int, eventTime time.Time, idle bool) kafka.Message {
	return kafka.Message{
		Value: progressValue(eventTime, idle),
		Headers: []kafka.Header{
			{Key: hdrProgress, Value: strconv.AppendInt(nil, int64(from), 10)},
			{Key: hdrTo, Value: strconv.AppendInt(nil, int64(to), 10)},
		},
	}
}

// progressValue is a progress report's value: "<unix nanos> <idle 0|1>",
// 0 nanos when nothing was read yet.
func progressValue(eventTime time.Time, idle bool) []byte {
	flag := 0
	if idle {
		flag = 1
	}
	var nanos int64
	if !eventTime.IsZero() {
		nanos = eventTime.UnixNano()
	}
	return fmt.Appendf(nil, "%d %d", nanos, flag)
}

// parseProgress reads a progress report's value.
func parseProgress(v []byte) (eventTime time.Time, idle bool, err error) {
	nanos, flag, ok := strings.Cut(string(v), " ")
	n, err := strconv.ParseInt(nanos, 10, 64)
	if !ok || err != nil || (flag != "0" && flag != "1") {
		return time.Time{}, false, fmt.Errorf("%w: progress %q", errNotRekeyed, v)
	}
	if n != 0 {
		eventTime = time.Unix(0, n).UTC()
	}
	return eventTime, flag == "1", nil
}

// rekeyed is one message of the repartition topic, decoded.
type rekeyed struct {
	// progress: a progress report, alone or carried by a bundle.
	progress bool
	bundle   bool
	// from is the events partition the message comes from.
	from int
	// Forwarded events: the stage and the offset on the events topic.
	stage  string
	offset int64
	// Progress reports.
	eventTime time.Time
	idle      bool
}

var errNotRekeyed = errors.New("not a repartition message")

// parseRekeyed decodes a message of the repartition topic.
func parseRekeyed(m *kafka.Message) (rekeyed, error) {
	var r rekeyed
	var from, progress, bundle string
	var bundleProgress []byte
	for _, h := range m.Headers {
		switch h.Key {
		case hdrBundle:
			bundle = string(h.Value)
		case hdrBundleProgress:
			bundleProgress = h.Value
		case hdrStage:
			r.stage = string(h.Value)
		case hdrFrom:
			from = string(h.Value)
		case hdrProgress:
			progress = string(h.Value)
		}
	}
	var err error
	switch {
	case bundle != "":
		r.bundle = true
		if r.from, err = strconv.Atoi(bundle); err != nil || r.from < 0 {
			return r, fmt.Errorf("%w: header %s %q", errNotRekeyed, hdrBundle, bundle)
		}
		if bundleProgress != nil {
			r.progress = true
			if r.eventTime, r.idle, err = parseProgress(bundleProgress); err != nil {
				return r, err
			}
		}
	case progress != "":
		r.progress = true
		if r.from, err = strconv.Atoi(progress); err != nil {
			return r, fmt.Errorf("%w: header %s %q", errNotRekeyed, hdrProgress, progress)
		}
		if r.eventTime, r.idle, err = parseProgress(m.Value); err != nil {
			return r, err
		}
	case r.stage != "" && from != "":
		p, o, ok := strings.Cut(from, "/")
		if r.from, err = strconv.Atoi(p); !ok || err != nil {
			return r, fmt.Errorf("%w: header %s %q", errNotRekeyed, hdrFrom, from)
		}
		if r.offset, err = strconv.ParseInt(o, 10, 64); err != nil {
			return r, fmt.Errorf("%w: header %s %q", errNotRekeyed, hdrFrom, from)
		}
	default:
		return r, errNotRekeyed
	}
	return r, nil
}

// toPartition sends a message with the hdrTo header to that partition and
// every other one by Kafka's murmur2 hash of its key.
type toPartition struct{ kafka.Murmur2Balancer }

func (b toPartition) Balance(m kafka.Message, partitions ...int) int {
	for _, h := range m.Headers {
		if h.Key != hdrTo {
			continue
		}
		if n, err := strconv.Atoi(string(h.Value)); err == nil && slices.Contains(partitions, n) {
			return n
		}
	}
	return b.Murmur2Balancer.Balance(m, partitions...)
}
