package shipper

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/pkg/stream"
	"github.com/vigil-soc/vigil/services/shipper/parse"
	"github.com/vigil-soc/vigil/services/shipper/receiver"
	"github.com/vigil-soc/vigil/services/shipper/spool"
)

// BackfillOptions configure Backfill.
type BackfillOptions struct {
	// Format of the lines, as shipper.files[].format. Default auto.
	Format string
	// Progress, when not nil, is told how far the files are read.
	Progress func(read, total int64)
}

// BackfillStats count what Backfill shipped.
type BackfillStats struct {
	Files, Lines, ParseErrors, Truncated int64
}

// Backfill publishes every line of paths (plain or gzip-compressed) to
// kafka.topics.events and returns once Kafka acknowledged all of them.
//
// An event's id comes from the file's content, not its path or inode: the
// origin is "ship:" and a SHA-256 of the first KiB of the (uncompressed)
// file and of its size on disk, so shipping the same archive twice, from
// anywhere, gives the same ids and the copies are removed downstream.
func Backfill(ctx context.Context, cfg config.Config, logger *slog.Logger, paths []string, o BackfillOptions) (BackfillStats, error) {
	var st BackfillStats
	if o.Format == "" {
		o.Format = parse.FormatAuto
	}
	p, err := parse.New(o.Format)
	if err != nil {
		return st, fmt.Errorf("--format: %w", err)
	}
	var total int64
	for _, path := range paths {
		fi, err := os.Stat(path)
		if err != nil {
			return st, err
		}
		if !fi.Mode().IsRegular() {
			return st, fmt.Errorf("%s: not a regular file", path)
		}
		total += fi.Size()
	}
	host := cfg.Shipper.Host
	if host == "" {
		if host, err = os.Hostname(); err != nil {
			return st, fmt.Errorf("shipper.host is empty and the hostname is unknown: %w", err)
		}
	}

	dir, err := os.MkdirTemp("", "vigil-ship-")
	if err != nil {
		return st, err
	}
	defer os.RemoveAll(dir)
	// Nothing needs to outlive this run (the files can be shipped again),
	// so the spool stays in memory up to its limit and blocks beyond it.
	sp, err := spool.Open(spool.Options{Dir: dir, MemoryBytes: cfg.Shipper.Spool.MemoryBytes, MaxBytes: cfg.Shipper.Spool.MemoryBytes})
	if err != nil {
		return st, err
	}
	defer sp.Close()
	k := cfg.Kafka
	client, err := stream.Connect(ctx, k, logger, stream.Topic{Name: k.Topics.Events, Partitions: k.Partitions})
	if err != nil {
		return st, err
	}
	defer client.Close()
	w, err := client.NewWriter(k.Topics.Events, stream.WriterOptions{BatchSize: cfg.Shipper.BatchLines})
	if err != nil {
		return st, err
	}
	defer w.Close()
	snd := newSender(sp, w, newMetrics(nil), logger)
	sendCtx, cancel := context.WithCancel(ctx)
	snd.start(sendCtx, cfg.Shipper.Inflight)
	defer func() { cancel(); snd.wait() }()

	var done int64
	for _, path := range paths {
		n, err := backfillFile(ctx, path, p, sp, cfg, host, &st, func(read int64) {
			if o.Progress != nil {
				o.Progress(done+read, total)
			}
		})
		done += n
		if err != nil {
			return st, fmt.Errorf("%s: %w", path, err)
		}
		st.Files++
	}
	if err := sp.Wait(ctx); err != nil {
		return st, fmt.Errorf("waiting for Kafka to acknowledge: %w", err)
	}
	return st, nil
}

// backfillFile appends the events of one file to the spool and returns its
// size on disk.
func backfillFile(ctx context.Context, path string, p parse.Parser, sp *spool.Spool, cfg config.Config, host string, st *BackfillStats, progress func(int64)) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	counted := &countingReader{r: f}
	br := bufio.NewReaderSize(counted, 1<<20)
	var r io.Reader = br
	if magic, _ := br.Peek(2); bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return 0, fmt.Errorf("gzip: %w", err)
		}
		defer gz.Close()
		r = gz
	}
	lines := bufio.NewReaderSize(r, 1<<20)
	// The same archive gives the same origin wherever it lies; two files
	// alike in their first KiB are still told apart by their size.
	head, _ := lines.Peek(1024)
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	h := sha256.New()
	h.Write(head)
	fmt.Fprintf(h, "\x00%d", fi.Size())
	origin := "ship:" + hex.EncodeToString(h.Sum(nil)[:8])
	maxLine := cfg.Shipper.MaxLineBytes
	batch := cfg.Shipper.BatchLines
	opts := sourceOptions{tenant: cfg.Tenant, host: host}

	var (
		buf  []byte
		msgs []spool.Msg
		now  = time.Now()
	)
	flush := func() error {
		if len(msgs) == 0 {
			return nil
		}
		if err := sp.Append(ctx, msgs, nil, false); err != nil {
			return err
		}
		msgs, buf = nil, nil
		progress(counted.n)
		return nil
	}
	lr := receiver.NewLineReader(lines, maxLine)
	for {
		line, truncated, ended, err := lr.ReadLine(nil)
		if ended || len(line) > 0 {
			ev, _ := p.Parse(parse.Input{
				Tenant: opts.tenant, Host: opts.host, Origin: origin, Offset: lr.Offset(),
				Line: line, Truncated: truncated, Now: now,
			})
			if ev.ParseError != "" {
				st.ParseErrors++
			}
			if truncated {
				st.Truncated++
			}
			var msg spool.Msg
			var encErr error
			if buf, msg, encErr = receiver.AppendEvent(buf, ev); encErr != nil {
				return counted.n, encErr
			}
			msgs = append(msgs, msg)
			st.Lines++
			if len(msgs) >= batch {
				if err := flush(); err != nil {
					return counted.n, err
				}
				now = time.Now()
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return counted.n, err
		}
	}
	return counted.n, flush()
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
