package shipper

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/vigil-soc/vigil/pkg/backoff"
	"github.com/vigil-soc/vigil/pkg/event"
	"github.com/vigil-soc/vigil/services/shipper/multiline"
	"github.com/vigil-soc/vigil/services/shipper/parse"
	"github.com/vigil-soc/vigil/services/shipper/receiver"
	"github.com/vigil-soc/vigil/services/shipper/spool"
	"github.com/vigil-soc/vigil/services/shipper/tail"
)

// fileSource follows one shipper.files entry. Its reader polls the tailer
// and joins multi-line records; workers parse and encode batches in
// parallel; its appender hands the batches to the spool in the order they
// were read. When a batch (and every batch before it) is acknowledged by
// Kafka, the spool calls back and the tailer's checkpoints move to its end.
type fileSource struct {
	input  string // metrics label
	parser parse.Parser
	// ordered: the parser must see lines in order, so the reader parses
	// and only encoding runs in parallel.
	ordered bool
	joiner  *multiline.Joiner // nil: a line is a record
	spool   *spool.Spool
	metrics *metrics
	logger  *slog.Logger
	opts    sourceOptions
	// dirty is called when checkpoints moved and should be saved.
	dirty func()
	// saveFor saves the checkpoints at once unless those on disk hold
	// every one of the origins.
	saveFor func(origins []string) error

	mu     sync.Mutex // guards tailer: the reader polls, acknowledgements commit
	tailer *tail.Tailer

	last    tail.Stats // reader only
	lastErr string     // reader only
	// headed: the format reads a header at the top of each file (Zeek's
	// #fields); primed lists the origins whose header the parser has seen.
	headed bool
	primed map[string]bool // reader only
}

// sourceOptions are the settings every file source shares.
type sourceOptions struct {
	tenant, host string
	batch        int
	poll         time.Duration
	workers      int
}

// job is one batch on its way from the reader to the spool.
type job struct {
	now     time.Time
	recs    []multiline.Record
	evs     []*event.Event // parsed, when the reader parses
	commits []commit       // the end of the batch in each file it touches
	msgs    []spool.Msg
	bad     int // lines kept raw because no parser understood them
	done    chan struct{}
}

type commit struct {
	origin string
	end    int64
}

// maxScratch is the largest encoding buffer a worker keeps between
// batches: room for a batch of 2,000 typical events, not for one of
// 2,000 lines of max_line_bytes.
const maxScratch = 4 << 20

// run reads until stop is closed, then returns once its goroutines ended.
// Batches read but not yet in the spool are dropped then: they were not
// committed, so they are read again after a restart.
func (f *fileSource) run(stop <-chan struct{}) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	work := make(chan *job, f.opts.workers)
	order := make(chan *job, 2*f.opts.workers)
	var wg sync.WaitGroup
	for range f.opts.workers {
		wg.Go(func() {
			var scratch []byte // this worker's, reused for every batch
			for j := range work {
				scratch = f.encode(j, scratch[:0])
				if cap(scratch) > maxScratch {
					scratch = nil // a batch of long lines: not kept for the next
				}
				close(j.done)
			}
		})
	}
	appended := make(chan struct{})
	go func() {
		defer close(appended)
		for j := range order {
			<-j.done
			// A batch that cannot be spooled is retried, never skipped: the
			// next batch's acknowledgement would commit past its lines.
			for ctx.Err() == nil {
				err := f.spool.Append(ctx, j.msgs, f.onAck(j), false)
				if err == nil {
					f.metrics.appended.WithLabelValues(f.input).Add(float64(len(j.msgs)))
					break
				}
				if ctx.Err() != nil || errors.Is(err, spool.ErrClosed) {
					cancel() // stopping: later batches are read again after a restart
					break
				}
				f.logger.Error("spooling a batch failed; retrying", "input", f.input, "err", err.Error())
				backoff.Sleep(ctx, time.Second)
			}
		}
	}()

	f.read(stop, work, order)
	cancel()
	close(work)
	close(order)
	wg.Wait()
	<-appended
}

// read polls until stop is closed, sending each batch to the workers and,
// in the same order, to the appender.
func (f *fileSource) read(stop <-chan struct{}, work, order chan<- *job) {
	t := time.NewTicker(f.opts.poll)
	defer t.Stop()
	for {
		now := time.Now()
		recs, full := f.poll(now)
		if len(recs) > 0 {
			j := &job{now: now, recs: recs, commits: commits(recs), done: make(chan struct{})}
			f.saveOrigins(j.commits)
			if f.ordered {
				f.prime(recs)
				f.parse(j)
			}
			select {
			case work <- j:
			case <-stop:
				return
			}
			select {
			case order <- j:
			case <-stop:
				return
			}
		}
		if full {
			select {
			case <-stop:
				return
			default:
				continue // more is waiting: no pause
			}
		}
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

// poll returns the next records (copies, safe to keep) and whether the
// tailer had more lines than one batch.
func (f *fileSource) poll(now time.Time) ([]multiline.Record, bool) {
	f.mu.Lock()
	lines, err := f.tailer.Poll(f.opts.batch, now)
	st := f.tailer.Stats()
	files := f.tailer.Files()
	f.mu.Unlock()
	f.observe(st, files, err)
	full := len(lines) >= f.opts.batch
	if f.joiner == nil {
		return copyLines(lines), full
	}
	var recs []multiline.Record
	for _, l := range lines {
		recs = f.joiner.Add(multiline.Line{Origin: l.Origin, Offset: l.Offset, End: l.End, Data: l.Data, Truncated: l.Truncated}, now, recs)
	}
	return f.joiner.Flush(now, false, recs), full
}

// saveOrigins saves the checkpoints before the first record of a file (or
// of a file's new content, after copytruncate) goes to the workers. A
// file's origin is taken from its first bytes when it is first seen and
// goes into every event id; were it not saved, a restart would see the
// file's longer prefix, give it another origin, and lines read again would
// get new ids. Saved means in the store on disk, not followed by the
// tailer: a file found by the first poll after a restart (one rotated in
// while the shipper was down) is followed, not saved.
func (f *fileSource) saveOrigins(cs []commit) {
	origins := make([]string, len(cs))
	for i, c := range cs {
		origins[i] = c.origin
	}
	if err := f.saveFor(origins); err != nil {
		f.logger.Error("saving checkpoints failed; lines may be shipped again after a restart", "err", err)
	}
}

// copyLines makes records of lines, copying their bytes into one buffer.
func copyLines(lines []tail.Line) []multiline.Record {
	if len(lines) == 0 {
		return nil
	}
	n := 0
	for _, l := range lines {
		n += len(l.Data)
	}
	buf := make([]byte, 0, n)
	recs := make([]multiline.Record, len(lines))
	for i, l := range lines {
		start := len(buf)
		buf = append(buf, l.Data...)
		recs[i] = multiline.Record{
			Origin: l.Origin, Offset: l.Offset, End: l.End,
			Data: buf[start:len(buf):len(buf)], Truncated: l.Truncated, Lines: 1,
		}
	}
	return recs
}

// commits returns, for each file the records come from, the end of its
// last record.
func commits(recs []multiline.Record) []commit {
	var cs []commit
next:
	for _, r := range recs {
		for i := range cs {
			if cs[i].origin == r.Origin {
				cs[i].end = max(cs[i].end, r.End)
				continue next
			}
		}
		cs = append(cs, commit{origin: r.Origin, end: r.End})
	}
	return cs
}

// prime shows the parser the header lines of a file whose reading resumed
// past them (after a restart), so that a Zeek TSV file read from a
// checkpoint still knows its columns. The header is every line starting
// with '#' at the top of the file; it is read from the file's current path.
func (f *fileSource) prime(recs []multiline.Record) {
	if !f.headed {
		return
	}
	if f.primed == nil {
		f.primed = map[string]bool{}
	}
	for _, r := range recs {
		if f.primed[r.Origin] {
			continue
		}
		f.primed[r.Origin] = true
		if r.Offset == 0 {
			continue // the header comes with the lines
		}
		f.mu.Lock()
		path := f.tailer.Path(r.Origin)
		f.mu.Unlock()
		if err := f.readHeader(path, r.Origin, r.Offset); err != nil {
			f.logger.Warn("reading a file's header failed; its lines may be kept raw", "input", f.input, "err", err.Error())
		}
	}
}

// readHeader parses the '#' lines at the top of path, before offset.
func (f *fileSource) readHeader(path, origin string, offset int64) error {
	file, err := os.Open(path)
	if err != nil {
		return err
	}
	defer file.Close()
	br := bufio.NewReader(io.LimitReader(file, min(offset, 1<<20)))
	var off int64
	for {
		line, err := br.ReadBytes('\n')
		if len(line) == 0 || line[0] != '#' || !bytes.HasSuffix(line, []byte{'\n'}) {
			return nil
		}
		f.parser.Parse(parse.Input{
			Tenant: f.opts.tenant, Host: f.opts.host, Origin: origin, Offset: off,
			Line: bytes.TrimRight(line, "\r\n"), Now: time.Now(),
		})
		off += int64(len(line))
		if err != nil {
			return nil
		}
	}
}

// parse turns a job's records into events.
func (f *fileSource) parse(j *job) {
	j.evs = make([]*event.Event, len(j.recs))
	for i, r := range j.recs {
		j.evs[i], _ = f.parser.Parse(parse.Input{
			Tenant: f.opts.tenant, Host: f.opts.host, Origin: r.Origin, Offset: r.Offset,
			Line: r.Data, Truncated: r.Truncated, Now: j.now,
		})
		if j.evs[i].ParseError != "" {
			j.bad++
		}
	}
}

// encode encodes a job's events (parsing its records first, unless the
// reader did) into messages. It encodes into buf, a scratch buffer it
// returns for the next batch, and copies the result into one of exactly
// the right size, so the spool's memory budget counts what is really held.
func (f *fileSource) encode(j *job, buf []byte) []byte {
	if j.evs == nil {
		f.parse(j)
	}
	msgs := make([]spool.Msg, 0, len(j.recs))
	for i, r := range j.recs {
		ev := j.evs[i]
		var msg spool.Msg
		var err error
		if buf, msg, err = receiver.AppendEvent(buf, ev); err != nil {
			// A parser's event always encodes; keep the line anyway.
			ev = rawEvent(f.opts, r, j.now, err.Error())
			if buf, msg, err = receiver.AppendEvent(buf, ev); err != nil {
				f.logger.Error("event cannot be encoded", "err", err.Error())
				continue
			}
			j.bad++
		}
		msgs = append(msgs, msg)
	}
	j.msgs = compact(msgs)
	j.recs, j.evs = nil, nil // the encoded messages are all that is needed now
	f.metrics.parseErrors.WithLabelValues(f.input).Add(float64(j.bad))
	return buf
}

// compact copies the keys and values of msgs into one buffer of their
// total size.
func compact(msgs []spool.Msg) []spool.Msg {
	n := 0
	for _, m := range msgs {
		n += len(m.Key) + len(m.Value)
	}
	buf := make([]byte, 0, n)
	for i, m := range msgs {
		k := len(buf)
		buf = append(buf, m.Key...)
		v := len(buf)
		buf = append(buf, m.Value...)
		msgs[i] = spool.Msg{Key: buf[k:v:v], Value: buf[v:len(buf):len(buf)]}
	}
	return msgs
}

// onAck returns what runs once Kafka acknowledged j and all before it.
func (f *fileSource) onAck(j *job) func() {
	// Capture only what is needed: the closure lives until the ack, and
	// the job holds the batch's bytes, which the spool may have moved to
	// disk.
	n, cs := len(j.msgs), j.commits
	return func() {
		f.mu.Lock()
		for _, c := range cs {
			f.tailer.Commit(c.origin, c.end)
		}
		f.mu.Unlock()
		f.metrics.published.WithLabelValues(f.input).Add(float64(n))
		f.dirty()
	}
}

// observe updates the metrics from the tailer's counters, and logs a read
// problem when it starts or changes, not every poll.
func (f *fileSource) observe(st tail.Stats, files int, err error) {
	m := f.metrics
	m.lines.WithLabelValues(f.input).Add(float64(st.Lines - f.last.Lines))
	m.bytes.WithLabelValues(f.input).Add(float64(st.Bytes - f.last.Bytes))
	m.truncated.WithLabelValues(f.input).Add(float64(st.Truncated - f.last.Truncated))
	f.last = st
	if err != nil {
		m.readErrors.WithLabelValues(f.input).Inc()
	}
	if msg := errString(err); msg != f.lastErr {
		if msg != "" {
			f.logger.Warn("reading files failed", "input", f.input, "err", msg)
		} else {
			f.logger.Info("reading files works again", "input", f.input)
		}
		f.lastErr = msg
	}
}

func (f *fileSource) checkpoints() []tail.Checkpoint {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tailer.Checkpoints()
}

func (f *fileSource) files() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tailer.Files()
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// rawEvent keeps a record as a raw event whose ParseError says why.
func rawEvent(o sourceOptions, r multiline.Record, now time.Time, reason string) *event.Event {
	ev, _ := parse.Raw{}.Parse(parse.Input{
		Tenant: o.tenant, Host: o.host, Origin: r.Origin, Offset: r.Offset,
		Line: r.Data, Truncated: r.Truncated, Now: now,
	})
	ev.ParseError = reason
	return ev
}
