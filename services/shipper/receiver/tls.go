package receiver

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"github.com/vigil-soc/vigil/pkg/config"
)

// ServerTLS loads a TLS server's certificate and, when c.ClientCAFile is
// set, the CAs that must have signed its clients' certificates (mutual
// TLS). key is the configuration key of c, for errors. TLS 1.2 is the
// oldest version accepted.
func ServerTLS(c config.ServerTLSConfig, key string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("%s.cert_file, %s.key_file: %w", key, key, err)
	}
	t := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if c.ClientCAFile != "" {
		pem, err := os.ReadFile(c.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("%s.client_ca_file: %w", key, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s.client_ca_file: no certificates in %s", key, c.ClientCAFile)
		}
		t.ClientCAs = pool
		t.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return t, nil
}
