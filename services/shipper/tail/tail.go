package tail

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"time"
)

// Options configure a Tailer.
type Options struct {
	// Patterns are glob patterns; files that appear later are picked up.
	Patterns []string
	// FromEnd starts files found by the first scan at their end instead of
	// their first byte. Files that appear later, and files with a
	// checkpoint, are unaffected.
	FromEnd bool
	// MaxLineBytes truncates longer lines; the rest of such a line is
	// skipped and the line is flagged Truncated.
	MaxLineBytes int
	// PartialAfter hands out a last line that has no newline yet once its
	// file has not grown for this long, so a file that does not end in a
	// newline is not held back for ever.
	PartialAfter time.Duration
	// CloseAfter closes a file that no pattern matches any more (rotated
	// away or deleted) once it has been read to its end and has not grown
	// for this long.
	CloseAfter time.Duration
}

// fingerprintMax is how many leading bytes identify a file's content.
const fingerprintMax = 1024

// readChunk is how much is read from a file at once.
const readChunk = 256 << 10

// Line is one line handed out by Poll.
type Line struct {
	// Origin identifies the file: "dev:ino:fingerprint".
	Origin string
	// Path the file had when the line was read.
	Path string
	// Offset of the line's first byte in the file.
	Offset int64
	// End is the offset after the line and its newline: commit it once the
	// line is safely delivered.
	End int64
	// Data is the line without its newline (and without a trailing \r).
	// It is valid until the next Poll.
	Data []byte
	// Truncated says Data is the first MaxLineBytes of a longer line.
	Truncated bool
}

type fileKey struct{ dev, ino uint64 }

type file struct {
	key       fileKey
	path      string
	origin    string
	f         *os.File
	fp        string
	fpLen     int
	readPos   int64  // next byte to read from disk
	pending   int64  // offset of buf[0]
	buf       []byte // read, not yet handed out
	committed int64
	// skipping is set inside an over-long line: head holds its first
	// MaxLineBytes, the rest is dropped until its newline.
	skipping   bool
	skipStart  int64
	head       []byte
	lastGrowth time.Time
	matched    bool
}

// Stats counts what a Tailer did, for metrics.
type Stats struct {
	Lines, Bytes, Truncated, Truncations, Opened, Closed uint64
}

// Tailer follows the files its patterns match. It is not safe for
// concurrent use.
type Tailer struct {
	opts     Options
	files    map[fileKey]*file
	restored map[fileKey]Checkpoint
	scanned  bool
	turn     int // which file the next poll starts at
	stats    Stats
	out      []byte // backing store for Poll's lines
	lines    []Line // Poll's lines, reused by the next Poll
}

// New returns a tailer; restored are the checkpoints saved earlier (from
// any tailer: each takes those of the files it finds).
func New(opts Options, restored []Checkpoint) *Tailer {
	t := &Tailer{opts: opts, files: map[fileKey]*file{}, restored: map[fileKey]Checkpoint{}}
	for _, cp := range restored {
		t.restored[fileKey{cp.Dev, cp.Ino}] = cp
	}
	return t
}

// Poll finds new files, notices truncation and rotation, and returns up to
// max complete lines across its files, valid until the next Poll. Errors on
// single files are returned joined; the other files are still read.
func (t *Tailer) Poll(max int, now time.Time) ([]Line, error) {
	errs := []error{t.scan(now)}
	t.out = t.out[:0]
	lines := t.lines[:0]
	keys := make([]fileKey, 0, len(t.files))
	for k := range t.files {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return t.files[keys[i]].path < t.files[keys[j]].path })
	// Start each poll at the next file, so one file with a backlog of more
	// than max lines cannot starve the others.
	if len(keys) > 0 {
		t.turn = (t.turn + 1) % len(keys)
		keys = append(keys[t.turn:], keys[:t.turn]...)
	}
	for _, k := range keys {
		if len(lines) >= max {
			break
		}
		fl := t.files[k]
		var err error
		if lines, err = t.read(fl, lines, max, now); err != nil {
			errs = append(errs, fmt.Errorf("read %s: %w", fl.path, err))
		}
		t.maybeClose(fl, now)
	}
	// Data slices point into t.out, which may have moved while growing;
	// re-slice them now that it is final.
	pos := 0
	for i := range lines {
		n := len(lines[i].Data)
		lines[i].Data = t.out[pos : pos+n : pos+n]
		pos += n
	}
	t.lines = lines
	return lines, errors.Join(errs...)
}

// Commit records that every line of origin before end is delivered.
func (t *Tailer) Commit(origin string, end int64) {
	for _, fl := range t.files {
		if fl.origin == origin && end > fl.committed {
			fl.committed = end
			return
		}
	}
}

// Path returns the path of the file with origin, or "" when none is
// followed.
func (t *Tailer) Path(origin string) string {
	for _, fl := range t.files {
		if fl.origin == origin {
			return fl.path
		}
	}
	return ""
}

// Checkpoints returns the committed position of every tracked file.
func (t *Tailer) Checkpoints() []Checkpoint {
	cps := make([]Checkpoint, 0, len(t.files))
	for _, fl := range t.files {
		cps = append(cps, Checkpoint{
			Path: fl.path, Dev: fl.key.dev, Ino: fl.key.ino,
			Fingerprint: fl.fp, FingerprintLen: fl.fpLen, Offset: fl.committed, Origin: fl.origin,
		})
	}
	return cps
}

// Files is the number of files being followed.
func (t *Tailer) Files() int { return len(t.files) }

// Stats returns the counters so far.
func (t *Tailer) Stats() Stats { return t.stats }

// Close closes every file.
func (t *Tailer) Close() {
	for k, fl := range t.files {
		fl.f.Close()
		delete(t.files, k)
	}
}

func (t *Tailer) scan(now time.Time) error {
	first := !t.scanned
	t.scanned = true
	for _, fl := range t.files {
		fl.matched = false
	}
	var errs []error
	seen := map[string]bool{}
	for _, pattern := range t.opts.Patterns {
		paths, err := filepath.Glob(pattern)
		if err != nil {
			errs = append(errs, fmt.Errorf("glob %q: %w", pattern, err))
			continue
		}
		for _, p := range paths {
			if seen[p] {
				continue
			}
			seen[p] = true
			if err := t.track(p, first, now); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func identity(fi os.FileInfo) (fileKey, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileKey{}, false
	}
	return fileKey{dev: uint64(st.Dev), ino: uint64(st.Ino)}, true //nolint:unconvert // Dev is int32 on some platforms
}

func (t *Tailer) track(path string, first bool, now time.Time) error {
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil // gone between glob and stat
		}
		return fmt.Errorf("stat %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil
	}
	key, ok := identity(fi)
	if !ok {
		return fmt.Errorf("stat %s: no device and inode", path)
	}
	if fl, ok := t.files[key]; ok {
		fl.path = path
		fl.matched = true
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	fl := &file{key: key, path: path, f: f, matched: true, lastGrowth: now}
	size := fi.Size()
	start := int64(0)
	if cp, ok := t.restored[key]; ok && cp.FingerprintLen <= int(size) {
		fp, err := fingerprint(f, cp.FingerprintLen)
		if err == nil && fp == cp.Fingerprint {
			fl.fp, fl.fpLen, fl.origin = cp.Fingerprint, cp.FingerprintLen, cp.Origin
			start = min(cp.Offset, size)
		}
	}
	if fl.fp == "" {
		fl.fpLen = int(min(size, fingerprintMax))
		if fl.fp, err = fingerprint(f, fl.fpLen); err != nil {
			f.Close()
			return fmt.Errorf("fingerprint %s: %w", path, err)
		}
		if first && t.opts.FromEnd {
			start = size
		}
	}
	if fl.origin == "" {
		fl.origin = fmt.Sprintf("%d:%d:%s", key.dev, key.ino, fl.fp[:16])
	}
	fl.readPos, fl.pending, fl.committed = start, start, start
	t.files[key] = fl
	t.stats.Opened++
	return nil
}

func fingerprint(f *os.File, n int) (string, error) {
	b := make([]byte, n)
	if _, err := f.ReadAt(b, 0); err != nil && !(errors.Is(err, io.EOF) && n == 0) {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// read appends fl's lines to lines, until lines holds max.
func (t *Tailer) read(fl *file, lines []Line, max int, now time.Time) ([]Line, error) {
	fi, err := fl.f.Stat()
	if err != nil {
		return lines, err
	}
	same, err := t.sameContent(fl, fi.Size())
	if err != nil {
		return lines, err
	}
	if fi.Size() < fl.readPos || !same {
		// Truncated in place (copytruncate), possibly already written
		// again past where we were: start again from the top.
		t.stats.Truncations++
		fl.readPos, fl.pending, fl.committed = 0, 0, 0
		fl.buf, fl.skipping, fl.head = fl.buf[:0], false, nil
		fl.fpLen = int(min(fi.Size(), fingerprintMax))
		if fl.fp, err = fingerprint(fl.f, fl.fpLen); err != nil {
			return lines, err
		}
		// New content, new origin: an equal line at an equal offset is a
		// new line, not a copy of an old one.
		fl.origin = fmt.Sprintf("%d:%d:%s", fl.key.dev, fl.key.ino, fl.fp[:16])
	}
	for len(lines) < max {
		lines = t.split(fl, lines, max)
		if len(lines) >= max || fl.readPos >= fi.Size() {
			break
		}
		if cap(fl.buf)-len(fl.buf) < readChunk {
			grown := make([]byte, len(fl.buf), len(fl.buf)+readChunk)
			copy(grown, fl.buf)
			fl.buf = grown
		}
		n, err := fl.f.ReadAt(fl.buf[len(fl.buf):len(fl.buf)+readChunk], fl.readPos)
		fl.buf = fl.buf[:len(fl.buf)+n]
		fl.readPos += int64(n)
		t.stats.Bytes += uint64(n)
		if n > 0 {
			fl.lastGrowth = now
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return lines, err
		}
		if n == 0 {
			break
		}
	}
	// A last line without a newline, in a file that stopped growing.
	if len(lines) < max && (len(fl.buf) > 0 || fl.skipping) && fl.readPos >= fi.Size() && now.Sub(fl.lastGrowth) >= t.opts.PartialAfter {
		if fl.skipping {
			lines = t.emit(fl, lines, fl.skipStart, fl.head, fl.pending+int64(len(fl.buf)), true)
			fl.skipping, fl.head = false, nil
		} else {
			data := fl.buf
			lines = t.emit(fl, lines, fl.pending, data, fl.pending+int64(len(data)), len(data) > t.opts.MaxLineBytes)
		}
		fl.pending += int64(len(fl.buf))
		fl.buf = fl.buf[:0]
	}
	return lines, nil
}

// sameContent reports whether the file still starts with the bytes its
// fingerprint was taken of. While the file is shorter than fingerprintMax,
// the fingerprint grows with it, so that a file first seen empty or short
// is still recognised, and told apart from another, later.
func (t *Tailer) sameContent(fl *file, size int64) (bool, error) {
	n := int(min(size, fingerprintMax))
	if n < fl.fpLen {
		return false, nil
	}
	b := make([]byte, n)
	if _, err := fl.f.ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
		return false, err
	}
	sum := sha256.Sum256(b[:fl.fpLen])
	if hex.EncodeToString(sum[:]) != fl.fp {
		return false, nil
	}
	if n > fl.fpLen {
		sum = sha256.Sum256(b)
		fl.fp, fl.fpLen = hex.EncodeToString(sum[:]), n
	}
	return true, nil
}

// split hands out the complete lines in fl.buf.
func (t *Tailer) split(fl *file, lines []Line, max int) []Line {
	consumed := 0
	for len(lines) < max {
		rest := fl.buf[consumed:]
		i := bytes.IndexByte(rest, '\n')
		if fl.skipping {
			if i < 0 {
				consumed = len(fl.buf) // drop the middle of an over-long line
				break
			}
			end := fl.pending + int64(consumed+i+1)
			lines = t.emit(fl, lines, fl.skipStart, fl.head, end, true)
			fl.skipping, fl.head = false, nil
			consumed += i + 1
			continue
		}
		if i < 0 {
			if len(rest) > t.opts.MaxLineBytes {
				fl.skipping = true
				fl.skipStart = fl.pending + int64(consumed)
				fl.head = append([]byte(nil), rest[:t.opts.MaxLineBytes]...)
				consumed = len(fl.buf)
			}
			break
		}
		data := rest[:i]
		truncated := len(data) > t.opts.MaxLineBytes
		if truncated {
			data = data[:t.opts.MaxLineBytes]
		}
		start := fl.pending + int64(consumed)
		lines = t.emit(fl, lines, start, data, start+int64(i+1), truncated)
		consumed += i + 1
	}
	fl.pending += int64(consumed)
	n := copy(fl.buf, fl.buf[consumed:])
	fl.buf = fl.buf[:n]
	return lines
}

func (t *Tailer) emit(fl *file, lines []Line, offset int64, data []byte, end int64, truncated bool) []Line {
	data = bytes.TrimSuffix(data, []byte{'\r'})
	t.out = append(t.out, data...)
	t.stats.Lines++
	if truncated {
		t.stats.Truncated++
	}
	// Data is set by Poll once t.out is final; keep the length here.
	return append(lines, Line{Origin: fl.origin, Path: fl.path, Offset: offset, End: end, Data: data[:len(data):len(data)], Truncated: truncated})
}

// maybeClose forgets a file no pattern matches once it is read to its end,
// idle for CloseAfter, and fully committed.
func (t *Tailer) maybeClose(fl *file, now time.Time) {
	if fl.matched || len(fl.buf) > 0 || fl.skipping || fl.committed < fl.readPos || now.Sub(fl.lastGrowth) < t.opts.CloseAfter {
		return
	}
	if fi, err := fl.f.Stat(); err == nil && fi.Size() > fl.readPos {
		return
	}
	fl.f.Close()
	delete(t.files, fl.key)
	t.stats.Closed++
}
