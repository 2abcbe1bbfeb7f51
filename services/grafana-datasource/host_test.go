package grafanads_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend/grpcplugin"
	"github.com/grafana/grafana-plugin-sdk-go/genproto/pluginv2"
	"github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vigil-soc/vigil/pkg/testkit"
	grafanads "github.com/vigil-soc/vigil/services/grafana-datasource"
)

// pluginBinary is the backend executable TestMain builds, named as
// Grafana looks for it (gpx_vigil_<os>_<arch>).
var pluginBinary string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "gpx_vigil")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	pluginBinary = filepath.Join(dir, fmt.Sprintf("gpx_vigil_%s_%s", runtime.GOOS, runtime.GOARCH))
	build := exec.Command("go", "build", "-o", pluginBinary, "./cmd/gpx_vigil")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build the plugin: %v\n%s", err, out)
		return 1
	}
	code := m.Run()
	if code == 0 {
		// In-process data sources and plugin clients are closed by the
		// tests' cleanups: nothing of theirs may still run.
		if err := goleak.Find(testkit.GoleakOptions()...); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	return code
}

// host is the plugin process as Grafana runs it: started through
// hashicorp/go-plugin with the SDK's handshake, spoken to over gRPC.
type host struct {
	diagnostics pluginv2.DiagnosticsClient
	data        pluginv2.DataClient
	stream      pluginv2.StreamClient
}

func startPlugin(t *testing.T) *host {
	t.Helper()
	var logs io.Writer = io.Discard
	if testing.Verbose() {
		logs = os.Stderr
	}
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig: plugin.HandshakeConfig{
			ProtocolVersion:  grpcplugin.ProtocolVersion,
			MagicCookieKey:   grpcplugin.MagicCookieKey,
			MagicCookieValue: grpcplugin.MagicCookieValue,
		},
		VersionedPlugins: map[int]plugin.PluginSet{grpcplugin.ProtocolVersion: {
			"diagnostics": &grpcplugin.DiagnosticsGRPCPlugin{},
			"data":        &grpcplugin.DataGRPCPlugin{},
			"stream":      &grpcplugin.StreamGRPCPlugin{},
		}},
		Cmd:              exec.Command(pluginBinary),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Logger:           hclog.New(&hclog.LoggerOptions{Name: "gpx_vigil", Output: logs, Level: hclog.Debug}),
		StartTimeout:     time.Minute,
	})
	t.Cleanup(client.Kill)
	rpc, err := client.Client()
	require.NoError(t, err)
	h := &host{}
	for name, into := range map[string]any{"diagnostics": &h.diagnostics, "data": &h.data, "stream": &h.stream} {
		raw, err := rpc.Dispense(name)
		require.NoError(t, err, name)
		switch p := into.(type) {
		case *pluginv2.DiagnosticsClient:
			*p = raw.(grpcplugin.DiagnosticsClient)
		case *pluginv2.DataClient:
			*p = raw.(grpcplugin.DataClient)
		case *pluginv2.StreamClient:
			*p = raw.(grpcplugin.StreamClient)
		}
	}
	return h
}

// dsSettings are a data source's settings as Grafana sends them.
type dsSettings struct {
	uid      string
	jsonData map[string]any
	secure   map[string]string
}

func (s dsSettings) pluginContext(t testing.TB) *pluginv2.PluginContext {
	t.Helper()
	js, err := json.Marshal(s.jsonData)
	require.NoError(t, err)
	return &pluginv2.PluginContext{
		OrgId:    1,
		PluginId: grafanads.PluginID,
		User:     &pluginv2.User{Login: "analyst", Role: "Viewer"},
		DataSourceInstanceSettings: &pluginv2.DataSourceInstanceSettings{
			Id: 1, Uid: s.uid, Name: "Vigil " + s.uid, JsonData: js, DecryptedSecureJsonData: s.secure,
			LastUpdatedMS: 1,
		},
	}
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
