package pager

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vigil-soc/vigil/pkg/alert"
	"github.com/vigil-soc/vigil/pkg/stream"
)

// deliveryLog remembers which notifications were delivered, on a
// compacted topic every pager loads at start and
// follows: a notification recorded there is not sent again by any pager
// of the group, however its alert is read again (a crash before the
// offset commit, a rebalance, the same alert on two topics). See the
// README's "Once per notification".
type deliveryLog struct {
	table  *stream.Table
	writer *kafka.Writer
	window time.Duration
	logger *slog.Logger

	mu        sync.Mutex
	done      map[string]time.Time // notification id → when it was recorded
	inFlight  map[string]bool      // claimed by this process, not yet recorded
	lastPrune time.Time
}

// deliveryRecord is one message on the deliveries topic, keyed by the
// notification id.
type deliveryRecord struct {
	Version  int       `json:"vigil.version"`
	Group    string    `json:"group"`
	Receiver string    `json:"receiver"`
	AlertID  string    `json:"alert_id"`
	DedupKey string    `json:"dedup_key"`
	Status   string    `json:"status"`
	At       time.Time `json:"at"`
}

// notificationID names the notification of one alert message (its id, so
// its dedup key, incident and status) to one receiver of one group.
func notificationID(group, receiver, alertID string) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "%d:%s|%d:%s|%s", len(group), group, len(receiver), receiver, alertID))
	return hex.EncodeToString(sum[:16])
}

// deliveriesTopic is how the deliveries topic is created: compacted, one
// partition, messages kept for the dedup window.
func deliveriesTopic(name string, window time.Duration) stream.Topic {
	return stream.Topic{Name: name, Partitions: 1, Compacted: true, Retention: window}
}

func newDeliveryLog(c *stream.Client, topic string, window time.Duration, logger *slog.Logger) (*deliveryLog, error) {
	w, err := c.NewWriter(topic, stream.WriterOptions{BatchTimeout: time.Millisecond})
	if err != nil {
		return nil, err
	}
	d := &deliveryLog{writer: w, window: window, logger: logger, done: map[string]time.Time{}, inFlight: map[string]bool{}}
	d.table = c.NewTable(topic, d.apply)
	return d, nil
}

// start loads the records of the last window.
func (d *deliveryLog) start(ctx context.Context) error { return d.table.Start(ctx) }

// sync returns once every record written before the call is loaded.
func (d *deliveryLog) sync(ctx context.Context) error { return d.table.Sync(ctx) }

func (d *deliveryLog) close() error {
	return errors.Join(d.table.Close(), d.writer.Close())
}

func (d *deliveryLog) apply(m kafka.Message) {
	var r deliveryRecord
	if m.Value == nil || json.Unmarshal(m.Value, &r) != nil || r.At.IsZero() {
		return // a tombstone, or not a record: nothing to remember
	}
	d.remember(string(m.Key), r.At)
}

func (d *deliveryLog) remember(id string, at time.Time) {
	now := time.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	if now.Sub(at) < d.window {
		d.done[id] = at
	}
	if now.Sub(d.lastPrune) > time.Minute {
		d.lastPrune = now
		for k, t := range d.done {
			if now.Sub(t) >= d.window {
				delete(d.done, k)
			}
		}
	}
}

// claim reports whether this process should send notification id: it was
// not recorded within the window, and no other partition of this process
// is sending it. A claim ends with record or release.
func (d *deliveryLog) claim(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if at, ok := d.done[id]; (ok && time.Since(at) < d.window) || d.inFlight[id] {
		return false
	}
	d.inFlight[id] = true
	return true
}

// release gives up a claim without a record: whoever reads the alert
// again sends it.
func (d *deliveryLog) release(id string) {
	d.mu.Lock()
	delete(d.inFlight, id)
	d.mu.Unlock()
}

// record writes that notification id was delivered, and remembers it.
func (d *deliveryLog) record(ctx context.Context, id, group, receiver string, a alert.Alert) error {
	r := deliveryRecord{Version: 1, Group: group, Receiver: receiver, AlertID: a.ID, DedupKey: a.DedupKey, Status: a.Status, At: time.Now().UTC()}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	err = d.writer.WriteMessages(ctx, kafka.Message{Key: []byte(id), Value: b})
	d.remember(id, r.At)
	d.release(id)
	return err
}

// size is how many notifications are remembered.
func (d *deliveryLog) size() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.done)
}
