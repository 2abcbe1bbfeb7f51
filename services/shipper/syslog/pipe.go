package syslog

import (
	"errors"
	"time"

	"github.com/vigil-soc/vigil/services/shipper/spool"
)

// item is one encoded event on its way to a batch; ok is false when there
// is nothing to hand over.
type item struct {
	msg spool.Msg
	ok  bool
}

// pipe gathers the events of one transport into batches of at most
// batch_messages, each waiting at most batch_wait to fill, and appends
// them to the sink. TCP and TLS batches are appended durably and Append
// waits for room: the connections' readers then wait on the pipe, stop
// reading their sockets, and TCP flow control slows the senders. UDP
// senders cannot be slowed: a batch that finds the sink full is dropped
// and counted.
type pipe struct {
	r         *Receiver
	transport string
	in        chan spool.Msg
	// problem is why the last batch was not appended ("" when it was);
	// logged when it changes, not per batch.
	problem string
	lost    int // messages dropped since problem was set
}

// newPipe starts the batcher of a transport. Called with r.mu held.
func (r *Receiver) newPipe(transport string) *pipe {
	p := &pipe{r: r, transport: transport, in: make(chan spool.Msg, r.cfg.BatchMessages)}
	r.pipes[transport] = p
	r.batchers.Add(1)
	go p.run()
	return p
}

// put hands over one message, waiting while the batcher is busy. It
// returns false once Shutdown gave up waiting.
func (p *pipe) put(it item) bool {
	if !it.ok {
		return true
	}
	select {
	case p.in <- it.msg:
		return true
	case <-p.r.abort:
		p.r.metrics.dropped.WithLabelValues(p.transport, "shutdown").Inc()
		return false
	}
}

func (p *pipe) run() {
	defer p.r.batchers.Done()
	size, wait := p.r.cfg.BatchMessages, p.r.cfg.BatchWait
	batch := make([]spool.Msg, 0, size)
	timer := time.NewTimer(wait)
	timer.Stop()
	for {
		select {
		case m, ok := <-p.in:
			if !ok {
				p.flush(batch)
				return
			}
			batch = append(batch, m)
			if len(batch) == 1 {
				timer.Reset(wait)
			}
			if len(batch) < size {
				continue
			}
		case <-timer.C:
		}
		timer.Stop()
		p.flush(batch)
		batch = make([]spool.Msg, 0, size) // the sink keeps the last one
	}
}

// flush appends a batch, counting what was published or dropped.
func (p *pipe) flush(batch []spool.Msg) {
	if len(batch) == 0 {
		return
	}
	var err error
	if p.transport == TransportUDP {
		err = p.r.sink.TryAppend(batch, nil, false)
	} else {
		err = p.r.sink.Append(p.r.appendCtx, batch, nil, true)
	}
	n := float64(len(batch))
	if err == nil {
		p.r.metrics.published.WithLabelValues(p.transport).Add(n)
		p.report("", 0, nil)
		return
	}
	reason := "spool_error"
	switch {
	case errors.Is(err, spool.ErrFull):
		reason = "spool_full"
	case p.r.appendCtx.Err() != nil:
		reason = "shutdown"
	}
	p.r.metrics.dropped.WithLabelValues(p.transport, reason).Add(n)
	p.report(reason, len(batch), err)
}

// report logs the start and the end of an episode of dropped batches, not
// every batch.
func (p *pipe) report(problem string, n int, err error) {
	if problem == p.problem {
		p.lost += n
		return
	}
	if problem == "" {
		p.r.logger.Info("syslog: appending again", "transport", p.transport, "after", p.problem, "dropped", p.lost)
	} else {
		p.r.logger.Warn("syslog: dropping messages", "transport", p.transport, "reason", problem, "err", err)
	}
	p.problem, p.lost = problem, n
}
