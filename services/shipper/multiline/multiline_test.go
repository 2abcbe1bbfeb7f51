package multiline

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/config"
)

func TestJoin(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	tests := []struct {
		name     string
		cfg      config.MultilineConfig
		maxBytes int
		lines    []string
		want     []string
	}{
		{
			name:  "start rule joins stack traces",
			cfg:   config.MultilineConfig{Start: `^\d{4}-`, MaxLines: 500},
			lines: []string{"2026-01-01 boom", "  at a()", "  at b()", "2026-01-01 ok", "2026-01-02 again", "\tat c()"},
			want:  []string{"2026-01-01 boom\n  at a()\n  at b()", "2026-01-01 ok", "2026-01-02 again\n\tat c()"},
		},
		{
			name:  "continue rule",
			cfg:   config.MultilineConfig{Continue: `^\s`, MaxLines: 500},
			lines: []string{"first", " more", "second", "third", "\tx"},
			want:  []string{"first\n more", "second", "third\n\tx"},
		},
		{
			name:  "a leading continuation starts a record",
			cfg:   config.MultilineConfig{Start: `^BEGIN`, MaxLines: 500},
			lines: []string{"orphan", "BEGIN 1", "x"},
			want:  []string{"orphan", "BEGIN 1\nx"},
		},
		{
			name:  "max lines",
			cfg:   config.MultilineConfig{Continue: `^\s`, MaxLines: 2},
			lines: []string{"a", " 1", " 2", " 3"},
			want:  []string{"a\n 1", " 2\n 3"},
		},
		{
			name:     "max bytes truncates",
			cfg:      config.MultilineConfig{Continue: `^\s`, MaxLines: 10},
			maxBytes: 8,
			lines:    []string{"abc", " defgh", " ijk"},
			want:     []string{"abc\n def"}, // 3 lines joined, 8 bytes kept
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			maxBytes := tt.maxBytes
			if maxBytes == 0 {
				maxBytes = 1 << 20
			}
			j, err := New(tt.cfg, maxBytes)
			require.NoError(t, err)
			var got []Record
			var off int64
			for _, l := range tt.lines {
				got = j.Add(Line{Origin: "f", Offset: off, End: off + int64(len(l)) + 1, Data: []byte(l)}, t0, got)
				off += int64(len(l)) + 1
			}
			got = j.Flush(t0, true, got)
			var data []string
			var end int64
			for _, r := range got {
				data = append(data, string(r.Data))
				require.Equal(t, end, r.Offset, "records tile the file")
				end = r.End
				require.Equal(t, tt.maxBytes != 0, r.Truncated)
				if !r.Truncated {
					require.Equal(t, strings.Count(string(r.Data), "\n")+1, r.Lines)
				}
			}
			require.Equal(t, tt.want, data)
			require.Equal(t, off, end)
		})
	}
}

func TestOriginsAreSeparateAndTimeoutFlushes(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	j, err := New(config.MultilineConfig{Continue: `^\s`, MaxLines: 10, Timeout: time.Second}, 1024)
	require.NoError(t, err)
	out := j.Add(Line{Origin: "a", End: 2, Data: []byte("a")}, t0, nil)
	out = j.Add(Line{Origin: "b", End: 2, Data: []byte("b")}, t0, out)
	out = j.Add(Line{Origin: "b", Offset: 2, End: 5, Data: []byte(" b2")}, t0.Add(500*time.Millisecond), out)
	require.Empty(t, out)
	require.Equal(t, 2, j.Pending())
	out = j.Flush(t0.Add(time.Second), false, out)
	require.Len(t, out, 1)
	require.Equal(t, "a", string(out[0].Data))
	out = j.Flush(t0.Add(1500*time.Millisecond), false, nil)
	require.Len(t, out, 1)
	require.Equal(t, "b\n b2", string(out[0].Data))
	require.Zero(t, j.Pending())
}

func TestOff(t *testing.T) {
	j, err := New(config.DefaultMultiline(), 1024)
	require.NoError(t, err)
	require.Nil(t, j)
}
