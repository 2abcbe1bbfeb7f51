package pager

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vigil-soc/vigil/pkg/backoff"
	"github.com/vigil-soc/vigil/pkg/stream"
	"github.com/vigil-soc/vigil/services/pager/receiver"
)

// Headers a dead letter of the pager carries besides stream.DeadLetter's.
const (
	HeaderDLQReceiver = "vigil.dlq.receiver"
	HeaderDLQAttempts = "vigil.dlq.attempts"
)

// recordTimeout bounds writing the record of a notification that was
// sent, which is done even while shutting down.
const recordTimeout = 10 * time.Second

// deliver sends tk until its receiver accepts it (and records that) or
// it is dead-lettered. It reports false when the generation ended
// first: the notification is left to whoever reads the alert next.
//
// A process sends one request per receiver at a time, and holds that
// turn until the outcome is recorded: whenever it dies, at most one
// notification per receiver has been accepted and not recorded.
func (p *Pager) deliver(ctx context.Context, tk *task) bool {
	t := tk.target
	start := time.Now()
	for attempts := 1; ; attempts++ {
		if !p.waitTurn(ctx, t) {
			return false
		}
		t.sending.Lock()
		err := p.request(ctx, tk)
		if err == nil {
			p.metrics.notifications.WithLabelValues(t.name, resultDelivered).Inc()
			p.record(ctx, tk)
			t.sending.Unlock()
			return true
		}
		reason, wait := p.verdict(err, attempts, time.Since(start))
		if reason != "" {
			ok := p.giveUp(ctx, tk, reason, attempts, err, time.Since(start))
			t.sending.Unlock()
			return ok
		}
		t.sending.Unlock()
		p.metrics.retries.WithLabelValues(t.name).Inc()
		if !backoff.Sleep(ctx, wait) {
			return false
		}
	}
}

// request makes one request for tk. A request under way finishes even if
// the generation ends: its outcome is recorded, so nobody sends it again.
func (p *Pager) request(ctx context.Context, tk *task) error {
	t := tk.target
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), t.timeout)
	defer cancel()
	began := time.Now()
	err := t.Notify(actx, tk.alert)
	p.metrics.requests.WithLabelValues(t.name).Observe(time.Since(began).Seconds())
	return err
}

// verdict says what follows a failed attempt: a dead-letter reason, or
// how long to wait before the next try.
func (p *Pager) verdict(err error, attempts int, elapsed time.Duration) (reason string, wait time.Duration) {
	rc := p.cfg.Pager.Retry
	retry, after := receiver.Retryable(err)
	switch {
	case !retry:
		return reasonRejected, 0
	case attempts >= rc.MaxAttempts:
		return reasonAttempts, 0
	}
	wait = after
	if wait == 0 {
		wait = retryDelay(attempts, rc.InitialBackoff, rc.MaxBackoff, rand.Int64N)
	}
	if elapsed+wait > rc.MaxElapsed {
		return reasonElapsed, 0
	}
	return "", wait
}

// giveUp dead-letters tk; false when the generation ended before the
// dead letter was written.
func (p *Pager) giveUp(ctx context.Context, tk *task, reason string, attempts int, err error, elapsed time.Duration) bool {
	t := tk.target
	detail := p.redact.Replace(err.Error())
	if reason != reasonRejected {
		detail = fmt.Sprintf("gave up after %d attempts in %s: %s", attempts, elapsed.Round(time.Millisecond), detail)
	}
	t.warn.Do(func() {
		p.logger.Warn("dead-lettering notifications (logged once a minute per receiver)", "receiver", t.name, "reason", reason, "err", detail)
	})
	m := tk.job.msg
	if !p.deadLetter(ctx, m, t.name, reason, detail, attempts) {
		return false
	}
	p.metrics.notifications.WithLabelValues(t.name, resultDeadLettered).Inc()
	// Not recorded: a dead letter produced back onto an alert topic is sent
	// again (and only to the receivers that did not get it).
	p.deliveries.release(tk.id)
	return true
}

// record writes that tk was delivered to the deliveries topic, even if
// the generation just ended, within recordTimeout.
func (p *Pager) record(ctx context.Context, tk *task) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	ok := backoff.Retry(rctx, recordBackoff, p.logger, "record a notification", func(ctx context.Context) error {
		return p.deliveries.record(ctx, tk.id, p.cfg.Pager.GroupID, tk.target.name, tk.alert)
	})
	if !ok {
		p.metrics.recordErrors.Inc()
	}
}

var recordBackoff = backoff.Policy{Initial: 100 * time.Millisecond, Max: 2 * time.Second}

// retryDelay is the wait after the n-th failed attempt: initial doubled
// n-1 times, at most max, with "equal jitter": a uniformly random time
// between half of it and all of it, so that pagers retrying together
// spread out. randN(k) returns a number in [0,k).
func retryDelay(n int, initial, max time.Duration, randN func(int64) int64) time.Duration {
	d := initial
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	d = min(d, max)
	half := d / 2
	return half + time.Duration(randN(int64(d-half)+1))
}

// waitTurn waits for t's rate limit; false when ctx ended first.
func (p *Pager) waitTurn(ctx context.Context, t *target) bool {
	r := t.limiter.Reserve()
	d := r.Delay()
	if d == 0 {
		return true
	}
	p.metrics.limited.WithLabelValues(t.name).Inc()
	p.metrics.limitedWait.WithLabelValues(t.name).Add(d.Seconds())
	if !backoff.Sleep(ctx, d) {
		r.Cancel()
		return false
	}
	return true
}

// deadLetter writes m to the alert dead-letter topic with the receiver
// (empty for a message that is not an alert), the reason and the
// attempts made in headers, retrying until it is written; false when ctx
// ended first.
func (p *Pager) deadLetter(ctx context.Context, m kafka.Message, receiverName, reason, detail string, attempts int) bool {
	dl := stream.DeadLetter(m, "pager", reason+": "+detail)
	dl.Headers = append(dl.Headers,
		kafka.Header{Key: HeaderDLQReceiver, Value: []byte(receiverName)},
		kafka.Header{Key: HeaderDLQAttempts, Value: []byte(strconv.Itoa(attempts))},
	)
	if !backoff.Retry(ctx, recordBackoff, p.logger, "write to "+p.cfg.Kafka.Topics.AlertsDLQ, func(ctx context.Context) error {
		return p.dlq.WriteMessages(ctx, dl)
	}) {
		return false
	}
	p.metrics.deadLetters.WithLabelValues(receiverName, reason).Inc()
	return true
}
