package syslog

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// readFrames reads every frame of in with a message limit of max.
func readFrames(tb testing.TB, in []byte, max int) ([]frame, error) {
	tb.Helper()
	f := newFramer(bufio.NewReaderSize(bytes.NewReader(in), 16), max)
	var out []frame
	for {
		fr, err := f.next()
		if err != nil {
			return out, err
		}
		fr.msg = bytes.Clone(fr.msg)
		out = append(out, fr)
		if len(out) > len(in)+1 {
			tb.Fatalf("more frames than input bytes")
		}
	}
}

// octet frames msgs with octet counting.
func octet(msgs ...string) string {
	var b strings.Builder
	for _, m := range msgs {
		b.WriteString(strconv.Itoa(len(m)) + " " + m)
	}
	return b.String()
}

func TestFramer(t *testing.T) {
	long := strings.Repeat("x", 40)
	tests := []struct {
		name string
		in   string
		want []frame
	}{
		{"newline", "<13>a\n<13>b\r\n\n<13>c", []frame{{msg: []byte("<13>a")}, {msg: []byte("<13>b")}, {msg: []byte("<13>c")}}},
		{"newline, leading blank lines", "\r\n\n<13>a\n", []frame{{msg: []byte("<13>a")}}},
		{"newline, long line cut", long + "\n<13>b\n", []frame{{msg: []byte(long[:32]), truncated: true}, {msg: []byte("<13>b")}}},
		{"newline, long last line cut", long, []frame{{msg: []byte(long[:32]), truncated: true}}},
		{"octet counting", octet("<13>a b", "<13>line\nwith LF", "<14>c"),
			[]frame{{msg: []byte("<13>a b")}, {msg: []byte("<13>line\nwith LF")}, {msg: []byte("<14>c")}}},
		{"octet counting with LF trailers", octet("<13>a") + "\n" + octet("<13>b") + "\r\n",
			[]frame{{msg: []byte("<13>a")}, {msg: []byte("<13>b")}}},
		{"octet counting, long message cut", octet(long, "<13>b"), []frame{{msg: []byte(long[:32]), truncated: true}, {msg: []byte("<13>b")}}},
		{"octet counting, stream ends inside a message", octet("<13>a") + "10 <13>b", []frame{{msg: []byte("<13>a")}, {msg: []byte("<13>b"), truncated: true}}},
		{"octet counting, stream ends after the length", octet("<13>a") + "10 ", []frame{{msg: []byte("<13>a")}}},
		{"octet counting, stream ends inside the length", octet("<13>a") + "12", []frame{{msg: []byte("<13>a")},
			{msg: []byte("12"), bad: `octet-counting frame: stream ended inside the length "12"`}}},
		{"octet counting, bad frame kept up to LF", octet("<13>a") + "12x junk\n" + octet("<13>b"), []frame{{msg: []byte("<13>a")},
			{msg: []byte("12x junk"), bad: `octet-counting frame: want LEN SP MSG, got 'x' after "12"`}, {msg: []byte("<13>b")}}},
		{"octet counting, length too long", octet("<13>a") + "1234567890 x\n", []frame{{msg: []byte("<13>a")},
			{msg: []byte("1234567890 x"), bad: `octet-counting frame: want LEN SP MSG, got '0' after "123456789"`}}},
		{"octet counting, zero length", octet("<13>a") + "0 \n", []frame{{msg: []byte("<13>a")},
			{msg: []byte("0 "), bad: `octet-counting frame: want LEN SP MSG, got '0' after ""`}}},
		{"a first line starting with a digit is newline framing", "2026-01-02T10:00:00Z host app: a\n2026-01-02T10:00:01Z host app: b\n",
			[]frame{{msg: []byte("2026-01-02T10:00:00Z host app: a")}, {msg: []byte("2026-01-02T10:00:01Z host app: b")}}},
		{"empty", "", nil},
		{"only newlines", "\n\r\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readFrames(t, []byte(tt.in), 32)
			require.ErrorIs(t, err, io.EOF)
			require.Equal(t, tt.want, got)
		})
	}
}

type failingReader struct {
	data []byte
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestFramerPassesOnReadErrors(t *testing.T) {
	boom := errors.New("connection reset")
	for _, in := range []string{"<13>a\n<13>partial", octet("<13>a") + "20 <13>partial"} {
		f := newFramer(bufio.NewReader(&failingReader{data: []byte(in), err: boom}), 64)
		fr, err := f.next()
		require.NoError(t, err)
		require.Equal(t, "<13>a", string(fr.msg))
		fr, err = f.next()
		require.NoError(t, err, "what came before the error is kept")
		require.Equal(t, "<13>partial", string(fr.msg))
		_, err = f.next()
		require.ErrorIs(t, err, boom)
		_, err = f.next()
		require.ErrorIs(t, err, boom, "the error sticks")
	}
}

// FuzzFramer checks that any stream splits into bounded messages without
// inventing bytes, and that octet-counted messages come back whole.
func FuzzFramer(f *testing.F) {
	f.Add([]byte("<13>a\n<13>b\r\n"), 16)
	f.Add([]byte(octet("<13>a", "<13>b\nc")), 16)
	f.Add([]byte("12x junk\n5 <13>a"), 4)
	f.Add([]byte("99999999999 x"), 8)
	f.Add([]byte("3 abc\n\n3 def"), 2)
	f.Fuzz(func(t *testing.T, in []byte, max int) {
		max = 1 + abs(max)%256
		frames, err := readFrames(t, in, max)
		require.ErrorIs(t, err, io.EOF)
		total := 0
		for _, fr := range frames {
			require.LessOrEqual(t, len(fr.msg), max)
			require.True(t, len(fr.msg) > 0 || fr.truncated || fr.bad != "", "no empty frames")
			total += len(fr.msg)
		}
		require.LessOrEqual(t, total, len(in), "frames hold only bytes of the stream")

		// Messages framed by octet counting come back as they were.
		var want []string
		for _, m := range strings.Split(string(in), "\x00") {
			if m != "" {
				want = append(want, m)
			}
		}
		got, err := readFrames(t, []byte(octet(want...)), 1<<20)
		require.ErrorIs(t, err, io.EOF)
		var back []string
		for _, fr := range got {
			require.Empty(t, fr.bad)
			require.False(t, fr.truncated)
			back = append(back, string(fr.msg))
		}
		require.Equal(t, want, back)
	})
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
