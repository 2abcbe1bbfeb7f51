package series_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/series"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func scoreCSV(t testing.TB, in []byte) (string, series.Stats, error) {
	t.Helper()
	var out bytes.Buffer
	st, err := series.ScoreCSV(bytes.NewReader(in), &out, series.New(series.DefaultConfig()), nil)
	return out.String(), st, err
}

// Each testdata/*.csv is scored and compared with its .golden output;
// -update rewrites them.
func TestScoreCSVGolden(t *testing.T) {
	tests := []struct {
		file  string
		stats series.Stats
	}{
		{"basic.csv", series.Stats{Rows: 60}},
		{"crlf_bom_quoted.csv", series.Stats{Rows: 30}},
		{"columns.csv", series.Stats{Rows: 25}},
		{"bad_rows.csv", series.Stats{
			Rows: 30, Bad: 7, FirstBadLine: 6, FirstBadReason: `value "oops" is not a number`,
			OutOfOrder: 1, FirstOutOfOrderLine: 18,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			in, err := os.ReadFile(filepath.Join("testdata", tt.file))
			require.NoError(t, err)
			out, st, err := scoreCSV(t, in)
			require.NoError(t, err)
			st.Alerts, st.Bytes = 0, 0 // checked below and in the golden
			require.Equal(t, tt.stats, st)

			golden := filepath.Join("testdata", strings.TrimSuffix(tt.file, ".csv")+".golden")
			if *update {
				require.NoError(t, os.WriteFile(golden, []byte(out), 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err)
			require.Equal(t, string(want), out)
			checkEcho(t, in, out)
		})
	}
}

// checkEcho asserts the output has the header, one row per non-blank input
// row, and each row's timestamp and value exactly as in the input.
func checkEcho(t *testing.T, in []byte, out string) {
	t.Helper()
	inLines := strings.Split(strings.ReplaceAll(strings.TrimPrefix(string(in), "\ufeff"), "\r\n", "\n"), "\n")
	var rows []string
	for _, l := range inLines[1:] {
		if strings.TrimSpace(l) != "" {
			rows = append(rows, l)
		}
	}
	outLines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	require.Equal(t, series.OutputHeader, outLines[0])
	require.Len(t, outLines[1:], len(rows), "one output row per input row")
	header := strings.Split(inLines[0], ",")
	if header[0] != "timestamp" || header[1] != "value" || len(header) != 2 {
		return // the echo of reordered columns is in the golden file
	}
	for i, l := range rows {
		o := outLines[i+1]
		if strings.Count(l, `"`)%2 == 1 {
			require.Equal(t, ",,0.000000", o, "a row whose quotes do not close echoes no field")
			continue
		}
		cut := strings.LastIndexByte(o, ',')
		require.True(t, strings.HasPrefix(l, strings.TrimRight(o[:cut], ",")), "row %d: %q does not echo %q", i+1, o, l)
	}
}

func TestScoreCSVBadRowsScoreZero(t *testing.T) {
	in, err := os.ReadFile(filepath.Join("testdata", "bad_rows.csv"))
	require.NoError(t, err)
	out, _, err := scoreCSV(t, in)
	require.NoError(t, err)
	for _, want := range []string{
		"2024-03-05 10:04,oops,0.000000\n",
		"yesterday,21.5,0.000000\n",
		"2024-03-05 10:08:00,,0.000000\n",
		"2024-03-05 10:10:00,NaN,0.000000\n",
		"2024-03-05 10:12:00,21.0,0.000000\n",
		",,0.000000\n", // the unclosed quote: no field can be trusted
		"2024-03-05 10:20:00,,0.000000\n",
	} {
		require.Contains(t, out, want)
	}
}

func TestScoreCSVErrors(t *testing.T) {
	tests := []struct {
		name, in string
		want     error
	}{
		{"empty", "", series.ErrNoHeader},
		{"no header", "2024-03-05 10:00:00,1\n2024-03-05 10:01:00,2\n", series.ErrNoHeader},
		{"wrong header", "time,val\n2024-03-05 10:00:00,1\n", series.ErrNoHeader},
		{"header only", "timestamp,value\n", series.ErrNoRows},
		{"header and blank lines", "timestamp,value\r\n\r\n\n", series.ErrNoRows},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := scoreCSV(t, []byte(tt.in))
			require.ErrorIs(t, err, tt.want)
		})
	}
}

// A line may end with or without a newline, LF or CRLF: the rows and
// scores are the same.
func TestScoreCSVLineEnds(t *testing.T) {
	in, err := os.ReadFile(filepath.Join("testdata", "basic.csv"))
	require.NoError(t, err)
	want, _, err := scoreCSV(t, in)
	require.NoError(t, err)
	for name, v := range map[string][]byte{
		"no final newline": bytes.TrimSuffix(in, []byte("\n")),
		"crlf":             bytes.ReplaceAll(in, []byte("\n"), []byte("\r\n")),
		"bom":              append([]byte("\xef\xbb\xbf"), in...),
	} {
		got, st, err := scoreCSV(t, v)
		require.NoError(t, err, name)
		require.Equal(t, want, got, name)
		require.Equal(t, 60, st.Rows, name)
		require.Zero(t, st.Bad, name)
	}
}

func TestScoreCSVProgressAndLongLines(t *testing.T) {
	var b strings.Builder
	b.WriteString("timestamp,value\n")
	for i := range 10000 {
		b.WriteString("2024-03-05 10:00:00,")
		b.WriteString(strings.Repeat("1", 1+i%3))
		b.WriteString("\n")
	}
	b.WriteString("2024-03-05 10:00:00," + strings.Repeat("9", 2<<20) + "\n")
	b.WriteString("2024-03-05 10:00:00,1\n")
	var calls []int
	var lastBytes int64
	var out bytes.Buffer
	st, err := series.ScoreCSV(strings.NewReader(b.String()), &out, series.New(series.DefaultConfig()),
		func(rows int, n int64) { calls = append(calls, rows); lastBytes = n })
	require.NoError(t, err)
	require.Equal(t, 10002, st.Rows)
	require.Equal(t, 1, st.Bad)
	require.Equal(t, 10002, st.FirstBadLine)
	require.Contains(t, st.FirstBadReason, "longer than")
	require.Equal(t, []int{4096, 8192, 10002}, calls)
	require.Equal(t, int64(b.Len()), lastBytes)
	require.Equal(t, st.Bytes, lastBytes)
	require.Equal(t, 10003, strings.Count(out.String(), "\n"))
}

// FuzzScoreCSV: any input either is refused with an error or gives one
// output row per non-blank input row, each with a score in [0,1].
func FuzzScoreCSV(f *testing.F) {
	for _, name := range []string{"basic.csv", "crlf_bom_quoted.csv", "bad_rows.csv", "columns.csv"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		require.NoError(f, err)
		f.Add(b)
	}
	f.Add([]byte("timestamp,value\n\"2024-01-01 00:00:00\",\"1\"\"\"\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		out, st, err := scoreCSV(t, in)
		if err != nil {
			return
		}
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		require.Equal(t, series.OutputHeader, lines[0])
		require.Len(t, lines, st.Rows+1)
		for _, l := range lines[1:] {
			s := l[strings.LastIndexByte(l, ',')+1:]
			require.Regexp(t, `^(0\.\d{6}|1\.000000)$`, s, "score of %q", l)
		}
	})
}
