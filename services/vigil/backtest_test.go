package vigil

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/series"
)

// backtest runs vigil backtest in process with stdin, and returns what it
// wrote on stdout and stderr.
func backtest(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	cmd := Root()
	var out, errOut bytes.Buffer
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(append([]string{"backtest"}, args...))
	err := cmd.Execute()
	return out.String(), errOut.String(), err
}

// seriesCSV is n rows of a noisy daily cycle with a spike at row spike,
// joined by eol.
func seriesCSV(n, spike int, eol string) string {
	var b strings.Builder
	b.WriteString("timestamp,value" + eol)
	t := time.Date(2024, 3, 4, 0, 0, 0, 0, time.UTC)
	for i := range n {
		v := 50 + 10*math.Sin(float64(i)/40) + float64((i*7919)%13)/4
		if i == spike {
			v = 400
		}
		fmt.Fprintf(&b, "%s,%s%s", t.Add(time.Duration(i)*5*time.Minute).Format("2006-01-02 15:04:05"), strconv.FormatFloat(v, 'f', -1, 64), eol)
	}
	return b.String()
}

// rowsOf splits CSV text into its non-blank lines after the header.
func rowsOf(s string) (string, []string) {
	s = strings.TrimPrefix(s, "\ufeff")
	lines := strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
	var rows []string
	for _, l := range lines[1:] {
		if strings.TrimSpace(l) != "" {
			rows = append(rows, l)
		}
	}
	return lines[0], rows
}

// checkScores asserts out has one row per input row, echoing its timestamp
// and value, with a score in [0,1]; it returns the scores.
func checkScores(t *testing.T, in, out string) []float64 {
	t.Helper()
	header, inRows := rowsOf(in)
	require.True(t, strings.HasPrefix(strings.TrimPrefix(header, "\ufeff"), "timestamp,value"))
	outHeader, outRows := rowsOf(out)
	require.Equal(t, series.OutputHeader, outHeader)
	require.Len(t, outRows, len(inRows), "exactly one output row per input row")
	scores := make([]float64, len(outRows))
	for i, o := range outRows {
		cut := strings.LastIndexByte(o, ',')
		require.True(t, strings.HasPrefix(inRows[i], strings.TrimRight(o[:cut], ",")), "row %d: %q does not echo %q", i+1, o, inRows[i])
		s, err := strconv.ParseFloat(o[cut+1:], 64)
		require.NoError(t, err)
		require.True(t, s >= 0 && s <= 1, "row %d: score %v", i+1, s)
		scores[i] = s
	}
	return scores
}

func TestBacktestCSVFileToFile(t *testing.T) {
	dir := t.TempDir()
	in := seriesCSV(2000, 1500, "\n")
	inPath, outPath := filepath.Join(dir, "series.csv"), filepath.Join(dir, "scores.csv")
	require.NoError(t, os.WriteFile(inPath, []byte(in), 0o600))
	stdout, stderr, err := backtest(t, "", "--input", inPath, "--output", outPath)
	require.NoError(t, err)
	require.Empty(t, stdout)
	require.Regexp(t, `^scored 2000 rows in [0-9.]+s: \d+ at or above 0\.50\n$`, stderr)
	out, err := os.ReadFile(outPath)
	require.NoError(t, err)
	scores := checkScores(t, in, string(out))
	require.Greater(t, scores[1500], 0.9, "the spike")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 2, "no temporary file left behind")
}

// CRLF line ends, a byte-order mark, stdin and stdout, no .csv name: the
// header says it is a series.
func TestBacktestCRLFWithBOMFromStdin(t *testing.T) {
	in := "\ufeff" + strings.TrimSuffix(seriesCSV(500, 400, "\r\n"), "\r\n") // and no final line end
	stdout, stderr, err := backtest(t, in, "--input", "-")
	require.NoError(t, err)
	require.Contains(t, stderr, "scored 500 rows")
	scores := checkScores(t, in, stdout)
	require.Greater(t, scores[400], 0.9)
	require.NotContains(t, stdout, "\r")

	// The same rows with LF line ends score the same.
	lf, _, err := backtest(t, seriesCSV(500, 400, "\n"), "--input", "-", "--output", "-")
	require.NoError(t, err)
	require.Equal(t, lf, stdout)
}

func TestBacktestBadRowsAreKeptAndReported(t *testing.T) {
	in := seriesCSV(300, -1, "\n")
	lines := strings.Split(in, "\n")
	lines[51] = "2024-03-04 04:10:00,n/a"
	lines[101] = "not a time,12"
	lines[151] = "2024-03-04 12:30:00,1,2"
	lines[201] = "2024-03-01 00:00:00,55" // out of order
	in = strings.Join(lines, "\n")
	path := filepath.Join(t.TempDir(), "bad.csv")
	require.NoError(t, os.WriteFile(path, []byte(in), 0o600))
	stdout, stderr, err := backtest(t, "", "--input", path)
	require.NoError(t, err)
	scores := checkScores(t, in, stdout)
	require.Len(t, scores, 300)
	for _, row := range []int{50, 100, 150} {
		require.Zero(t, scores[row], "bad row %d scores 0", row)
	}
	require.Contains(t, stdout, "\n2024-03-04 04:10:00,n/a,0.000000\n")
	require.Contains(t, stdout, "\nnot a time,12,0.000000\n")
	require.Contains(t, stderr, `warning: 3 row(s) could not be read and were written with anomaly_score 0; the first, line 52: value "n/a" is not a number`)
	require.Contains(t, stderr, "warning: 1 row(s) are dated before the row above them (the first at line 202)")
}

func TestBacktestRefusesWhatItCannotScore(t *testing.T) {
	dir := t.TempDir()
	outPath := filepath.Join(dir, "scores.csv")
	require.NoError(t, os.WriteFile(outPath, []byte("previous\n"), 0o600))
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
		return p
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no --input", []string{"--output", outPath}, "--input: required"},
		{"missing file", []string{"--input", filepath.Join(dir, "nope.csv"), "--output", outPath}, "no such file"},
		{"no header", []string{"--input", write("nohdr.csv", "2024-03-04 00:00:00,1\n"), "--output", outPath}, "header naming the columns timestamp and value"},
		{"no rows", []string{"--input", write("empty.csv", "timestamp,value\r\n"), "--output", outPath}, "no rows"},
		{"unknown profile", []string{"--input", write("events.ndjson", `{"event":{"category":"authentication"}}`+"\n"), "--profile", "nope", "--output", outPath}, `no active profile "nope"`},
		{"from clickhouse without --from", []string{"--from-clickhouse", "--profile", "brute_force", "--output", outPath}, "--from: want YYYY-MM-DD HH:MM:SS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := backtest(t, "", tt.args...)
			require.ErrorContains(t, err, tt.want)
			got, err := os.ReadFile(outPath)
			require.NoError(t, err)
			require.Equal(t, "previous\n", string(got), "a failed backtest leaves --output as it was")
		})
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		require.False(t, strings.HasSuffix(e.Name(), ".tmp"), "temporary file %s left behind", e.Name())
	}
}
