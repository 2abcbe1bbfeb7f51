package stream

import (
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

func (c *lz4Codec) Code() int8   { return compress.Lz4Codec.Code() }
func (c *lz4Codec) Name() string { return compress.Lz4Codec.Name() }

func (c *lz4Codec) NewReader(r io.Reader) io.ReadCloser {
	return compress.Lz4Codec.NewReader(r)
}

func (c *lz4Codec) NewWriter(w io.Writer) io.WriteCloser {
	z, _ := c.writers.Get().(*lz4.Writer)
	if z == nil {
		z = lz4.NewWriter(w)
		// Only an invalid option fails, and this one is valid.
		_ = z.Apply(lz4.BlockSizeOption(lz4.Block64Kb), lz4.ChecksumOption(false))
	}
	z.Reset(w)
	return &lz4Writer{z: z, pool: &c.writers}
}

// lz4Writer returns its lz4 writer to the pool when closed.
type lz4Writer struct {
	z    *lz4.Writer
	pool *sync.Pool
}

func (w *lz4Writer) Write(p []byte) (int, error) { return w.z.Write(p) }

func (w *lz4Writer) Close() error {
	if w.z == nil {
		return nil
	}
	err := w.z.Close()
	w.z.Reset(nil)
	w.pool.Put(w.z)
	w.z = nil
	return err
}
