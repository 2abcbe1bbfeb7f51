package grafanads_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/data"
	"github.com/grafana/grafana-plugin-sdk-go/genproto/pluginv2"
	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/testkit"
	grafanads "github.com/vigil-soc/vigil/services/grafana-datasource"
)

// TestRunStream subscribes to the live alert stream through the plugin
// process, publishes alerts of two tenants (and a message that is not an
// alert) to the broker, and receives acme's alerts only, as frames with
// the schema of the alertStream query that names the channel.
func TestRunStream(t *testing.T) {
	cfg := seed(t)
	k := testkit.Broker(t)
	testkit.Topics(t, k, "vigil.alerts")
	h := startPlugin(t)
	pinned := settingsFor(cfg, "live-acme", "acme", &k).pluginContext(t)
	open := settingsFor(cfg, "live-all", "", &k).pluginContext(t)

	// The query answers with recent alerts and names the channel.
	res, err := h.data.QueryData(ctxT(t, time.Minute), &pluginv2.QueryDataRequest{PluginContext: pinned,
		Queries: []*pluginv2.DataQuery{dataQuery(t, "A", grafanads.TypeAlertStream, nil)}})
	require.NoError(t, err)
	require.Empty(t, res.Responses["A"].Error)
	frames, err := data.UnmarshalArrowFrames(res.Responses["A"].Frames)
	require.NoError(t, err)
	require.Equal(t, "ds/live-acme/alerts", frames[0].Meta.Channel)
	queried := frames[0]

	// Subscriptions: a pinned data source serves its tenant's channel only.
	for _, s := range []struct {
		pc   *pluginv2.PluginContext
		path string
		want pluginv2.SubscribeStreamResponse_Status
	}{
		{pinned, "alerts", pluginv2.SubscribeStreamResponse_OK},
		{pinned, "alerts/globex", pluginv2.SubscribeStreamResponse_PERMISSION_DENIED},
		{pinned, "alerts/acme", pluginv2.SubscribeStreamResponse_PERMISSION_DENIED},
		{pinned, "events", pluginv2.SubscribeStreamResponse_NOT_FOUND},
		{open, "alerts/globex", pluginv2.SubscribeStreamResponse_OK},
		{open, "alerts/", pluginv2.SubscribeStreamResponse_NOT_FOUND},
	} {
		r, err := h.stream.SubscribeStream(ctxT(t, time.Minute), &pluginv2.SubscribeStreamRequest{PluginContext: s.pc, Path: s.path})
		require.NoError(t, err)
		require.Equal(t, s.want, r.Status, s.path)
	}
	pub, err := h.stream.PublishStream(ctxT(t, time.Minute), &pluginv2.PublishStreamRequest{PluginContext: pinned, Path: "alerts"})
	require.NoError(t, err)
	require.Equal(t, pluginv2.PublishStreamResponse_PERMISSION_DENIED, pub.Status)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := h.stream.RunStream(ctx, &pluginv2.RunStreamRequest{PluginContext: pinned, Path: "alerts"})
	require.NoError(t, err)
	packets := make(chan *data.Frame, 16)
	done := make(chan error, 1)
	go func() {
		for {
			p, err := st.Recv()
			if err != nil {
				done <- err
				return
			}
			f := &data.Frame{}
			if err := json.Unmarshal(p.Data, f); err != nil {
				done <- err
				return
			}
			packets <- f
		}
	}()
	next := func() *data.Frame {
		select {
		case f := <-packets:
			return f
		case err := <-done:
			require.NoError(t, err, "stream ended")
		case <-time.After(30 * time.Second):
			require.Fail(t, "no frame in 30s")
		}
		return nil
	}

	// The first frame is the schema, sent once the stream follows the topic's end.
	schema := next()
	require.Zero(t, schema.Rows())
	require.Equal(t, fieldTypes(queried), fieldTypes(schema), "stream rows append to the query's frame")

	later := seedAlerts()
	acme1, globex, acme2 := later[0].alert(), later[5].alert(), later[4].alert()
	acme1.LastSeen = t0.Add(time.Hour)
	var values [][]byte
	for _, a := range []any{acme1, globex, map[string]string{"not": "an alert"}, acme2} {
		b, err := json.Marshal(a)
		require.NoError(t, err)
		values = append(values, b)
	}
	values = append(values, []byte("{truncated"))
	testkit.Produce(t, k, "vigil.alerts", nil, values)

	var got []string
	for len(got) < 2 {
		f := next()
		ids, _ := f.FieldByName("id")
		tenants := map[string]bool{}
		for i := 0; i < f.Rows(); i++ {
			got = append(got, ids.At(i).(string))
			dedup, _ := f.FieldByName("dedup_key")
			tenants[dedup.At(i).(string)[:len("vigil/acme")]] = true
		}
		require.Equal(t, map[string]bool{"vigil/acme": true}, tenants, "acme's alerts only")
	}
	require.ElementsMatch(t, []string{acme1.ID, acme2.ID}, got)
	select {
	case f := <-packets:
		require.Failf(t, "unexpected frame", "%d rows", f.Rows())
	default:
	}

	// Messages that are not alerts are counted, not shown.
	require.Eventually(t, func() bool {
		m, err := h.diagnostics.CollectMetrics(ctxT(t, time.Minute), &pluginv2.CollectMetricsRequest{PluginContext: pinned})
		require.NoError(t, err)
		text := string(m.Metrics.Prometheus)
		return strings.Contains(text, "vigil_grafana_stream_invalid_messages_total 2") &&
			strings.Contains(text, "vigil_grafana_stream_alerts_total 2")
	}, 30*time.Second, 50*time.Millisecond)

	cancel()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		require.Fail(t, "the stream did not end when cancelled")
	}
}

func fieldTypes(f *data.Frame) map[string]data.FieldType {
	out := map[string]data.FieldType{}
	for _, fd := range f.Fields {
		out[fd.Name] = fd.Type()
	}
	return out
}
