package receiver

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestLineReader(t *testing.T) {
	type line struct {
		text      string
		truncated bool
		ended     bool
		offset    int64
	}
	tests := []struct {
		name string
		in   string
		want []line
	}{
		{"lines", "a\nbb\r\n\nccc", []line{{"a", false, true, 0}, {"bb", false, true, 2}, {"", false, true, 6}, {"ccc", false, false, 7}}},
		{"long lines cut", "0123456789\nabcdefghijklmnop\r\nx\n", []line{{"01234567", true, true, 0}, {"abcdefgh", true, true, 11}, {"x", false, true, 29}}},
		{"a CR that fits is not part of the line", "12345678\r\n", []line{{"12345678", false, true, 0}}},
		{"empty", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A buffer smaller than the lines: ReadLine reads them in pieces.
			lr := NewLineReader(bufio.NewReaderSize(strings.NewReader(tt.in), 16), 8)
			var got []line
			for {
				b, truncated, ended, err := lr.ReadLine(nil)
				if len(b) > 0 || ended {
					got = append(got, line{string(b), truncated, ended, lr.Offset()})
				}
				if err != nil {
					require.ErrorIs(t, err, io.EOF)
					break
				}
			}
			require.Equal(t, tt.want, got)
		})
	}
}

func TestLineReaderPrefix(t *testing.T) {
	r := bufio.NewReader(strings.NewReader("12x rest\nnext\n"))
	head := make([]byte, 3)
	_, err := io.ReadFull(r, head)
	require.NoError(t, err)
	lr := NewLineReader(r, 64)
	b, truncated, ended, err := lr.ReadLine(head)
	require.NoError(t, err)
	require.True(t, ended)
	require.False(t, truncated)
	require.Equal(t, "12x rest", string(b))
	b, _, _, err = lr.ReadLine(nil)
	require.NoError(t, err)
	require.Equal(t, "next", string(b))
	require.Equal(t, int64(6), lr.Offset())

	boom := errors.New("boom")
	lr = NewLineReader(bufio.NewReader(io.MultiReader(strings.NewReader("part"), errReader{boom})), 64)
	b, _, ended, err = lr.ReadLine(nil)
	require.ErrorIs(t, err, boom)
	require.False(t, ended)
	require.Equal(t, "part", string(b), "what came before the error")
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }
