// Package multiline joins the lines of one record — a stack trace, a
// statement spanning lines — into one, by a rule on how records start or
// continue, before they are parsed.
package multiline

import (
	"fmt"
	"regexp"
	"time"

	"github.com/vigil-soc/vigil/pkg/config"
)

// Line is one line as a reader hands it out.
type Line struct {
	// Origin identifies the file (or stream) the line came from; lines of
	// different origins are never joined.
	Origin string
	// Offset is where the line starts; End is where the next one starts.
	Offset, End int64
	// Data is the line without its newline. The joiner copies it.
	Data []byte
	// Truncated says the reader cut the line.
	Truncated bool
}

// Record is one or more joined lines: Offset is the first line's, End the
// last line's, Data the lines joined with "\n".
type Record struct {
	Origin      string
	Offset, End int64
	Data        []byte
	// Truncated says a line was cut by the reader, or the record by
	// MaxBytes.
	Truncated bool
	// Lines counts the lines joined.
	Lines int
}

// Joiner applies a rule to the lines of each origin. It is not safe for
// concurrent use.
type Joiner struct {
	start, cont *regexp.Regexp
	maxLines    int
	maxBytes    int
	timeout     time.Duration
	pending     map[string]*pending
}

type pending struct {
	rec  Record
	last time.Time // when its last line was added
}

// New returns a joiner for cfg, or nil when cfg sets neither Start nor
// Continue (every line is a record). maxBytes caps a record's Data.
func New(cfg config.MultilineConfig, maxBytes int) (*Joiner, error) {
	if cfg.Start == "" && cfg.Continue == "" {
		return nil, nil
	}
	j := &Joiner{maxLines: max(cfg.MaxLines, 1), maxBytes: maxBytes, timeout: cfg.Timeout, pending: map[string]*pending{}}
	var err error
	if cfg.Start != "" {
		if j.start, err = regexp.Compile(cfg.Start); err != nil {
			return nil, fmt.Errorf("multiline.start: %w", err)
		}
	}
	if cfg.Continue != "" {
		if j.cont, err = regexp.Compile(cfg.Continue); err != nil {
			return nil, fmt.Errorf("multiline.continue: %w", err)
		}
	}
	return j, nil
}

// Add takes the next line of its origin and returns the records it
// completes (the one before it, when the line starts a new record).
func (j *Joiner) Add(l Line, now time.Time, out []Record) []Record {
	p := j.pending[l.Origin]
	if p != nil && j.continues(l.Data) && p.rec.Lines < j.maxLines {
		r := &p.rec
		room := j.maxBytes - len(r.Data) - 1
		switch {
		case room >= len(l.Data):
			r.Data = append(append(r.Data, '\n'), l.Data...)
		case room > 0:
			r.Data = append(append(r.Data, '\n'), l.Data[:room]...)
			r.Truncated = true
		default:
			r.Truncated = true
		}
		r.End = l.End
		r.Lines++
		r.Truncated = r.Truncated || l.Truncated
		p.last = now
		return out
	}
	if p != nil {
		out = append(out, p.rec)
	} else {
		p = &pending{}
		j.pending[l.Origin] = p
	}
	p.rec = Record{
		Origin: l.Origin, Offset: l.Offset, End: l.End,
		Data: append([]byte(nil), l.Data...), Truncated: l.Truncated, Lines: 1,
	}
	p.last = now
	return out
}

// continues reports whether a line belongs to the record before it.
func (j *Joiner) continues(data []byte) bool {
	if j.cont != nil {
		return j.cont.Match(data)
	}
	return !j.start.Match(data)
}

// Flush returns the records whose last line came Timeout or longer before
// now (all of them with force), in no particular order across origins.
func (j *Joiner) Flush(now time.Time, force bool, out []Record) []Record {
	for origin, p := range j.pending {
		if force || now.Sub(p.last) >= j.timeout {
			out = append(out, p.rec)
			delete(j.pending, origin)
		}
	}
	return out
}

// Pending is the number of records being joined.
func (j *Joiner) Pending() int { return len(j.pending) }
