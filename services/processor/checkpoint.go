package processor

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/segmentio/kafka-go"
)

// A checkpoint is a partition's state at one input offset: the state is
// written to the task's partition of the changelog topic as numbered
// chunks, then the input offset is committed to the consumer group with a
// reference to those chunks in the commit's metadata. The commit is one
// request, so the offset and the state it reflects move together: a crash
// before it leaves the previous commit, which names the previous chunks,
// still there. Chunks are keyed "<id>/<n>" with a fresh id per checkpoint,
// and the previous checkpoint's chunks get tombstones once the new commit
// is in, so compaction keeps exactly the chunks a commit names.

// ckptRef is what a commit's metadata says about its checkpoint.
type ckptRef struct {
	id        string // hex, fresh per checkpoint
	partition int    // of the changelog topic
	offset    int64  // of the first chunk
	chunks    int
	bytes     int64
	crc       uint32 // CRC-32C of the state
}

const refPrefix = "vigil-checkpoint/1"

func (r ckptRef) String() string {
	return fmt.Sprintf("%s id=%s partition=%d offset=%d chunks=%d bytes=%d crc=%08x",
		refPrefix, r.id, r.partition, r.offset, r.chunks, r.bytes, r.crc)
}

// parseRef reads a commit's metadata; ok is false when it names no
// checkpoint.
func parseRef(s string) (r ckptRef, ok bool, err error) {
	if s == "" {
		return r, false, nil
	}
	rest, found := strings.CutPrefix(s, refPrefix+" ")
	if !found {
		return r, false, fmt.Errorf("commit metadata %q: not a checkpoint reference", s)
	}
	n, err := fmt.Sscanf(rest, "id=%s partition=%d offset=%d chunks=%d bytes=%d crc=%x",
		&r.id, &r.partition, &r.offset, &r.chunks, &r.bytes, &r.crc)
	if err != nil || n != 6 || r.chunks < 1 || r.offset < 0 || r.bytes < 0 {
		return r, false, fmt.Errorf("commit metadata %q: malformed checkpoint reference", s)
	}
	return r, true, nil
}

func newCkptID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

func chunkKey(id string, n int) []byte { return fmt.Appendf(nil, "%s/%d", id, n) }

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// changelogWriter cuts a state into chunks and produces each, in order, to
// one partition of the changelog topic. One chunk per produce request, so
// a record batch stays under the broker's message size limit.
type changelogWriter struct {
	ctx   context.Context
	kc    *kafka.Client
	topic string
	codec kafka.Compression
	chunk int
	ref   ckptRef
	buf   []byte
}

func newChangelogWriter(ctx context.Context, kc *kafka.Client, topic string, partition, chunk int, codec kafka.Compression) *changelogWriter {
	return &changelogWriter{ctx: ctx, kc: kc, topic: topic, codec: codec, chunk: chunk,
		ref: ckptRef{id: newCkptID(), partition: partition, offset: -1}, buf: make([]byte, 0, chunk)}
}

func (w *changelogWriter) Write(p []byte) (int, error) {
	n := len(p)
	w.ref.crc = crc32.Update(w.ref.crc, castagnoli, p)
	w.ref.bytes += int64(n)
	for len(p) > 0 {
		k := min(len(p), w.chunk-len(w.buf))
		w.buf = append(w.buf, p[:k]...)
		p = p[k:]
		if len(w.buf) == w.chunk {
			if err := w.flush(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

func (w *changelogWriter) flush() error {
	rec := kafka.Record{Key: kafka.NewBytes(chunkKey(w.ref.id, w.ref.chunks)), Value: kafka.NewBytes(w.buf)}
	base, err := produce(w.ctx, w.kc, w.topic, w.ref.partition, w.codec, rec)
	if err != nil {
		return err
	}
	if w.ref.offset < 0 {
		w.ref.offset = base
	}
	w.ref.chunks++
	w.buf = w.buf[:0]
	return nil
}

// close writes the last chunk (an empty state is one empty chunk) and
// returns the reference to the checkpoint.
func (w *changelogWriter) close() (ckptRef, error) {
	if len(w.buf) > 0 || w.ref.chunks == 0 {
		if err := w.flush(); err != nil {
			return ckptRef{}, err
		}
	}
	return w.ref, nil
}

// produce writes records to one partition and returns the offset of the
// first, once every in-sync replica has them.
func produce(ctx context.Context, kc *kafka.Client, topic string, partition int, codec kafka.Compression, recs ...kafka.Record) (int64, error) {
	res, err := kc.Produce(ctx, &kafka.ProduceRequest{
		Topic: topic, Partition: partition, RequiredAcks: kafka.RequireAll,
		Records: kafka.NewRecordReader(recs...), Compression: codec,
	})
	if err == nil {
		err = res.Error
	}
	if err == nil {
		for _, e := range res.RecordErrors {
			err = e
		}
	}
	if err != nil {
		return 0, fmt.Errorf("write to %s/%d: %w", topic, partition, err)
	}
	return res.BaseOffset, nil
}

// tombstones deletes a checkpoint's chunks from the compacted topic.
func tombstones(ctx context.Context, kc *kafka.Client, topic string, r ckptRef) error {
	recs := make([]kafka.Record, r.chunks)
	for i := range recs {
		recs[i] = kafka.Record{Key: kafka.NewBytes(chunkKey(r.id, i))}
	}
	_, err := produce(ctx, kc, topic, r.partition, 0, recs...)
	return err
}

// readCheckpoint reads the chunks r names from the changelog topic and
// returns the state they hold, checked against r's size and checksum.
func readCheckpoint(ctx context.Context, open func(topic string, partition int, offset int64) *kafka.Reader, end int64, topic string, r ckptRef) ([]byte, error) {
	if r.offset >= end {
		return nil, fmt.Errorf("checkpoint %s: changelog %s/%d ends at offset %d, before the checkpoint", r.id, topic, r.partition, end)
	}
	rd := open(topic, r.partition, r.offset)
	defer rd.Close()
	state := make([]byte, 0, r.bytes)
	next := 0
	for next < r.chunks {
		m, err := rd.FetchMessage(ctx)
		if err != nil {
			return nil, fmt.Errorf("checkpoint %s: read changelog %s/%d: %w", r.id, topic, r.partition, err)
		}
		if bytes.Equal(m.Key, chunkKey(r.id, next)) {
			if int64(len(state)+len(m.Value)) > r.bytes {
				return nil, fmt.Errorf("checkpoint %s: chunks hold more than the %d bytes committed", r.id, r.bytes)
			}
			state = append(state, m.Value...)
			next++
			continue
		}
		if m.Offset >= end-1 {
			return nil, fmt.Errorf("checkpoint %s: chunk %d of %d missing from changelog %s/%d", r.id, next, r.chunks, topic, r.partition)
		}
	}
	if int64(len(state)) != r.bytes || crc32.Checksum(state, castagnoli) != r.crc {
		return nil, fmt.Errorf("checkpoint %s: %d bytes with checksum %08x, committed %d bytes with %08x",
			r.id, len(state), crc32.Checksum(state, castagnoli), r.bytes, r.crc)
	}
	return state, nil
}

// The state of a task, as a checkpoint holds it:
//
//	magic "VGTS", format version 1
//	uvarint next input offset
//	uvarint count, then per alerts partition: uvarint partition, uvarint end offset
//	bytes   recent event ids (empty for a repartition task)
//	uvarint count, then per engine: bytes stage name, bytes engine snapshot
//
// where bytes is a uvarint length and that many bytes.
const (
	stateMagic   = "VGTS"
	stateVersion = 1
)

// taskState is a task's state between its engines and a checkpoint.
type taskState struct {
	next      int64
	alertEnds map[int]int64
	recent    []byte
	engines   []namedBlob
}

type namedBlob struct {
	name string
	blob []byte
}

func (s *taskState) writeTo(w io.Writer) error {
	b := append([]byte(stateMagic), stateVersion)
	b = binary.AppendUvarint(b, uint64(s.next))
	b = binary.AppendUvarint(b, uint64(len(s.alertEnds)))
	for _, p := range slices.Sorted(maps.Keys(s.alertEnds)) {
		b = binary.AppendUvarint(b, uint64(p))
		b = binary.AppendUvarint(b, uint64(s.alertEnds[p]))
	}
	b = appendBytes(b, s.recent)
	b = binary.AppendUvarint(b, uint64(len(s.engines)))
	if _, err := w.Write(b); err != nil {
		return err
	}
	for _, e := range s.engines {
		if _, err := w.Write(appendBytes(nil, []byte(e.name))); err != nil {
			return err
		}
		if _, err := w.Write(binary.AppendUvarint(nil, uint64(len(e.blob)))); err != nil {
			return err
		}
		if _, err := w.Write(e.blob); err != nil {
			return err
		}
	}
	return nil
}

func appendBytes(b, v []byte) []byte { return append(binary.AppendUvarint(b, uint64(len(v))), v...) }

var errState = errors.New("bad task state")

func (s *taskState) readFrom(b []byte) error {
	if !bytes.HasPrefix(b, []byte(stateMagic)) || len(b) < len(stateMagic)+1 {
		return fmt.Errorf("%w: no header", errState)
	}
	if v := b[len(stateMagic)]; v != stateVersion {
		return fmt.Errorf("%w: format version %d, this processor reads %d", errState, v, stateVersion)
	}
	r := byteReader{b: b[len(stateMagic)+1:], bad: errState}
	s.next = int64(r.uvarint())
	n := r.count(2)
	s.alertEnds = make(map[int]int64, n)
	for range n {
		p := int(r.uvarint())
		s.alertEnds[p] = int64(r.uvarint())
	}
	s.recent = r.bytes()
	n = r.count(2)
	s.engines = make([]namedBlob, 0, n)
	for range n {
		s.engines = append(s.engines, namedBlob{name: string(r.bytes()), blob: r.bytes()})
	}
	if r.err == nil && len(r.b) > 0 {
		r.err = fmt.Errorf("%w: %d bytes after the end", errState, len(r.b))
	}
	return r.err
}

// byteReader reads uvarints and length-prefixed bytes (a task's state, a
// bundle); the first error sticks, wrapping bad.
type byteReader struct {
	b   []byte
	bad error
	err error
}

func (r *byteReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = fmt.Errorf("%w: truncated", r.bad)
		return 0
	}
	r.b = r.b[n:]
	return v
}

// count reads a count of items at least min bytes each, checked against
// what is left.
func (r *byteReader) count(min int) int {
	n := r.uvarint()
	if n > uint64(len(r.b)/min) {
		r.err = fmt.Errorf("%w: count %d exceeds the input", r.bad, n)
		return 0
	}
	return int(n)
}

func (r *byteReader) bytes() []byte {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.err = fmt.Errorf("%w: truncated", r.bad)
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}
