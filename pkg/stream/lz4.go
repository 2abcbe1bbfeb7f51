package stream

import (
	"bufio"
	"errors"
	"io"
	"sync"

	"github.com/pierrec/lz4/v4"
	"github.com/segmentio/kafka-go/compress"
)

// kafka-go compresses and decompresses record batches with the codecs of
// its global table, compress.Codecs. Its lz4 codec writes frames of
// pierrec/lz4's default 4 MiB blocks, so every batch being compressed takes
// a 4 MiB buffer from a pool that each garbage collection empties: a busy
// producer allocates and zeroes 4 MiB per batch, most of it never used (a
// batch is at most 1 MiB, BatchBytes). The table's lz4 entry is replaced,
// once, when this package is loaded (before any writer exists, so no
// goroutine reads the table meanwhile), by the same library writing
// 64 KiB blocks without a content checksum, the frame Kafka's Java producer
// writes. Reading is unchanged and takes any block size.
func init() {
	compress.Codecs[compress.Lz4] = &lz4Codec{}
}

// lz4Codec is kafka-go's lz4 codec with 64 KiB blocks.
type lz4Codec struct {
	writers sync.Pool
}

// lz4Block is the size of the blocks written.
const lz4Block = 64 << 10

func (c *lz4Codec) Code() int8   { return compress.Lz4Codec.Code() }
func (c *lz4Codec) Name() string { return compress.Lz4Codec.Name() }

func (c *lz4Codec) NewReader(r io.Reader) io.ReadCloser {
	return compress.Lz4Codec.NewReader(r)
}

func (c *lz4Codec) NewWriter(w io.Writer) io.WriteCloser {
	st, _ := c.writers.Get().(*lz4State)
	if st == nil {
		z := lz4.NewWriter(w)
		// Only an invalid option fails, and these are valid.
		_ = z.Apply(lz4.BlockSizeOption(lz4.Block64Kb), lz4.ChecksumOption(false))
		st = &lz4State{z: z, buf: bufio.NewWriterSize(z, lz4Block)}
	}
	st.z.Reset(w)
	st.buf.Reset(st.z)
	return &lz4Writer{st: st, pool: &c.writers}
}

// lz4State is a compressor with a buffer in front, pooled. The buffer
// gathers the many small writes of a record batch (a length, a key, a
// value...) into whole blocks before the compressor sees them, which then
// compresses each block where it lies.
type lz4State struct {
	z   *lz4.Writer
	buf *bufio.Writer
}

// lz4Writer is one use of a pooled lz4State: once closed it lets go of the
// state, so a second Close (kafka-go's v1 message sets close twice) cannot
// touch a state another writer took from the pool meanwhile.
type lz4Writer struct {
	st   *lz4State
	pool *sync.Pool
}

func (w *lz4Writer) Write(p []byte) (int, error) {
	if w.st == nil {
		return 0, errors.New("lz4: write after close")
	}
	return w.st.buf.Write(p)
}

func (w *lz4Writer) Close() error {
	st := w.st
	if st == nil {
		return nil
	}
	w.st = nil
	err := st.buf.Flush()
	if cerr := st.z.Close(); err == nil {
		err = cerr
	}
	st.z.Reset(nil)
	st.buf.Reset(nil)
	w.pool.Put(st)
	return err
}
