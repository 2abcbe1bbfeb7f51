package receiver

import (
	"bufio"
	"errors"
)

// LineReader reads LF-terminated lines of at most max bytes from a
// buffered reader; the rest of a longer line is skipped. Memory is bounded
// by max and the reader's buffer.
type LineReader struct {
	r     *bufio.Reader
	max   int
	buf   []byte
	read  int64 // bytes consumed from r
	start int64 // offset of the last line
}

// NewLineReader returns a reader of lines of at most max bytes from r.
func NewLineReader(r *bufio.Reader, max int) *LineReader {
	return &LineReader{r: r, max: max}
}

// ReadLine returns the bytes up to the next LF, without it and a CR before
// it. prefix is bytes of the line the caller already took from the
// reader; they count as its first. At most max bytes are kept: truncated
// says others were dropped. ended says an LF was found; when not, err is
// the reader's error (io.EOF at its end) and line holds what came before.
// line is valid until the next call.
func (l *LineReader) ReadLine(prefix []byte) (line []byte, truncated, ended bool, err error) {
	l.start = l.read - int64(len(prefix))
	l.buf = l.buf[:0]
	truncated = l.keep(prefix)
	for {
		chunk, err := l.r.ReadSlice('\n')
		l.read += int64(len(chunk))
		if err == nil {
			chunk = chunk[:len(chunk)-1]
			if n := len(chunk); n > 0 && chunk[n-1] == '\r' {
				chunk = chunk[:n-1]
			} else if n, m := len(chunk), len(l.buf); n == 0 && m > 0 && l.buf[m-1] == '\r' && !truncated {
				l.buf = l.buf[:m-1] // the CR came in the chunk before
			}
		}
		truncated = l.keep(chunk) || truncated
		switch {
		case err == nil:
			return l.buf, truncated, true, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		default:
			return l.buf, truncated, false, err
		}
	}
}

// Offset is where the line ReadLine returned last starts, counting the
// bytes read through this LineReader (its prefix included).
func (l *LineReader) Offset() int64 { return l.start }

// keep appends what of b fits within max to l.buf, and reports whether
// anything did not fit.
func (l *LineReader) keep(b []byte) bool {
	room := l.max - len(l.buf)
	if len(b) <= room {
		l.buf = append(l.buf, b...)
		return false
	}
	l.buf = append(l.buf, b[:max(room, 0)]...)
	return true
}
