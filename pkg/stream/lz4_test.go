package stream

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"testing"

	"github.com/segmentio/kafka-go/compress"
	"github.com/stretchr/testify/require"
)

// kafka-go's lz4 codec is this package's: frames of 64 KiB blocks without
// a content checksum, read back whole, from writers used again.
func TestLZ4CodecWrites64KiBBlocks(t *testing.T) {
	codec := compress.Lz4.Codec()
	require.IsType(t, &lz4Codec{}, codec)
	var data bytes.Buffer
	for i := range 5000 {
		fmt.Fprintf(&data, `{"event.id":"%08x","source.ip":"10.0.%d.%d","event.outcome":"failure"}`+"\n", i*7919, i%256, i%97)
	}
	require.Greater(t, data.Len(), 3*64<<10, "several blocks")
	for round := range 3 { // later rounds take writers from the pool
		var frame bytes.Buffer
		w := codec.NewWriter(&frame)
		_, err := w.Write(data.Bytes())
		require.NoError(t, err)
		require.NoError(t, w.Close())
		require.NoError(t, w.Close(), "a second close does nothing")

		hdr := frame.Bytes()
		require.Equal(t, uint32(0x184D2204), binary.LittleEndian.Uint32(hdr), "round %d: lz4 frame magic", round)
		flg, bd := hdr[4], hdr[5]
		require.Zero(t, flg&0x04, "round %d: no content checksum", round)
		require.Equal(t, byte(4), bd>>4&0x7, "round %d: 64 KiB blocks", round)

		r := codec.NewReader(&frame)
		back, err := io.ReadAll(r)
		require.NoError(t, err)
		require.NoError(t, r.Close())
		require.Equal(t, data.Bytes(), back, "round %d", round)
	}
}

// A writer closed twice (kafka-go closes v1 message sets' compressors
// twice) leaves alone the pooled compressor another writer took meanwhile.
func TestLZ4WriterClosedTwiceLeavesTheNextOneAlone(t *testing.T) {
	codec := compress.Lz4.Codec()
	var first, second bytes.Buffer
	w1 := codec.NewWriter(&first)
	_, err := w1.Write([]byte("first"))
	require.NoError(t, err)
	require.NoError(t, w1.Close())

	w2 := codec.NewWriter(&second) // may be the first's compressor, from the pool
	require.NoError(t, w1.Close(), "the stale close does nothing")
	_, err = w1.Write([]byte("late"))
	require.Error(t, err, "a closed writer takes nothing")
	data := bytes.Repeat([]byte("0123456789abcdef"), 8<<10) // two blocks
	_, err = w2.Write(data)
	require.NoError(t, err)
	require.NoError(t, w2.Close())

	r := codec.NewReader(&second)
	back, err := io.ReadAll(r)
	require.NoError(t, err)
	require.Equal(t, data, back)
}
