package series

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// Errors ScoreCSV returns for inputs it cannot score at all.
var (
	// ErrNoHeader: the first line does not name the timestamp and value
	// columns.
	ErrNoHeader = errors.New("the first line must be a header naming the columns timestamp and value")
	// ErrNoRows: there is a header but no row after it.
	ErrNoRows = errors.New("no rows after the header")
)

// OutputHeader is the first line ScoreCSV writes.
const OutputHeader = "timestamp,value,anomaly_score"

// maxLine bounds one line; a longer one is a bad row (its fields are not
// echoed).
const maxLine = 1 << 20

// progressEvery is how many rows pass between progress calls.
const progressEvery = 4096

// Stats says what ScoreCSV read.
type Stats struct {
	// Rows written, one per input row (blank lines are not rows).
	Rows int
	// Bad is how many rows could not be scored (unparsable timestamp or
	// value, a value that is not finite, a wrong number of columns): each
	// is written with anomaly_score 0.
	Bad int
	// FirstBadLine is the line number (1-based, the header is line 1) of
	// the first bad row, and FirstBadReason what is wrong with it.
	FirstBadLine   int
	FirstBadReason string
	// OutOfOrder counts rows whose timestamp is earlier than the row
	// before's; they are scored anyway, in file order. FirstOutOfOrderLine
	// is the first one's line number.
	OutOfOrder          int
	FirstOutOfOrderLine int
	// Alerts counts rows scored at or above the detector's threshold.
	Alerts int
	// Bytes read.
	Bytes int64
}

// ScoreCSV reads a metric series as CSV from r — a header naming the
// columns timestamp and value (in any order, among others), then one row
// per observation — scores each row with det in file order, and writes
// timestamp,value,anomaly_score to w: one row per input row, the timestamp
// and value fields exactly as they were in the input (quotes included),
// so the output joins back to the input. It reads LF or CRLF line ends, a
// UTF-8 byte-order mark, quoted fields, and a last line with or without
// its newline. A row that cannot be scored is still written, with
// anomaly_score 0, and counted in Stats. Memory does not grow with the
// input. progress, if not nil, is called every few thousand rows and at
// the end with the rows and bytes read so far.
func ScoreCSV(r io.Reader, w io.Writer, det *Detector, progress func(rows int, bytes int64)) (Stats, error) {
	var st Stats
	lr := lineReader{r: bufio.NewReaderSize(r, 64<<10)}
	bw := bufio.NewWriterSize(w, 64<<10)

	line, _, err := lr.next()
	if err == io.EOF {
		return st, fmt.Errorf("empty input: %w", ErrNoHeader)
	}
	if err != nil {
		return st, err
	}
	line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf"))
	header, herr := splitFields(line, nil)
	if herr != nil {
		return st, fmt.Errorf("line 1: %v: %w", herr, ErrNoHeader)
	}
	tsCol, valCol := -1, -1
	for i, f := range header {
		switch strings.ToLower(strings.TrimSpace(string(unquote(f)))) {
		case "timestamp":
			tsCol = i
		case "value":
			valCol = i
		}
	}
	if tsCol < 0 || valCol < 0 {
		return st, fmt.Errorf("line 1 is %q: %w", truncate(line, 80), ErrNoHeader)
	}
	if _, err := bw.WriteString(OutputHeader + "\n"); err != nil {
		return st, err
	}

	var fields [][]byte
	var prev time.Time
	var out []byte
	lineNo := 1
	for {
		line, tooLong, err := lr.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return st, fmt.Errorf("line %d: %w", lineNo+1, err)
		}
		lineNo++
		if len(bytes.TrimSpace(line)) == 0 && !tooLong {
			continue // blank lines are not rows
		}
		st.Rows++
		var ts, val []byte
		var reason string
		var s float64
		fields, err = splitFields(line, fields[:0])
		switch {
		case tooLong:
			reason = fmt.Sprintf("line longer than %d bytes", maxLine)
		case err != nil:
			reason = err.Error()
		case len(fields) != len(header):
			reason = fmt.Sprintf("%d columns, the header has %d", len(fields), len(header))
		}
		if !tooLong && tsCol < len(fields) {
			ts = fields[tsCol]
		}
		if !tooLong && valCol < len(fields) {
			val = fields[valCol]
		}
		if reason == "" {
			t, terr := ParseTimestamp(string(unquote(ts)))
			v, verr := parseValue(unquote(val))
			switch {
			case terr != nil:
				reason = terr.Error()
			case verr != nil:
				reason = verr.Error()
			default:
				if !prev.IsZero() && t.Before(prev) {
					st.OutOfOrder++
					if st.FirstOutOfOrderLine == 0 {
						st.FirstOutOfOrderLine = lineNo
					}
				}
				prev = t
				s = det.Score(t, v)
				if s >= det.Threshold() {
					st.Alerts++
				}
			}
		}
		if reason != "" {
			st.Bad++
			if st.FirstBadLine == 0 {
				st.FirstBadLine, st.FirstBadReason = lineNo, reason
			}
		}
		out = append(out[:0], ts...)
		out = append(out, ',')
		out = append(out, val...)
		out = append(out, ',')
		out = strconv.AppendFloat(out, s, 'f', 6, 64)
		out = append(out, '\n')
		if _, err := bw.Write(out); err != nil {
			return st, err
		}
		if progress != nil && st.Rows%progressEvery == 0 {
			progress(st.Rows, lr.n)
		}
	}
	st.Bytes = lr.n
	if progress != nil {
		progress(st.Rows, lr.n)
	}
	if err := bw.Flush(); err != nil {
		return st, err
	}
	if st.Rows == 0 {
		return st, ErrNoRows
	}
	return st, nil
}

// Timestamp layouts ParseTimestamp accepts, all read as UTC unless they
// carry a zone.
var timestampLayouts = []string{
	"2006-01-02 15:04:05",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05",
	"2006-01-02T15:04:05.999999999",
	time.RFC3339Nano,
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02 15:04",
	"2006-01-02",
}

// ParseTimestamp reads a timestamp as `YYYY-MM-DD HH:MM:SS` (UTC), with
// optional fractional seconds, a T instead of the space, or an RFC 3339
// zone.
func ParseTimestamp(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, l := range timestampLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("timestamp %q is not YYYY-MM-DD HH:MM:SS", truncate([]byte(s), 40))
}

func parseValue(b []byte) (float64, error) {
	s := strings.TrimSpace(string(b))
	if s == "" {
		return 0, errors.New("empty value")
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("value %q is not a number", truncate([]byte(s), 40))
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("value %q is not finite", s)
	}
	return v, nil
}

func truncate(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + "…"
}

// lineReader reads lines without their LF or CRLF, at most maxLine bytes
// each, counting the bytes it consumed.
type lineReader struct {
	r   *bufio.Reader
	buf []byte
	n   int64
}

// next returns the next line (valid until the following call) and whether
// it was cut at maxLine; io.EOF once no line is left.
func (l *lineReader) next() ([]byte, bool, error) {
	l.buf = l.buf[:0]
	tooLong := false
	for {
		chunk, err := l.r.ReadSlice('\n')
		l.n += int64(len(chunk))
		if len(l.buf)+len(chunk) <= maxLine {
			l.buf = append(l.buf, chunk...)
		} else {
			tooLong = true
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == io.EOF {
			if len(l.buf) == 0 && !tooLong {
				return nil, false, io.EOF
			}
			break
		}
		if err != nil {
			return nil, false, err
		}
		break
	}
	line := bytes.TrimSuffix(l.buf, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	return line, tooLong, nil
}

// splitFields splits one CSV line into its raw fields, quotes kept, into
// dst. A quoted field may hold commas and doubled quotes; one that is not
// closed, or followed by anything but a comma, is an error.
func splitFields(line []byte, dst [][]byte) ([][]byte, error) {
	i := 0
	for {
		start := i
		if i < len(line) && line[i] == '"' {
			i++
			for {
				j := bytes.IndexByte(line[i:], '"')
				if j < 0 {
					return dst, errors.New("a quoted field is not closed")
				}
				i += j + 1
				if i < len(line) && line[i] == '"' {
					i++ // a doubled quote
					continue
				}
				break
			}
			if i < len(line) && line[i] != ',' {
				return dst, errors.New("text after a closing quote")
			}
		} else {
			j := bytes.IndexByte(line[i:], ',')
			if j < 0 {
				i = len(line)
			} else {
				i += j
			}
		}
		dst = append(dst, line[start:i])
		if i >= len(line) {
			return dst, nil
		}
		i++ // the comma
	}
}

// unquote is a raw field's text: without its quotes, doubled quotes made
// single.
func unquote(f []byte) []byte {
	if len(f) >= 2 && f[0] == '"' && f[len(f)-1] == '"' {
		f = f[1 : len(f)-1]
		if bytes.Contains(f, []byte(`""`)) {
			return bytes.ReplaceAll(f, []byte(`""`), []byte(`"`))
		}
	}
	return f
}
