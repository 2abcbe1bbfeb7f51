package grafanads_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/require"

	grafanads "github.com/vigil-soc/vigil/services/grafana-datasource"
)

func pluginSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open("testdata/plugin.schema.json")
	require.NoError(t, err)
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	require.NoError(t, err)
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	require.NoError(t, c.AddResource("plugin.schema.json", doc))
	s, err := c.Compile("plugin.schema.json")
	require.NoError(t, err)
	return s
}

func readJSON(t *testing.T, b []byte) any {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	require.NoError(t, err)
	return v
}

// TestPluginJSON validates plugin.json (as written, and as build.sh fills
// it in) against the schema of Grafana's plugin.json, and checks what the
// backend and the package must agree on.
func TestPluginJSON(t *testing.T) {
	schema := pluginSchema(t)
	raw, err := os.ReadFile("src/plugin.json")
	require.NoError(t, err)
	require.NoError(t, schema.Validate(readJSON(t, raw)))
	built := strings.NewReplacer("%VERSION%", "0.1.0", "%TODAY%", "2025-03-01").Replace(string(raw))
	require.NoError(t, schema.Validate(readJSON(t, []byte(built))))

	var meta struct{ ID, Type, Executable string }
	require.NoError(t, json.Unmarshal(raw, &meta))
	var flags map[string]any
	require.NoError(t, json.Unmarshal(raw, &flags))
	require.Equal(t, grafanads.PluginID, meta.ID)
	require.Equal(t, "datasource", meta.Type)
	require.Equal(t, "gpx_vigil", meta.Executable)
	for _, k := range []string{"backend", "alerting", "streaming", "metrics"} {
		require.Equal(t, true, flags[k], k)
	}
	// build.sh names the executables as Grafana looks for them.
	script, err := os.ReadFile("build.sh")
	require.NoError(t, err)
	require.Contains(t, string(script), `gpx_vigil_${os}_${arch}${ext}`)
	for _, target := range []string{"linux/amd64", "linux/arm64", "darwin/arm64", "windows/amd64"} {
		require.Contains(t, string(script), target)
	}
	require.FileExists(t, filepath.Join("src", "module.ts"))
	require.FileExists(t, filepath.Join("src", "img", "logo.svg"))

	// A package built by build.sh is checked too.
	if b, err := os.ReadFile("dist/plugin.json"); err == nil {
		require.NoError(t, schema.Validate(readJSON(t, b)))
		require.NotContains(t, string(b), "%VERSION%")
	}
}

// TestPluginSchemaRefuses shows the schema is not vacuous: each broken
// plugin.json is refused.
func TestPluginSchemaRefuses(t *testing.T) {
	schema := pluginSchema(t)
	raw, err := os.ReadFile("src/plugin.json")
	require.NoError(t, err)
	for name, edit := range map[string]func(m map[string]any){
		"id form":           func(m map[string]any) { m["id"] = "Vigil_DataSource" },
		"no info version":   func(m map[string]any) { delete(m["info"].(map[string]any), "version") },
		"bad type":          func(m map[string]any) { m["type"] = "database" },
		"unknown property":  func(m map[string]any) { m["backendd"] = true },
		"backend, no exec":  func(m map[string]any) { delete(m, "executable") },
		"alerting, no back": func(m map[string]any) { m["backend"] = false },
		"no keywords":       func(m map[string]any) { m["info"].(map[string]any)["keywords"] = []any{} },
		"bad dependency":    func(m map[string]any) { m["dependencies"].(map[string]any)["grafanaDependency"] = "latest" },
	} {
		var m map[string]any
		require.NoError(t, json.Unmarshal(raw, &m))
		edit(m)
		b, err := json.Marshal(m)
		require.NoError(t, err)
		require.Error(t, schema.Validate(readJSON(t, b)), name)
	}
}

// TestBuiltBinaryServes checks the executable TestMain built answers as a
// go-plugin server would: it refuses to run without Grafana's handshake.
func TestBuiltBinaryServes(t *testing.T) {
	out, err := exec.Command(pluginBinary).CombinedOutput()
	require.Error(t, err, "without the handshake cookie the plugin must not serve")
	require.Contains(t, string(out), "This binary is a plugin")
}
