package vigil

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/vigil-soc/vigil/pkg/config"
)

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := Root()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

func TestConfigDefaultsPrintsEveryKeyDocumented(t *testing.T) {
	out, err := run(t, "config", "defaults")
	require.NoError(t, err)
	require.Equal(t, string(config.DefaultsYAML), out)
	path := filepath.Join(t.TempDir(), "defaults.yaml")
	require.NoError(t, os.WriteFile(path, []byte(out), 0o600))
	c, err := config.Load(config.Source{File: path, Environ: []string{}})
	require.NoError(t, err)
	require.Equal(t, config.Default(), c, "what defaults prints loads back as the defaults")
	var doc yaml.Node
	require.NoError(t, yaml.Unmarshal([]byte(out), &doc))
	var undocumented []string
	var walk func(n *yaml.Node, prefix string)
	walk = func(n *yaml.Node, prefix string) {
		if n.Kind == yaml.DocumentNode || n.Kind == yaml.SequenceNode {
			for _, c := range n.Content {
				walk(c, prefix)
			}
			return
		}
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			key := prefix + k.Value
			if k.HeadComment == "" && v.Kind != yaml.MappingNode {
				undocumented = append(undocumented, key)
			}
			walk(v, key+".")
		}
	}
	walk(&doc, "")
	require.Empty(t, undocumented, "keys without a comment")
}

func TestConfigValidate(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	require.NoError(t, os.WriteFile(good, []byte("tenant: acme\nkafka:\n  brokers: [k1:9092]\n"), 0o600))
	out, err := run(t, "config", "validate", "-c", good)
	require.NoError(t, err)
	require.Contains(t, out, "configuration OK")

	bad := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("kafka:\n  brokerz: [k1:9092]\narchiver:\n  batch_rows: 0\n"), 0o600))
	_, err = run(t, "config", "validate", "-c", bad)
	require.ErrorContains(t, err, "kafka.brokerz")

	_, err = run(t, "config", "validate", "--set", "archiver.batch_rows=0")
	require.ErrorContains(t, err, "archiver.batch_rows")
}

// The configuration docker-compose.yml mounts stays valid as keys change.
func TestComposeConfigIsValid(t *testing.T) {
	_, err := run(t, "config", "validate", "-c", filepath.Join("..", "..", "deploy", "compose", "vigil.yaml"))
	require.NoError(t, err)
}

func TestMigrateRender(t *testing.T) {
	out, err := run(t, "migrate", "--render", "24.8.4.13")
	require.NoError(t, err)
	require.Contains(t, out, "-- 0005_rollups on ClickHouse 24.8 (extras used: codec, low_cardinality)")
	require.Contains(t, out, "tenant      LowCardinality(String) COMMENT")
	require.Contains(t, out, "ADD INDEX IF NOT EXISTS user_bloom user TYPE bloom_filter(0.01) GRANULARITY 4;")

	out, err = run(t, "migrate", "--render", "18.16.1")
	require.NoError(t, err)
	require.Contains(t, out, "-- 0004_events_skip_indexes on ClickHouse 18.16 (extras used: none)")
	require.NotContains(t, out, "LowCardinality")
	require.NotContains(t, out, "/*+")

	_, err = run(t, "migrate", "--render", "latest")
	require.ErrorContains(t, err, "--render")
}
