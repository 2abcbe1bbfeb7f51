package shipper

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/pkg/service"
	"github.com/vigil-soc/vigil/pkg/testkit"
)

// filesConfig is a shipper that follows paths (one shipper.files entry in
// format) with its state in stateDir, publishing to k, polling every 20 ms.
func filesConfig(t testing.TB, k config.KafkaConfig, stateDir, format string, paths ...string) config.Config {
	cfg := config.Default()
	cfg.Kafka = k
	cfg.Telemetry.Listen = ""
	cfg.Shipper.Files = []config.FileInput{{Paths: paths, Format: format}}
	cfg.Shipper.StateDir = stateDir
	cfg.Shipper.Host = "h"
	cfg.Shipper.PollInterval = 20 * time.Millisecond
	require.NoError(t, cfg.Validate())
	return cfg
}

// startShipper starts a shipper on cfg; the caller shuts it down.
func startShipper(t testing.TB, cfg config.Config) *Shipper {
	s, err := New(service.Deps{Config: cfg, Logger: testkit.Logger(t)})
	require.NoError(t, err)
	require.NoError(t, s.Start(context.Background()))
	return s
}
