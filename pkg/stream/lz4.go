package stream

import (
	"bufio"
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
// goroutine reads the table meanwhile), by the same codec writing 64 KiB
// blocks, as the Java client and librdkafka do. Readers of any block size
// are unchanged.
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
	lw, _ := c.writers.Get().(*lz4Writer)
	if lw == nil {
		z := lz4.NewWriter(w)
		// Only an invalid option fails, and these are valid.
		_ = z.Apply(lz4.BlockSizeOption(lz4.Block64Kb), lz4.ChecksumOption(false))
		lw = &lz4Writer{z: z, buf: bufio.NewWriterSize(z, lz4Block), pool: &c.writers}
	}
	lw.z.Reset(w)
	lw.buf.Reset(lw.z)
	lw.open = true
	return lw
}

// lz4Writer gathers the many small writes of a record batch (a length, a
// key, a value...) into whole blocks before the compressor sees them, which
// then compresses each block where it lies; it returns to the pool when
// closed.
type lz4Writer struct {
	z    *lz4.Writer
	buf  *bufio.Writer
	pool *sync.Pool
	open bool
}

func (w *lz4Writer) Write(p []byte) (int, error) { return w.buf.Write(p) }

func (w *lz4Writer) Close() error {
	if !w.open {
		return nil
	}
	w.open = false
	err := w.buf.Flush()
	if cerr := w.z.Close(); err == nil {
		err = cerr
	}
	w.z.Reset(nil)
	w.buf.Reset(nil)
	w.pool.Put(w)
	return err
}
