package processor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vigil-soc/vigil/pkg/alert"
	"github.com/vigil-soc/vigil/pkg/backoff"
	"github.com/vigil-soc/vigil/pkg/detect"
	"github.com/vigil-soc/vigil/pkg/labels"
	"github.com/vigil-soc/vigil/pkg/score"
)

// outputs writes scores and alerts; every task shares it.
type outputs struct {
	logger  *slog.Logger
	metrics *metrics
	scores  *kafka.Writer
	alerts  *kafka.Writer
	routes  []alertRoute
}

// alertRoute is one of processor.alert_routes: matching alerts go to its
// topic as well.
type alertRoute struct {
	matchers labels.Matchers
	topic    string
	w        *kafka.Writer
}

// publish writes alerts, then scores, retrying until acknowledged or ctx
// ends: a page goes out before the bulk of the scores. Alerts in skip were
// published already (before a crash, by this partition's last owner).
func (o *outputs) publish(ctx context.Context, out detect.Output, skip map[string]bool) error {
	var fresh []alert.Alert
	for _, a := range out.Alerts {
		if skip[alertIdentity(a)] {
			o.metrics.republished.Inc()
			continue
		}
		fresh = append(fresh, a)
	}
	if len(fresh) > 0 {
		msgs := make([]kafka.Message, len(fresh))
		for i, a := range fresh {
			b, err := json.Marshal(a)
			if err != nil {
				return fmt.Errorf("encode alert: %w", err)
			}
			msgs[i] = kafka.Message{Key: []byte(a.DedupKey), Value: b}
		}
		if err := o.write(ctx, o.alerts, "alerts", msgs); err != nil {
			return err
		}
		for _, r := range o.routes {
			var routed []kafka.Message
			for i, a := range fresh {
				if r.matchers.Matches(a.LabelSet()) {
					routed = append(routed, kafka.Message{Key: msgs[i].Key, Value: msgs[i].Value})
				}
			}
			if err := o.write(ctx, r.w, "alerts to "+r.topic, routed); err != nil {
				return err
			}
		}
		o.metrics.alerts.Add(float64(len(msgs)))
	}
	if len(out.Scores) > 0 {
		msgs := make([]kafka.Message, 0, len(out.Scores))
		// One buffer holds the keys and values of them all: an allocation
		// or two per batch rather than a few per score.
		buf := make([]byte, 0, len(out.Scores)*scoreBytes)
		for i := range out.Scores {
			s := &out.Scores[i]
			start := len(buf)
			buf = append(buf, s.Entity...)
			mid := len(buf)
			var err error
			if buf, err = score.AppendJSON(buf, s); err != nil {
				return err
			}
			end := len(buf)
			msgs = append(msgs, kafka.Message{Key: buf[start:mid:mid], Value: buf[mid:end:end]})
		}
		if err := o.write(ctx, o.scores, "scores", msgs); err != nil {
			return err
		}
		o.metrics.scores.Add(float64(len(msgs)))
	}
	return nil
}

// scoreBytes is about the size of a score's key and JSON.
const scoreBytes = 512

func (o *outputs) write(ctx context.Context, w *kafka.Writer, what string, msgs []kafka.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	if !backoff.Retry(ctx, publishBackoff, o.logger, "publish "+what, func(ctx context.Context) error { return writeWhole(ctx, w, msgs) }) {
		return ctx.Err()
	}
	return nil
}

// attemptTimeout bounds one write attempt.
const attemptTimeout = 30 * time.Second

// writeWhole makes one attempt to write msgs that ctx ending does not cut
// short: when a partition changes hands, a write under way either lands
// before its task lets go or fails, never lands after the next owner
// looked at what was published.
func writeWhole(ctx context.Context, w *kafka.Writer, msgs []kafka.Message) error {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), attemptTimeout)
	defer cancel()
	return w.WriteMessages(actx, msgs...)
}

func (o *outputs) close() error {
	var errs []error
	for _, w := range []*kafka.Writer{o.scores, o.alerts} {
		if w != nil {
			errs = append(errs, w.Close())
		}
	}
	for _, r := range o.routes {
		errs = append(errs, r.w.Close())
	}
	return errors.Join(errs...)
}
