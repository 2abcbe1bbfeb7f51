package vigil

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-soc/vigil/pkg/event"
	"github.com/vigil-soc/vigil/pkg/score"
	"github.com/vigil-soc/vigil/pkg/testkit"
)

// explainStack logs what a failed end-to-end wait needs to be understood:
// the processor's metrics, the windows scored on the topic and in
// ClickHouse, and events that came to a partition far out of time order.
func explainStack(t testing.TB, s *stack) {
	t.Helper()
	if s.reg == nil {
		t.Log("no registry: the processor's metrics are not shown")
	} else if mfs, err := s.reg.Gather(); err == nil {
		for _, mf := range mfs {
			if !strings.HasPrefix(mf.GetName(), "vigil_processor_") {
				continue
			}
			for _, m := range mf.GetMetric() {
				var labels []string
				for _, l := range m.GetLabel() {
					labels = append(labels, l.GetName()+"="+l.GetValue())
				}
				v := m.GetCounter().GetValue() + m.GetGauge().GetValue()
				t.Logf("metric %s{%s} %g", mf.GetName(), strings.Join(labels, ","), v)
			}
		}
	}

	perWindow := map[time.Time]int{}
	for _, m := range testkit.ReadAll(t, s.cfg.Kafka, s.cfg.Kafka.Topics.Scores) {
		var sc score.Score
		if err := json.Unmarshal(m.Value, &sc); err != nil {
			t.Logf("score at offset %d/%d does not decode: %v", m.Partition, m.Offset, err)
			continue
		}
		perWindow[sc.WindowStart]++
	}
	starts := make([]time.Time, 0, len(perWindow))
	for w := range perWindow {
		starts = append(starts, w)
	}
	slices.SortFunc(starts, time.Time.Compare)
	var b strings.Builder
	for _, w := range starts {
		fmt.Fprintf(&b, " %s:%d", w.Format("15:04"), perWindow[w])
	}
	t.Logf("scores on the topic per window start:%s", b.String())
	t.Logf("now %s; in ClickHouse: %d scores, %d alerts", time.Now().UTC().Format(time.TimeOnly),
		s.count(t, "SELECT count() FROM scores FINAL"), s.count(t, "SELECT count() FROM alerts FINAL"))

	// Per partition: events dated more than the lateness before one read
	// earlier, and the first of them.
	newest := map[int]time.Time{}
	behind := map[int]int{}
	first := map[int]string{}
	for _, m := range testkit.ReadAll(t, s.cfg.Kafka, s.cfg.Kafka.Topics.Events) {
		ev, err := event.Decode(m.Value)
		if err != nil {
			continue
		}
		if ev.Timestamp.Before(newest[m.Partition].Add(-s.cfg.Processor.Lateness)) {
			if behind[m.Partition] == 0 {
				first[m.Partition] = fmt.Sprintf("offset %d dated %s after one dated %s", m.Offset,
					ev.Timestamp.Format(time.TimeOnly), newest[m.Partition].Format(time.TimeOnly))
			}
			behind[m.Partition]++
		}
		if ev.Timestamp.After(newest[m.Partition]) {
			newest[m.Partition] = ev.Timestamp
		}
	}
	for p, n := range behind {
		t.Logf("partition %d: %d events out of time order, the first at %s", p, n, first[p])
	}
}
