package stream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vigil-soc/vigil/pkg/backoff"
)

// Fetch tuning, as the readers of NewGroupReader use.
const (
	fetchMaxBytes    = 16 << 20
	fetchMaxWait     = 250 * time.Millisecond
	fetchReadTimeout = 2 * time.Second
)

// RunSize is the most messages ReadPartition hands over at once.
const RunSize = 1024

// Values are copied into buffers of valueBuffer bytes, each into at least
// valueRoom free bytes; a larger value is read again into a new buffer
// with twice the room, until it fits.
const (
	valueBuffer = 1 << 20
	valueRoom   = 64 << 10
)

var fetchBackoff = backoff.Policy{Initial: 50 * time.Millisecond, Max: 2 * time.Second}

// ReadOptions tune ReadPartition; the zero value reads values only.
type ReadOptions struct {
	// Whole reads each message's key, headers and time too, each key and
	// value in an allocation of its own.
	Whole bool
	// OnError, when set, hears each failed fetch or connection (they are
	// retried).
	OnError func(error)
}

// ReadPartition reads partition of topic from offset (an offset, or
// kafka.FirstOffset or kafka.LastOffset) until ctx ends or deliver fails,
// retrying whatever else fails. deliver gets the messages in offset order,
// in runs of at most RunSize that are the caller's to keep; a run's
// messages have Topic, Partition, Offset, HighWaterMark and Value, and
// unless o.Whole no Key, Headers or Time (ReadMessagesAt reads whole
// messages again). An offset before the first
// one the partition still has starts at the first (logged: Kafka deleted
// what was not read); one after the end waits there for new messages.
// It returns ctx's error or deliver's.
//
// Reading values only costs about half the CPU of a kafka.Reader, which
// hands over one message at a time through a channel and allocates each
// key and value.
func (c *Client) ReadPartition(ctx context.Context, topic string, partition int, offset int64,
	deliver func(context.Context, []kafka.Message) error, o ReadOptions) error {
	logger := c.logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("topic", topic, "partition", partition)
	p := &partitionFetch{topic: topic, partition: partition, deliver: deliver, whole: o.Whole, room: valueRoom}
	failed := func(err error) {
		if o.OnError != nil {
			o.OnError(err)
		}
	}
	for attempt := 0; ; attempt++ {
		if attempt > 0 && !backoff.Sleep(ctx, fetchBackoff.Wait(attempt)) {
			return ctx.Err()
		}
		conn, err := c.dialLeader(ctx, topic, partition)
		if err == nil {
			offset, err = p.start(conn, offset, logger)
		}
		if err != nil {
			if conn != nil {
				conn.Close()
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			failed(err)
			logger.Warn("cannot read partition, retrying", "err", err)
			continue
		}
		from := offset
		offset, err = p.readFrom(ctx, conn, offset, logger)
		conn.Close()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var de deliverError
		if errors.As(err, &de) {
			return de.err
		}
		failed(err)
		logger.Warn("reading partition failed, reconnecting", "offset", offset, "err", err)
		if offset > from {
			attempt = 0 // reading went on: retry after the shortest wait
		}
	}
}

// deliverError is deliver's error, which ends ReadPartition.
type deliverError struct{ err error }

func (e deliverError) Error() string { return e.err.Error() }

// dialLeader connects to the leader of the partition through the first
// broker that answers.
func (c *Client) dialLeader(ctx context.Context, topic string, partition int) (*kafka.Conn, error) {
	var errs []error
	for _, b := range c.cfg.Brokers {
		conn, err := c.dialer().DialLeader(ctx, "tcp", b, topic, partition)
		if err == nil {
			return conn, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("connect to the leader of %s/%d: %w", topic, partition, errors.Join(errs...))
}

// partitionFetch is what ReadPartition keeps between fetches.
type partitionFetch struct {
	topic     string
	partition int
	deliver   func(context.Context, []kafka.Message) error
	whole     bool
	buf       []byte // values are copied to its free end
	room      int    // the least free space a value is read into
}

// start resolves offset on conn and seeks there.
func (p *partitionFetch) start(conn *kafka.Conn, offset int64, logger *slog.Logger) (int64, error) {
	first, last, err := readOffsets(conn)
	if err != nil {
		return offset, err
	}
	switch {
	case offset == kafka.FirstOffset:
		offset = first
	case offset == kafka.LastOffset || offset > last:
		offset = last
	case offset < first:
		logger.Warn("messages deleted before they were read; reading on from the first one kept", "offset", offset, "first", first, "skipped", first-offset)
		offset = first
	}
	if _, err := conn.Seek(offset, kafka.SeekAbsolute|kafka.SeekDontCheck); err != nil {
		return offset, fmt.Errorf("seek %s/%d to %d: %w", p.topic, p.partition, offset, err)
	}
	return offset, nil
}

func readOffsets(conn *kafka.Conn) (first, last int64, err error) {
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return 0, 0, err
	}
	defer conn.SetDeadline(time.Time{})
	first, last, err = conn.ReadOffsets()
	if err != nil {
		return 0, 0, fmt.Errorf("read offsets: %w", err)
	}
	return first, last, nil
}

// readFrom fetches from conn, positioned at offset, until a fetch fails,
// and returns the offset to read next with why it stopped.
func (p *partitionFetch) readFrom(ctx context.Context, conn *kafka.Conn, offset int64, logger *slog.Logger) (int64, error) {
	for {
		if ctx.Err() != nil {
			return offset, ctx.Err()
		}
		next, err := p.fetch(ctx, conn, offset)
		offset = next
		switch {
		case err == nil, errors.Is(err, io.EOF), errors.Is(err, kafka.RequestTimedOut):
			// The end of a batch, or nothing new within the wait.
		case errors.Is(err, io.ErrShortBuffer):
			// A value larger than the free space: read it again into a
			// buffer with twice the room.
			p.room *= 2
			p.buf = nil
		case errors.Is(err, kafka.OffsetOutOfRange):
			first, last, oerr := readOffsets(conn)
			if oerr != nil {
				return offset, oerr
			}
			if offset < first {
				logger.Warn("messages deleted before they were read; reading on from the first one kept", "offset", offset, "first", first, "skipped", first-offset)
				offset = first
				continue
			}
			// Nothing new yet, the partition was truncated, or the
			// leader is behind: wait before fetching again.
			if !backoff.Sleep(ctx, fetchMaxWait) {
				return offset, ctx.Err()
			}
			offset = min(offset, last)
		default:
			return offset, err
		}
	}
}

// fetch reads one batch from conn, at offset, handing its messages to
// deliver; it returns the offset to read next.
func (p *partitionFetch) fetch(ctx context.Context, conn *kafka.Conn, offset int64) (int64, error) {
	// The returned offset is the one position: the connection's own may
	// be elsewhere after a batch that failed.
	if _, err := conn.Seek(offset, kafka.SeekAbsolute|kafka.SeekDontCheck); err != nil {
		return offset, err
	}
	// The broker answers within fetchMaxWait when it has nothing.
	if err := conn.SetReadDeadline(time.Now().Add(fetchMaxWait + fetchReadTimeout)); err != nil {
		return offset, err
	}
	batch := conn.ReadBatchWith(kafka.ReadBatchConfig{MinBytes: 1, MaxBytes: fetchMaxBytes, MaxWait: fetchMaxWait})
	hwm := batch.HighWaterMark()
	run := make([]kafka.Message, 0, RunSize)
	// next is the offset to read next, kept here: a batch that failed
	// before its first message does not know it. It moves only past
	// messages handed over: one before offset is dropped, and a fetch
	// failing after it goes on from offset still.
	next := offset
	var err error
	for {
		if err = conn.SetReadDeadline(time.Now().Add(fetchReadTimeout)); err != nil {
			break
		}
		if !p.whole && cap(p.buf)-len(p.buf) < p.room {
			p.buf = make([]byte, 0, max(valueBuffer, p.room))
		}
		free := p.buf[len(p.buf):cap(p.buf)]
		var m kafka.Message
		if p.whole {
			if m, err = batch.ReadMessage(); err != nil {
				break
			}
		} else {
			var n int
			if n, err = batch.Read(free); err != nil {
				break
			}
			m = kafka.Message{Topic: p.topic, Partition: p.partition, Offset: batch.Offset() - 1,
				HighWaterMark: hwm, Value: free[:n:n]}
		}
		if m.Offset < offset {
			// A fetch returns whole record batches: the messages of the
			// first one before offset are read and dropped (into space
			// the next message overwrites).
			continue
		}
		if !p.whole {
			p.buf = p.buf[:len(p.buf)+len(m.Value)]
			// The room grown for a large value lasts until that value
			// is read, past the smaller ones before it in its batch.
			p.room = valueRoom
		}
		next = m.Offset + 1
		run = append(run, m)
		if len(run) == RunSize {
			if derr := p.deliver(ctx, run); derr != nil {
				batch.Close()
				return next, deliverError{derr}
			}
			run = make([]kafka.Message, 0, RunSize)
		}
	}
	batch.Close()
	if len(run) > 0 {
		if derr := p.deliver(ctx, run); derr != nil {
			return next, deliverError{derr}
		}
	}
	return next, err
}

// ReadMessagesAt reads again the whole messages (keys and headers too) at
// offsets of partition of topic, which must be in increasing order, with
// one connection. Offsets the partition no longer has are left out of the
// result.
func (c *Client) ReadMessagesAt(ctx context.Context, topic string, partition int, offsets []int64) (map[int64]kafka.Message, error) {
	out := make(map[int64]kafka.Message, len(offsets))
	if len(offsets) == 0 {
		return out, nil
	}
	conn, err := c.dialLeader(ctx, topic, partition)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	first, last, err := readOffsets(conn)
	if err != nil {
		return nil, err
	}
	for len(offsets) > 0 && offsets[0] < first {
		offsets = offsets[1:]
	}
	for len(offsets) > 0 && offsets[0] < last {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		at := offsets[0]
		if _, err := conn.Seek(at, kafka.SeekAbsolute|kafka.SeekDontCheck); err != nil {
			return nil, fmt.Errorf("read %s/%d at %d: %w", topic, partition, at, err)
		}
		if err := conn.SetReadDeadline(time.Now().Add(fetchReadTimeout)); err != nil {
			return nil, err
		}
		batch := conn.ReadBatchWith(kafka.ReadBatchConfig{MinBytes: 1, MaxBytes: fetchMaxBytes})
		read := false
		for len(offsets) > 0 {
			m, err := batch.ReadMessage()
			if err != nil {
				break
			}
			read = true
			for len(offsets) > 0 && offsets[0] < m.Offset {
				offsets = offsets[1:] // not in the partition (compacted away)
			}
			if len(offsets) > 0 && offsets[0] == m.Offset {
				out[m.Offset] = m
				offsets = offsets[1:]
			}
		}
		// The rest of a batch read far enough is not needed, whatever
		// reading it would do.
		if err := batch.Close(); err != nil && !errors.Is(err, io.EOF) && len(offsets) > 0 {
			return nil, fmt.Errorf("read %s/%d at %d: %w", topic, partition, at, err)
		}
		if !read {
			return nil, fmt.Errorf("read %s/%d at %d: no message in a fetch", topic, partition, at)
		}
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return out, nil
}
