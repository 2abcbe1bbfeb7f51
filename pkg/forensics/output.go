package forensics

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Text returns a value as the table shows it: times as UTC
// 2006-01-02 15:04:05, everything else as fmt prints it.
func Text(v any) string {
	switch v := v.(type) {
	case time.Time:
		return v.UTC().Format(time.DateTime)
	case string:
		return v
	}
	return fmt.Sprint(v)
}

// Strings returns the rows as Text shows each value.
func (r *Result) Strings() [][]string {
	out := make([][]string, len(r.Rows))
	for i, row := range r.Rows {
		out[i] = make([]string, len(row))
		for j, v := range row {
			out[i][j] = Text(v)
		}
	}
	return out
}

// WriteTable writes the result as aligned columns under a header, for a
// terminal. Tabs and newlines inside values print as spaces.
func (r *Result) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	clean := strings.NewReplacer("\t", " ", "\n", " ", "\r", " ")
	fmt.Fprintln(tw, strings.Join(r.Columns, "\t"))
	for _, row := range r.Strings() {
		for i := range row {
			row[i] = clean.Replace(row[i])
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	return tw.Flush()
}

// WriteJSON writes one JSON object per row, keys in column order, times
// in RFC 3339 (UTC), numbers as numbers: JSON lines, for scripts.
func (r *Result) WriteJSON(w io.Writer) error {
	var b bytes.Buffer
	for _, row := range r.Rows {
		b.Reset()
		b.WriteByte('{')
		for i, v := range row {
			if i > 0 {
				b.WriteByte(',')
			}
			k, _ := json.Marshal(r.Columns[i])
			b.Write(k)
			b.WriteByte(':')
			if t, ok := v.(time.Time); ok {
				v = t.UTC().Format(time.RFC3339Nano)
			}
			val, err := json.Marshal(v)
			if err != nil {
				return fmt.Errorf("column %s: %w", r.Columns[i], err)
			}
			b.Write(val)
		}
		b.WriteString("}\n")
		if _, err := w.Write(b.Bytes()); err != nil {
			return err
		}
	}
	return nil
}
