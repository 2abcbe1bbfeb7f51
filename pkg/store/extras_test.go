package store_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/store"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func TestParseVersion(t *testing.T) {
	tests := []struct {
		in   string
		want store.Version
		err  bool
	}{
		{"18.16.1", store.Version{Major: 18, Minor: 16}, false},
		{"24.8.4.13", store.Version{Major: 24, Minor: 8}, false},
		{"25.3.2.39-lts", store.Version{Major: 25, Minor: 3}, false},
		{" 21.8\n", store.Version{Major: 21, Minor: 8}, false},
		{"", store.Version{}, true},
		{"24", store.Version{}, true},
		{"x.y.z", store.Version{}, true},
		{"-1.2", store.Version{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			v, err := store.ParseVersion(tt.in)
			if tt.err {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, v)
		})
	}
}

func TestExtrasFor(t *testing.T) {
	all := []string{"low_cardinality", "codec", "skip_index"}
	tests := []struct {
		v    store.Version
		want []string
	}{
		{store.Version{Major: 18, Minor: 16}, nil},
		{store.Version{Major: 21, Minor: 3}, nil},
		{store.Version{Major: 21, Minor: 8}, all},
		{store.Version{Major: 24, Minor: 8}, all},
		{store.Version{Major: 25, Minor: 1}, all},
	}
	for _, tt := range tests {
		t.Run(tt.v.String(), func(t *testing.T) {
			require.Equal(t, tt.want, store.ExtrasFor(tt.v))
		})
	}
}

func TestRenderStatement(t *testing.T) {
	all := []string{"low_cardinality", "codec", "skip_index"}
	tests := []struct {
		name     string
		in       string
		on       []string
		want     string
		wantUsed []string
		err      string
	}{
		{"no markers", "SELECT 1", all, "SELECT 1", nil, ""},
		{"low cardinality on", "a String /*+low_cardinality*/ COMMENT 'x'", all, "a LowCardinality(String) COMMENT 'x'", []string{"low_cardinality"}, ""},
		{"low cardinality off", "a String /*+low_cardinality*/ COMMENT 'x'", nil, "a String COMMENT 'x'", nil, ""},
		{"low cardinality of a type with arguments", "a FixedString(2)/*+low_cardinality*/,", all, "a LowCardinality(FixedString(2)),", []string{"low_cardinality"}, ""},
		{"codec on", "t DateTime('UTC') /*+codec DoubleDelta, LZ4*/ COMMENT 'x'", all, "t DateTime('UTC') CODEC(DoubleDelta, LZ4) COMMENT 'x'", []string{"codec"}, ""},
		{"codec off", "t DateTime('UTC') /*+codec DoubleDelta, LZ4*/ COMMENT 'x'", nil, "t DateTime('UTC') COMMENT 'x'", nil, ""},
		{"both on one column", "a String /*+low_cardinality*/ /*+codec ZSTD(1)*/ COMMENT 'x'", all, "a LowCardinality(String) CODEC(ZSTD(1)) COMMENT 'x'", []string{"low_cardinality", "codec"}, ""},
		{"only some extras on", "a String /*+low_cardinality*/ /*+codec ZSTD(1)*/ COMMENT 'x'", []string{"codec"}, "a String CODEC(ZSTD(1)) COMMENT 'x'", []string{"codec"}, ""},
		{"whole statement on", "/*+skip_index ALTER TABLE t ADD INDEX i u TYPE bloom_filter GRANULARITY 4*/", all, "ALTER TABLE t ADD INDEX i u TYPE bloom_filter GRANULARITY 4", []string{"skip_index"}, ""},
		{"whole statement off", "/*+skip_index ALTER TABLE t ADD INDEX i u TYPE bloom_filter GRANULARITY 4*/", nil, "", nil, ""},
		{"index inside a definition", "(\n    a String\n    /*+skip_index , INDEX i a TYPE bloom_filter GRANULARITY 4*/\n)", all, "(\n    a String\n    , INDEX i a TYPE bloom_filter GRANULARITY 4\n)", []string{"skip_index"}, ""},
		{"marker over lines", "/*+skip_index ALTER TABLE t\n  ADD INDEX i u TYPE minmax GRANULARITY 1*/", all, "ALTER TABLE t\n  ADD INDEX i u TYPE minmax GRANULARITY 1", []string{"skip_index"}, ""},
		{"plain comment kept", "SELECT /* a note */ 1", all, "SELECT /* a note */ 1", nil, ""},
		{"unknown marker", "a String /*+lowcard*/", all, "", nil, "unknown marker /*+lowcard*/"},
		{"low cardinality with an argument", "a String /*+low_cardinality String*/", all, "", nil, "takes no argument"},
		{"low cardinality after no type", "/*+low_cardinality*/ a", all, "", nil, "must follow a column type"},
		{"codec without a codec", "a String /*+codec*/", all, "", nil, "needs the codec"},
		{"skip index without SQL", "/*+skip_index */", all, "", nil, "needs the SQL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, used, err := store.RenderStatement(tt.in, tt.on)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
			require.Equal(t, tt.wantUsed, used)
		})
	}
}

// The migrations as an 18.16 server and as a current one run them, kept
// in testdata/render/VERSION/NAME.sql; `go test -run TestRenderGolden
// -update` rewrites them.
func TestRenderGolden(t *testing.T) {
	ms, err := store.Migrations()
	require.NoError(t, err)
	for _, ver := range []string{"18.16.1", "24.8.4.13"} {
		v, err := store.ParseVersion(ver)
		require.NoError(t, err)
		for _, m := range ms {
			t.Run(v.String()+"/"+m.Name, func(t *testing.T) {
				stmts, used, err := store.Render(m.SQL, store.ExtrasFor(v))
				require.NoError(t, err)
				for _, s := range stmts {
					require.NotContains(t, s, "/*+", "every marker rendered")
				}
				if !v.AtLeast(store.Version{Major: 21, Minor: 8}) {
					require.Empty(t, used, "18.16 runs the plain form")
				}
				var b strings.Builder
				for _, s := range stmts {
					b.WriteString(s + ";\n\n")
				}
				path := filepath.Join("testdata", "render", v.String(), m.Name+".sql")
				if *update {
					require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
					require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o644))
				}
				want, err := os.ReadFile(path)
				require.NoError(t, err, "run with -update to create it")
				require.Equal(t, string(want), b.String())
			})
		}
	}
}

// On 18.16 a migration is its file with the markers taken out.
func TestPlainRenderingDropsOnlyMarkers(t *testing.T) {
	ms, err := store.Migrations()
	require.NoError(t, err)
	for _, m := range ms {
		stmts, _, err := store.Render(m.SQL, nil)
		require.NoError(t, err)
		var raw []string
		for _, s := range store.Statements(m.SQL) {
			if r, _, _ := store.RenderStatement(s, nil); r != "" {
				raw = append(raw, s)
			}
		}
		require.Len(t, stmts, len(raw), m.Name)
		for i := range stmts {
			require.Equal(t, squash(stripMarkers(raw[i])), squash(stmts[i]), m.Name)
		}
	}
}

func stripMarkers(s string) string {
	for {
		i := strings.Index(s, "/*+")
		if i < 0 {
			return s
		}
		j := strings.Index(s[i:], "*/")
		s = s[:i] + s[i+j+2:]
	}
}

func squash(s string) string { return strings.Join(strings.Fields(s), " ") }

func FuzzRenderStatement(f *testing.F) {
	for _, s := range []string{
		"a String /*+low_cardinality*/ COMMENT 'x'",
		"t DateTime /*+codec DoubleDelta, LZ4*/",
		"/*+skip_index ALTER TABLE t ADD INDEX i u TYPE minmax GRANULARITY 1*/",
		"/*+*/", "/*+codec", "x /*+low_cardinality*/ /*+low_cardinality*/",
	} {
		f.Add(s)
	}
	all := []string{"low_cardinality", "codec", "skip_index"}
	f.Fuzz(func(t *testing.T, in string) {
		off, _, errOff := store.RenderStatement(in, nil)
		_, _, errOn := store.RenderStatement(in, all)
		if (errOff == nil) != (errOn == nil) {
			t.Fatalf("a marker is valid with extras on or off alike: off %v, on %v", errOff, errOn)
		}
		if errOff == nil && len(off) > len(strings.TrimSpace(in)) {
			t.Fatalf("the plain form only takes markers out: %q -> %q", in, off)
		}
	})
}
