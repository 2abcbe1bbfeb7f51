package grafanads

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/grafana/grafana-plugin-sdk-go/data"
)

// tableFrame reads rows into a frame, one field per column, at most
// maxRows rows (a notice says when more were left). Columns of a type
// frames cannot hold (arrays, tuples, maps) become JSON.
func tableFrame(rows driver.Rows, name string, maxRows int) (*data.Frame, error) {
	types := rows.ColumnTypes()
	cols := rows.Columns()
	frame := data.NewFrame(name)
	asJSON := make([]bool, len(types))
	for i, ct := range types {
		ft := data.FieldTypeFor(reflect.New(ct.ScanType()).Elem().Interface())
		if ft == data.FieldTypeUnknown {
			ft, asJSON[i] = data.FieldTypeJSON, true
		}
		frame.Fields = append(frame.Fields, data.NewFieldFromFieldType(ft, 0))
		frame.Fields[i].Name = cols[i]
	}
	ptrs := make([]any, len(types))
	n := 0
	for rows.Next() {
		if n == maxRows {
			frame.AppendNotices(data.Notice{Severity: data.NoticeSeverityWarning,
				Text: fmt.Sprintf("only the first %d rows are shown (the data source's maxRows, or the query's limit)", maxRows)})
			break
		}
		for i, ct := range types {
			ptrs[i] = reflect.New(ct.ScanType()).Interface()
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		for i, p := range ptrs {
			v := reflect.ValueOf(p).Elem().Interface()
			switch {
			case asJSON[i]:
				b, err := json.Marshal(v)
				if err != nil {
					return nil, fmt.Errorf("column %s: %w", cols[i], err)
				}
				v = json.RawMessage(b)
			default:
				v = utc(v)
			}
			frame.Fields[i].Append(v)
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return frame, nil
}

// utc returns times in UTC, so that frames do not depend on the server's zone.
func utc(v any) any {
	switch t := v.(type) {
	case time.Time:
		return t.UTC()
	case *time.Time:
		if t != nil {
			u := t.UTC()
			return &u
		}
	}
	return v
}

// seriesKey identifies one series of a time-series result: its labels in
// a fixed order.
type seriesKey string

// series collects points of time series keyed by labels, then fills the
// buckets that have none with zero: counts of nothing are zero, and alert
// rules see a value in every bucket.
type series struct {
	from, to time.Time
	step     time.Duration
	valueKey string
	labels   map[seriesKey]data.Labels
	points   map[seriesKey]map[int64]float64
}

func newSeries(from, to time.Time, step time.Duration, valueKey string) *series {
	return &series{from: from, to: to, step: step, valueKey: valueKey,
		labels: map[seriesKey]data.Labels{}, points: map[seriesKey]map[int64]float64{}}
}

func (s *series) add(labels data.Labels, at time.Time, v float64) {
	k := seriesKey(labels.String())
	if _, ok := s.labels[k]; !ok {
		s.labels[k] = labels
		s.points[k] = map[int64]float64{}
	}
	s.points[k][at.Unix()] += v
}

// frames returns one frame per series (time, value with labels), in the
// order of their labels, every bucket of the range present. With no
// series at all it returns one of zeros without labels.
func (s *series) frames(name string) data.Frames {
	if len(s.labels) == 0 {
		s.labels[""] = nil
		s.points[""] = map[int64]float64{}
	}
	keys := make([]seriesKey, 0, len(s.labels))
	for k := range s.labels {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	first := bucket(s.from, s.step)
	var out data.Frames
	for _, k := range keys {
		var ts []time.Time
		var vs []float64
		for t := first; t.Before(s.to); t = t.Add(s.step) {
			ts = append(ts, t.UTC())
			vs = append(vs, s.points[k][t.Unix()])
		}
		f := data.NewFrame(name,
			data.NewField("time", nil, ts),
			data.NewField(s.valueKey, s.labels[k], vs),
		)
		if len(s.labels[k]) > 0 {
			f.Fields[1].Config = &data.FieldConfig{DisplayNameFromDS: displayName(s.labels[k])}
		}
		f.SetMeta(&data.FrameMeta{Type: data.FrameTypeTimeSeriesMulti, TypeVersion: data.FrameTypeVersion{0, 1}})
		out = append(out, f)
	}
	return out
}

// displayName is a series' legend: its label values, in key order.
func displayName(l data.Labels) string {
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	vals := make([]string, len(keys))
	for i, k := range keys {
		vals[i] = l[k]
	}
	return strings.Join(vals, " / ")
}

// bucket is the start of t's bucket of width step, counted from the Unix
// epoch as the SQL buckets are: toDateTime(intDiv(toUInt32(t), N) * N).
func bucket(t time.Time, step time.Duration) time.Time {
	n := int64(step / time.Second)
	return time.Unix(t.Unix()/n*n, 0).UTC()
}
