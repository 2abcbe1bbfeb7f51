// Package spool is the shipper's bounded, ordered queue of batches between
// its sources and Kafka. Batches are held in memory up to a budget and
// written to segment files on disk beyond it (or always, for batches that
// must survive a crash, such as events received over the network); when the
// spool holds its maximum, Append blocks (or TryAppend fails) so sources
// slow down instead of dropping or growing memory.
//
// Batches are handed out by Next in the order they were appended. A batch
// is acknowledged with Ack once Kafka has it; acknowledgements may arrive
// out of order, but the callbacks given to Append run strictly in order, so
// a source can move its checkpoint to the end of a batch knowing every batch
// before it is delivered too. Batches on disk that were not acknowledged
// when the process stopped are handed out again after Open.
package spool

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ErrFull is returned by TryAppend when the spool has no room.
var ErrFull = errors.New("spool full")

// ErrClosed is returned once Close was called.
var ErrClosed = errors.New("spool closed")

// Msg is one Kafka message.
type Msg struct {
	Key, Value []byte
}

// Batch is what Next hands out.
type Batch struct {
	// Seq orders batches; pass it to Ack.
	Seq uint64
	// Msgs are the batch's messages, in order.
	Msgs []Msg
	// Added is when the batch was appended (or, for a batch recovered from
	// disk, when it was read back).
	Added time.Time
}

// Options configure a spool; zero values take the defaults.
type Options struct {
	// Dir holds the segment files and the acknowledgement mark. Required.
	Dir string
	// MemoryBytes is how many bytes of messages are kept in memory; batches
	// beyond it are written to disk. Default 64 MiB.
	MemoryBytes int64
	// MaxBytes is how many bytes of unacknowledged messages the spool holds
	// in all; Append blocks beyond it. One batch is always accepted into an
	// empty spool, whatever its size. Default 1 GiB.
	MaxBytes int64
	// SegmentBytes is the size at which a new segment file is started.
	// Default 64 MiB.
	SegmentBytes int64
}

func (o *Options) defaults() {
	if o.MemoryBytes <= 0 {
		o.MemoryBytes = 64 << 20
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = 1 << 30
	}
	if o.SegmentBytes <= 0 {
		o.SegmentBytes = 64 << 20
	}
}

// Stats describe what the spool holds.
type Stats struct {
	// Batches and Bytes are unacknowledged batches and their message bytes.
	Batches int
	Bytes   int64
	// MemoryBytes are message bytes held in memory.
	MemoryBytes int64
	// DiskBytes is the size of the segment files.
	DiskBytes int64
	// Oldest is when the oldest unacknowledged batch was appended; zero when
	// there is none.
	Oldest time.Time
	// Recovered counts batches read back from disk by Open; Torn counts
	// bytes of a partly written last record that Open cut off.
	Recovered int
	Torn      int64
}

// entry is one unacknowledged batch.
type entry struct {
	seq   uint64
	msgs  []Msg // nil when only on disk
	size  int64
	added time.Time
	onAck func()
	seg   *segment // nil when only in memory
	off   int64    // frame offset in seg
	n     int64    // frame length
	acked bool
}

// segment is one file of frames, named after the first sequence number it
// holds.
type segment struct {
	path string
	last uint64 // highest sequence number written
	size int64
	f    *os.File // open for appending while active
}

// Spool is safe for concurrent use.
type Spool struct {
	opts Options

	ackMu sync.Mutex // serialises Ack, so callbacks run in order

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced on every change
	queue    []*entry      // unacknowledged, in order
	next     int           // index in queue of the next batch to hand out
	pending  int64         // message bytes in queue
	memBytes int64
	nextSeq  uint64
	acked    uint64 // every batch up to here is acknowledged
	segs     []*segment
	closed   bool
	spill    bool // Kafka is unreachable: waiting appends go to disk
	stats    Stats
}

const (
	ackFile   = "acked"
	segSuffix = ".seg"
	frameHead = 8 // length and CRC-32C of the payload
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// Open opens the spool in opts.Dir, creating it if needed; batches left on
// disk unacknowledged are queued first, for Next to hand out again.
func Open(opts Options) (*Spool, error) {
	if opts.Dir == "" {
		return nil, errors.New("spool: no directory")
	}
	opts.defaults()
	if err := os.MkdirAll(opts.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	s := &Spool{opts: opts, changed: make(chan struct{})}
	if err := s.recover(); err != nil {
		return nil, err
	}
	return s, nil
}

// recover reads the acknowledgement mark and queues every frame after it.
func (s *Spool) recover() error {
	b, err := os.ReadFile(filepath.Join(s.opts.Dir, ackFile))
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return fmt.Errorf("spool: read mark: %w", err)
	default:
		if s.acked, err = strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err != nil {
			return fmt.Errorf("spool: mark %s: %w", filepath.Join(s.opts.Dir, ackFile), err)
		}
	}
	names, err := filepath.Glob(filepath.Join(s.opts.Dir, "*"+segSuffix))
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	sort.Strings(names) // zero-padded sequence numbers sort in order
	s.nextSeq = s.acked + 1
	now := time.Now()
	for _, name := range names {
		seg := &segment{path: name}
		if err := s.scan(seg, now); err != nil {
			return err
		}
		if seg.last <= s.acked {
			if err := os.Remove(name); err != nil {
				return fmt.Errorf("spool: remove delivered segment: %w", err)
			}
			continue
		}
		s.segs = append(s.segs, seg)
		s.stats.DiskBytes += seg.size
	}
	return nil
}

// scan queues the unacknowledged frames of seg, cutting off a torn tail.
func (s *Spool) scan(seg *segment, now time.Time) error {
	f, err := os.OpenFile(seg.path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	var off int64
	for {
		seq, msgs, n, err := readFrame(r)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			// A record cut short by a crash (or damaged): everything after
			// it is unreadable; keep what came before.
			fi, serr := f.Stat()
			if serr == nil {
				s.stats.Torn += fi.Size() - off
			}
			if err := f.Truncate(off); err != nil {
				return fmt.Errorf("spool: cut torn record of %s: %w", seg.path, err)
			}
			break
		}
		seg.last = max(seg.last, seq)
		if seq > s.acked {
			e := &entry{seq: seq, size: msgBytes(msgs), added: now, seg: seg, off: off, n: n}
			s.queue = append(s.queue, e)
			s.pending += e.size
			s.stats.Recovered++
		}
		s.nextSeq = max(s.nextSeq, seq+1)
		off += n
	}
	seg.size = off
	return nil
}

// Append queues msgs as one batch, blocking while the spool is full until
// ctx ends. onAck, if not nil, runs once the batch and every batch before
// it are acknowledged. With durable, the batch is on disk (in the page
// cache: it survives the process, not the machine) before Append returns.
func (s *Spool) Append(ctx context.Context, msgs []Msg, onAck func(), durable bool) error {
	return s.append(ctx, msgs, onAck, durable, true)
}

// TryAppend is Append that returns ErrFull at once instead of waiting.
func (s *Spool) TryAppend(msgs []Msg, onAck func(), durable bool) error {
	return s.append(context.Background(), msgs, onAck, durable, false)
}

func (s *Spool) append(ctx context.Context, msgs []Msg, onAck func(), durable, wait bool) error {
	size := msgBytes(msgs)
	s.mu.Lock()
	defer s.mu.Unlock()
	for !s.closed && len(s.queue) > 0 && (s.pending+size > s.opts.MaxBytes || wait && !durable && !s.spill && s.memBytes > 0 && s.memBytes+size > s.opts.MemoryBytes) {
		if !wait {
			return ErrFull
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			s.mu.Lock()
			return ctx.Err()
		}
		s.mu.Lock()
	}
	if s.closed {
		return ErrClosed
	}
	e := &entry{seq: s.nextSeq, size: size, added: time.Now(), onAck: onAck}
	// A durable batch lives on disk only (it is read back to be sent), so
	// the memory budget is left to the batches that can wait for it.
	if !durable && (s.memBytes == 0 || s.memBytes+size <= s.opts.MemoryBytes) {
		e.msgs = msgs
		s.memBytes += size
	} else if err := s.write(e, msgs); err != nil {
		return err
	}
	s.nextSeq++
	s.queue = append(s.queue, e)
	s.pending += size
	s.notify()
	return nil
}

// write appends e's frame to the active segment, starting one if needed.
func (s *Spool) write(e *entry, msgs []Msg) error {
	var seg *segment
	if n := len(s.segs); n > 0 && s.segs[n-1].f != nil && s.segs[n-1].size < s.opts.SegmentBytes {
		seg = s.segs[n-1]
	} else {
		if n > 0 && s.segs[n-1].f != nil {
			s.segs[n-1].f.Close()
			s.segs[n-1].f = nil
		}
		path := filepath.Join(s.opts.Dir, fmt.Sprintf("%020d%s", e.seq, segSuffix))
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_TRUNC, 0o640)
		if err != nil {
			return fmt.Errorf("spool: %w", err)
		}
		seg = &segment{path: path, f: f}
		s.segs = append(s.segs, seg)
	}
	frame := appendFrame(nil, e.seq, msgs)
	if _, err := seg.f.Write(frame); err != nil {
		// The frame may be partly written: cut it off, so the segment stays
		// readable.
		if terr := seg.f.Truncate(seg.size); terr != nil {
			seg.f.Close()
			seg.f = nil // never append to it again
		}
		return fmt.Errorf("spool: write %s: %w", seg.path, err)
	}
	e.seg, e.off, e.n = seg, seg.size, int64(len(frame))
	seg.size += e.n
	seg.last = e.seq
	s.stats.DiskBytes += e.n
	return nil
}

// SetSpill says whether Kafka is unreachable. While it is not, a waiting
// Append of a batch that need not be durable waits for room in memory (its
// source can read it again); while it is, such batches go to disk, so that
// sources keep reading (a rotated file may be deleted before Kafka is back)
// until MaxBytes.
func (s *Spool) SetSpill(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.spill != on {
		s.spill = on
		s.notify()
	}
}

// Next returns the next batch not yet handed out, waiting for one until
// ctx ends. A batch held only on disk is read back.
func (s *Spool) Next(ctx context.Context) (Batch, error) {
	s.mu.Lock()
	for !s.closed && s.next >= len(s.queue) {
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return Batch{}, ctx.Err()
		}
		s.mu.Lock()
	}
	if s.closed {
		s.mu.Unlock()
		return Batch{}, ErrClosed
	}
	e := s.queue[s.next]
	b := Batch{Seq: e.seq, Msgs: e.msgs, Added: e.added}
	if e.msgs == nil && e.seg != nil {
		// Read back under the lock: on failure the batch stays next, for
		// the caller to try again, and no other caller takes the one after
		// it meanwhile. Only batches that went to disk are read.
		msgs, err := readAt(e.seg.path, e.off, e.n)
		if err != nil {
			s.mu.Unlock()
			return Batch{}, fmt.Errorf("spool: read batch %d: %w", e.seq, err)
		}
		b.Msgs = msgs
	}
	s.next++
	s.mu.Unlock()
	return b, nil
}

// Ack records that the batch seq was delivered. The callbacks of every
// batch now delivered in order run before Ack returns.
func (s *Spool) Ack(seq uint64) error {
	s.ackMu.Lock()
	defer s.ackMu.Unlock()
	s.mu.Lock()
	var calls []func()
	var err error
	for _, e := range s.queue[:s.next] {
		if e.seq == seq {
			e.acked = true
			break
		}
	}
	onDisk := false
	for len(s.queue) > 0 && s.queue[0].acked {
		e := s.queue[0]
		s.queue[0] = nil
		s.queue = s.queue[1:]
		s.next--
		s.pending -= e.size
		if e.msgs != nil {
			s.memBytes -= e.size
		}
		onDisk = onDisk || e.seg != nil
		s.acked = e.seq
		if e.onAck != nil {
			calls = append(calls, e.onAck)
		}
	}
	if onDisk {
		err = s.markLocked()
	}
	s.notify()
	s.mu.Unlock()
	for _, f := range calls {
		f()
	}
	return err
}

// markLocked saves the acknowledgement mark and removes segments holding
// only acknowledged batches.
func (s *Spool) markLocked() error {
	path := filepath.Join(s.opts.Dir, ackFile)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.FormatUint(s.acked, 10)+"\n"), 0o640); err != nil {
		return fmt.Errorf("spool: save mark: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("spool: save mark: %w", err)
	}
	keep := s.segs[:0]
	var errs []error
	for _, seg := range s.segs {
		if seg.last > s.acked {
			keep = append(keep, seg)
			continue
		}
		if seg.f != nil {
			seg.f.Close()
		}
		if err := os.Remove(seg.path); err != nil {
			errs = append(errs, fmt.Errorf("spool: remove delivered segment: %w", err))
		}
		s.stats.DiskBytes -= seg.size
	}
	clear(s.segs[len(keep):])
	s.segs = keep
	return errors.Join(errs...)
}

// Stats returns what the spool holds now.
func (s *Spool) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Batches, st.Bytes, st.MemoryBytes = len(s.queue), s.pending, s.memBytes
	if len(s.queue) > 0 {
		st.Oldest = s.queue[0].added
	}
	return st
}

// Wait blocks until every batch appended so far is acknowledged, or ctx
// ends.
func (s *Spool) Wait(ctx context.Context) error {
	s.mu.Lock()
	last := s.nextSeq - 1
	for !s.closed && s.acked < last && len(s.queue) > 0 {
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		s.mu.Lock()
	}
	s.mu.Unlock()
	return nil
}

// Close wakes every waiter and closes the files. Unacknowledged batches on
// disk are handed out again by the next Open; those only in memory are
// dropped (their sources read them again from their checkpoints).
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	for _, seg := range s.segs {
		if seg.f != nil {
			seg.f.Close()
			seg.f = nil
		}
	}
	s.notify()
	return nil
}

func (s *Spool) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func msgBytes(msgs []Msg) int64 {
	var n int64
	for _, m := range msgs {
		n += int64(len(m.Key) + len(m.Value))
	}
	return n
}

// A frame is the payload's length and CRC-32C (both little-endian uint32)
// followed by the payload: the sequence number (uint64), the message count
// (uvarint) and each message's key and value, each a uvarint length and
// the bytes.
func appendFrame(b []byte, seq uint64, msgs []Msg) []byte {
	start := len(b)
	b = append(b, make([]byte, frameHead)...)
	b = binary.LittleEndian.AppendUint64(b, seq)
	b = binary.AppendUvarint(b, uint64(len(msgs)))
	for _, m := range msgs {
		b = binary.AppendUvarint(b, uint64(len(m.Key)))
		b = append(b, m.Key...)
		b = binary.AppendUvarint(b, uint64(len(m.Value)))
		b = append(b, m.Value...)
	}
	payload := b[start+frameHead:]
	binary.LittleEndian.PutUint32(b[start:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(b[start+4:], crc32.Checksum(payload, crcTable))
	return b
}

// errCorrupt marks a frame that cannot be read back.
var errCorrupt = errors.New("corrupt spool frame")

// readFrame reads one frame; it returns io.EOF at a clean end.
func readFrame(r io.Reader) (uint64, []Msg, int64, error) {
	var head [frameHead]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return 0, nil, 0, io.EOF
		}
		return 0, nil, 0, fmt.Errorf("%w: %w", errCorrupt, err)
	}
	n := binary.LittleEndian.Uint32(head[:])
	if n < 9 || n > 1<<30 {
		return 0, nil, 0, fmt.Errorf("%w: length %d", errCorrupt, n)
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return 0, nil, 0, fmt.Errorf("%w: %w", errCorrupt, err)
	}
	if crc32.Checksum(payload, crcTable) != binary.LittleEndian.Uint32(head[4:]) {
		return 0, nil, 0, fmt.Errorf("%w: checksum", errCorrupt)
	}
	seq, msgs, err := decodePayload(payload)
	return seq, msgs, int64(frameHead) + int64(n), err
}

func decodePayload(p []byte) (uint64, []Msg, error) {
	seq := binary.LittleEndian.Uint64(p)
	p = p[8:]
	count, k := binary.Uvarint(p)
	if k <= 0 || count > uint64(len(p)) {
		return 0, nil, fmt.Errorf("%w: count", errCorrupt)
	}
	p = p[k:]
	msgs := make([]Msg, 0, count)
	next := func() ([]byte, error) {
		l, k := binary.Uvarint(p)
		if k <= 0 || l > uint64(len(p)-k) {
			return nil, fmt.Errorf("%w: length", errCorrupt)
		}
		v := p[k : k+int(l) : k+int(l)]
		p = p[k+int(l):]
		return v, nil
	}
	for range count {
		key, err := next()
		if err != nil {
			return 0, nil, err
		}
		val, err := next()
		if err != nil {
			return 0, nil, err
		}
		msgs = append(msgs, Msg{Key: key, Value: val})
	}
	return seq, msgs, nil
}

func readAt(path string, off, n int64) ([]Msg, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	_, msgs, _, err := readFrame(io.NewSectionReader(f, off, n))
	return msgs, err
}
