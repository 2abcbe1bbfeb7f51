package receiver

import (
	"crypto/tls"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/pkg/testkit"
)

func TestServerTLS(t *testing.T) {
	certs := testkit.NewCerts(t)
	c, err := ServerTLS(config.ServerTLSConfig{CertFile: certs.ServerCertFile, KeyFile: certs.ServerKeyFile}, "x.tls")
	require.NoError(t, err)
	require.Len(t, c.Certificates, 1)
	require.Equal(t, tls.NoClientCert, c.ClientAuth)

	c, err = ServerTLS(config.ServerTLSConfig{CertFile: certs.ServerCertFile, KeyFile: certs.ServerKeyFile, ClientCAFile: certs.CAFile}, "x.tls")
	require.NoError(t, err)
	require.Equal(t, tls.RequireAndVerifyClientCert, c.ClientAuth)
	require.NotNil(t, c.ClientCAs)

	missing := filepath.Join(t.TempDir(), "missing.pem")
	for name, tt := range map[string]struct {
		cfg  config.ServerTLSConfig
		want string
	}{
		"missing certificate":            {config.ServerTLSConfig{CertFile: missing, KeyFile: certs.ServerKeyFile}, "x.tls.cert_file"},
		"key of another certificate":     {config.ServerTLSConfig{CertFile: certs.ServerCertFile, KeyFile: certs.ClientKeyFile}, "x.tls.key_file"},
		"missing client CA":              {config.ServerTLSConfig{CertFile: certs.ServerCertFile, KeyFile: certs.ServerKeyFile, ClientCAFile: missing}, "x.tls.client_ca_file"},
		"client CA without certificates": {config.ServerTLSConfig{CertFile: certs.ServerCertFile, KeyFile: certs.ServerKeyFile, ClientCAFile: certs.ServerKeyFile}, "no certificates"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ServerTLS(tt.cfg, "x.tls")
			require.ErrorContains(t, err, tt.want)
		})
	}
}
