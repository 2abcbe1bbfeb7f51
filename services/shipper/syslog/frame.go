package syslog

import (
	"bufio"
	"errors"
	"fmt"
	"io"

	"github.com/vigil-soc/vigil/services/shipper/receiver"
)

// framing is how messages are delimited on a TCP stream (RFC 6587).
type framing int

const (
	framingUnknown framing = iota
	// framingOctet is octet counting: "LEN SP MSG", no trailer.
	framingOctet
	// framingLF is non-transparent framing: each message ends with LF.
	framingLF
)

func (f framing) String() string {
	switch f {
	case framingOctet:
		return "octet-counting"
	case framingLF:
		return "newline"
	}
	return "unknown"
}

// maxLenDigits bounds the length field of octet counting: 999,999,999.
const maxLenDigits = 9

// frame is one message read from a stream.
type frame struct {
	// msg is the message without its framing; it is valid until the next
	// call of next.
	msg []byte
	// truncated says the message was longer than the limit, or the stream
	// ended inside it; msg holds its first bytes.
	truncated bool
	// bad, when not empty, says the stream did not hold a valid frame here:
	// msg holds the bytes read up to the next LF instead of a message.
	bad string
}

// framer splits a TCP stream into messages. The framing is told from the
// first byte of the stream: a digit starts octet counting, anything else
// newline framing. Messages longer than max are cut to max bytes and the
// rest is skipped; a frame that is not valid octet counting is kept as the
// bytes up to the next LF, and octet counting goes on after it. Memory is
// bounded by max and the reader's buffer.
type framer struct {
	r     *bufio.Reader
	lines *receiver.LineReader
	max   int
	mode  framing
	buf   []byte
	err   error // returned by the next call, after a last partial frame
	// frames counts the frames returned.
	frames int
}

func newFramer(r *bufio.Reader, max int) *framer {
	return &framer{r: r, lines: receiver.NewLineReader(r, max), max: max}
}

// next returns the next message, or the stream's error (io.EOF at its
// end). A message cut short by the end of the stream is returned first,
// flagged truncated (octet counting) or as it is (newline framing, where a
// last message without LF is common).
func (f *framer) next() (frame, error) {
	if f.err != nil {
		return frame{}, f.err
	}
	if f.mode == framingUnknown {
		if err := f.skipNewlines(); err != nil {
			return frame{}, err
		}
		b, err := f.r.Peek(1)
		if err != nil {
			return frame{}, err
		}
		f.mode = framingLF
		if '1' <= b[0] && b[0] <= '9' {
			f.mode = framingOctet
		}
	}
	if f.mode == framingOctet {
		return f.nextOctet()
	}
	return f.nextLine(nil)
}

// skipNewlines skips LF and CR between messages: some senders end
// octet-counted frames with one, and blank lines carry nothing.
func (f *framer) skipNewlines() error {
	for {
		b, err := f.r.Peek(1)
		if err != nil {
			return err
		}
		if b[0] != '\n' && b[0] != '\r' {
			return nil
		}
		_, _ = f.r.ReadByte()
	}
}

// nextLine reads up to the next LF, dropping it and a CR before it.
// Blank lines are skipped. prefix is bytes of the line already read.
func (f *framer) nextLine(prefix []byte) (frame, error) {
	for {
		line, truncated, _, err := f.lines.ReadLine(prefix)
		prefix = nil
		if err != nil && len(line) == 0 && !truncated {
			return frame{}, err
		}
		f.err = err
		if len(line) == 0 && !truncated && err == nil {
			continue
		}
		f.frames++
		return frame{msg: line, truncated: truncated}, nil
	}
}

// nextOctet reads one "LEN SP MSG" frame.
func (f *framer) nextOctet() (frame, error) {
	if err := f.skipNewlines(); err != nil {
		return frame{}, err
	}
	var digits [maxLenDigits]byte
	n, nd := 0, 0
	for {
		c, err := f.r.ReadByte()
		if err != nil {
			if nd == 0 {
				return frame{}, err
			}
			f.err = err
			return f.badFrame(digits[:nd], fmt.Sprintf("stream ended inside the length %q", digits[:nd]))
		}
		if c == ' ' && nd > 0 {
			break
		}
		if c < '0' || c > '9' || (nd == 0 && c == '0') || nd == maxLenDigits {
			_ = f.r.UnreadByte()
			return f.badFrame(digits[:nd], fmt.Sprintf("want LEN SP MSG, got %q after %q", c, digits[:nd]))
		}
		digits[nd] = c
		n = n*10 + int(c-'0')
		nd++
	}
	fr := frame{truncated: n > f.max}
	f.buf = append(f.buf[:0], make([]byte, min(n, f.max))...)
	got, err := io.ReadFull(f.r, f.buf)
	if err == nil && n > f.max {
		_, err = f.r.Discard(n - f.max)
	}
	if err != nil {
		// The stream ended (or failed) inside the message: keep what came.
		f.err = err
		if errors.Is(err, io.ErrUnexpectedEOF) {
			f.err = io.EOF
		}
		fr.truncated = true
		f.buf = f.buf[:got]
		if got == 0 {
			return frame{}, f.err
		}
	}
	f.frames++
	fr.msg = f.buf
	return fr, nil
}

// badFrame handles bytes that are not a valid octet-counting frame: read is
// what was taken of them already. When it is the stream's first frame the
// framing was told wrongly (a message without PRI can start with a digit):
// the stream is read with newline framing from here on. Later, the bytes
// up to the next LF (at most max) are kept as the content of an invalid
// frame, so that nothing read is lost silently, and octet counting goes on
// after them.
func (f *framer) badFrame(read []byte, reason string) (frame, error) {
	if f.frames == 0 && f.err == nil {
		f.mode = framingLF
		return f.nextLine(read)
	}
	fr := frame{bad: "octet-counting frame: " + reason}
	if f.err != nil {
		fr.msg, fr.truncated = read[:min(len(read), f.max)], len(read) > f.max
		return fr, nil
	}
	var ended bool
	var err error
	fr.msg, fr.truncated, ended, err = f.lines.ReadLine(read)
	if !ended {
		f.err = err
	}
	return fr, nil
}
