package grafanads

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/data"
	"github.com/grafana/grafana-plugin-sdk-go/live"

	"github.com/vigil-soc/vigil/pkg/alert"
)

// The live alert stream: an alertStream query answers with the newest
// alerts of its range from ClickHouse and names a Grafana Live channel,
// ds/<uid>/alerts (or ds/<uid>/alerts/<tenant> on a data source that is
// not pinned); Grafana subscribes to it, and RunStream follows the alerts
// topic from its end, pushing each alert of the tenant as a row of the
// same frame schema. It reads every partition outside any consumer group
// and commits nothing, so that every Grafana instance sees every alert.

// streamPath is the channel path of tenant's alerts.
func (d *Datasource) streamPath(tenant string) string {
	if d.settings.Pinned() {
		return "alerts"
	}
	return "alerts/" + tenant
}

// streamTenant returns the tenant of a channel path, or an error if the
// path is not one of this data source's.
func (d *Datasource) streamTenant(path string) (string, error) {
	if d.settingsErr != nil {
		return "", d.settingsErr
	}
	rest, ok := strings.CutPrefix(path, "alerts")
	switch {
	case !ok:
		return "", fmt.Errorf("%w: no stream %.100q", errBadQuery, path)
	case rest == "":
		return d.tenant(Query{})
	case strings.HasPrefix(rest, "/") && !d.settings.Pinned():
		t := rest[1:]
		if err := checkTenant(t); err != nil {
			return "", fmt.Errorf("%w: stream tenant: %v", errBadQuery, err)
		}
		return d.tenant(Query{Tenant: t})
	case strings.HasPrefix(rest, "/"):
		return "", fmt.Errorf("%w: this data source is pinned to tenant %q; subscribe to alerts", errTenant, d.settings.Tenant)
	}
	return "", fmt.Errorf("%w: no stream %.100q", errBadQuery, path)
}

func (d *Datasource) alertStream(ctx context.Context, r request) (data.Frames, error) {
	limit := r.q.limitOr(100, d.settings.MaxRows)
	frames, err := d.table(ctx, "alerts", limit, alertStreamSQL, alertArgs(r, "limit", limit)...)
	if err != nil {
		return nil, err
	}
	if d.kafka != nil {
		frames[0].SetMeta(&data.FrameMeta{
			Channel: live.Channel{Scope: live.ScopeDatasource, Namespace: d.uid, Path: d.streamPath(r.tenant)}.String(),
		})
	} else {
		frames[0].AppendNotices(data.Notice{Severity: data.NoticeSeverityInfo,
			Text: "no Kafka brokers are configured: the alerts are not live"})
	}
	return frames, nil
}

// SubscribeStream allows a subscription to the alerts of the data
// source's tenant (on a pinned data source, to no other).
func (d *Datasource) SubscribeStream(_ context.Context, req *backend.SubscribeStreamRequest) (*backend.SubscribeStreamResponse, error) {
	_, err := d.streamTenant(req.Path)
	switch {
	case errors.Is(err, errTenant):
		return &backend.SubscribeStreamResponse{Status: backend.SubscribeStreamStatusPermissionDenied}, nil
	case err != nil || d.kafka == nil:
		return &backend.SubscribeStreamResponse{Status: backend.SubscribeStreamStatusNotFound}, nil
	}
	return &backend.SubscribeStreamResponse{Status: backend.SubscribeStreamStatusOK}, nil
}

// PublishStream refuses: alerts come from Vigil only.
func (d *Datasource) PublishStream(context.Context, *backend.PublishStreamRequest) (*backend.PublishStreamResponse, error) {
	return &backend.PublishStreamResponse{Status: backend.PublishStreamStatusPermissionDenied}, nil
}

// RunStream sends an empty frame with the schema first, once it has found
// the end of every partition, then one frame per alert of the tenant
// published after that, until Grafana cancels ctx.
func (d *Datasource) RunStream(ctx context.Context, req *backend.RunStreamRequest, sender *backend.StreamSender) error {
	tenant, err := d.streamTenant(req.Path)
	if err != nil {
		return err
	}
	if d.kafka == nil {
		return fmt.Errorf("%w: no Kafka brokers configured", errSettings)
	}
	topic := d.settings.AlertsTopic
	ends, err := d.kafka.EndOffsets(ctx, topic)
	if err != nil {
		return fmt.Errorf("alert stream: %w", err)
	}
	if err := sender.SendFrame(alertFrame(nil), data.IncludeAll); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	alerts := make(chan alert.Alert, 64)
	errs := make(chan error, len(ends))
	var wg sync.WaitGroup
	for p, off := range ends {
		r := d.kafka.NewPartitionReader(topic, p, off)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer r.Close()
			for {
				m, err := r.FetchMessage(ctx)
				if err != nil {
					if ctx.Err() == nil {
						errs <- fmt.Errorf("alert stream: read %s/%d: %w", topic, p, err)
					}
					return
				}
				a, ok := decodeAlert(m.Value)
				if !ok {
					d.metrics.invalidMessage()
					continue
				}
				if a.Tenant != tenant {
					continue
				}
				select {
				case alerts <- a:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	defer wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errs:
			return err
		case a := <-alerts:
			batch := []alert.Alert{a}
			for len(alerts) > 0 && len(batch) < 100 {
				batch = append(batch, <-alerts)
			}
			if err := sender.SendFrame(alertFrame(batch), data.IncludeAll); err != nil {
				return fmt.Errorf("alert stream: send: %w", err)
			}
			for range batch {
				d.metrics.alertSent()
			}
		}
	}
}

// decodeAlert reads an alert as the archiver does: id, dedup_key and
// last_seen are required.
func decodeAlert(b []byte) (alert.Alert, bool) {
	var a alert.Alert
	if err := json.Unmarshal(b, &a); err != nil || a.ID == "" || a.DedupKey == "" || a.LastSeen.IsZero() {
		return alert.Alert{}, false
	}
	return a, true
}

// alertFrame holds alerts with the columns of the alertStream query.
func alertFrame(alerts []alert.Alert) *data.Frame {
	str := func(name string) *data.Field { return data.NewField(name, nil, []string{}) }
	num := func(name string) *data.Field { return data.NewField(name, nil, []float64{}) }
	f := data.NewFrame("alerts", data.NewField("time", nil, []time.Time{}),
		str("severity"), str("status"), str("profile"), str("entity"), str("entity_field"), str("summary"),
		num("observed"), num("expected"), num("anomaly_score"), str("dedup_key"), str("id"))
	for _, a := range alerts {
		f.AppendRow(a.LastSeen.UTC().Truncate(time.Second), // as ClickHouse stores it
			a.Severity, a.Status, a.Profile, a.Entity, a.EntityField, a.Summary,
			a.Explanation.Observed, a.Explanation.Expected, a.AnomalyScore, a.DedupKey, a.ID)
	}
	return f
}
