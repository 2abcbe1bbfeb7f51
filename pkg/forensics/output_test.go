package forensics_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/forensics"
)

func TestOutput(t *testing.T) {
	res := &forensics.Result{
		Columns: []string{"timestamp", "src_ip", "event_count", "score", "message"},
		Rows: [][]any{
			{time.Date(2025, 3, 5, 10, 0, 0, 0, time.UTC), "203.0.113.7", uint64(9), 0.5, "Failed password for root"},
			{time.Date(2025, 3, 5, 11, 0, 0, 0, time.FixedZone("CET", 3600)), "2001:db8::1", uint64(12345), 1.0, "tab\there, \"quoted\"\nand a newline"},
		},
	}
	for _, tt := range []struct {
		file  string
		write func(*bytes.Buffer) error
	}{
		{"table.golden", func(b *bytes.Buffer) error { return res.WriteTable(b) }},
		{"jsonl.golden", func(b *bytes.Buffer) error { return res.WriteJSON(b) }},
	} {
		t.Run(tt.file, func(t *testing.T) {
			var b bytes.Buffer
			require.NoError(t, tt.write(&b))
			path := filepath.Join("testdata", tt.file)
			if *update {
				require.NoError(t, os.MkdirAll("testdata", 0o755))
				require.NoError(t, os.WriteFile(path, b.Bytes(), 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "run with -update to create it")
			require.Equal(t, string(want), b.String())
		})
	}
}
