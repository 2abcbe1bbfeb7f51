package broker

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/vigil-soc/vigil/pkg/config"
)

// Broker is the embedded broker's lifecycle.
type Broker struct {
	cfg        config.BrokerConfig
	partitions int
	logger     *slog.Logger

	mu      sync.Mutex
	cluster *kfake.Cluster
}

// New returns a broker serving cfg.Listen; topics created implicitly get
// partitions partitions.
func New(cfg config.BrokerConfig, partitions int, logger *slog.Logger) *Broker {
	return &Broker{cfg: cfg, partitions: partitions, logger: logger}
}

// Start listens and loads persisted state from the data directory.
func (b *Broker) Start(_ context.Context) error {
	host, portStr, err := net.SplitHostPort(b.cfg.Listen)
	if err != nil {
		return fmt.Errorf("broker.listen %q: %w", b.cfg.Listen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return fmt.Errorf("broker.listen %q: bad port: %w", b.cfg.Listen, err)
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(port),
		kfake.DefaultNumPartitions(b.partitions),
		kfake.DataDir(b.cfg.DataDir),
		// kfake always binds 127.0.0.1; listen on the configured host instead.
		kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			return net.Listen(network, net.JoinHostPort(host, strconv.Itoa(port)))
		}),
	}
	if b.cfg.SyncWrites {
		opts = append(opts, kfake.SyncWrites())
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return fmt.Errorf("start broker on %s (data in %s): %w", b.cfg.Listen, b.cfg.DataDir, err)
	}
	b.mu.Lock()
	b.cluster = c
	b.mu.Unlock()
	b.logger.Info("broker listening", "addr", b.Addr(), "data_dir", b.cfg.DataDir)
	return nil
}

// Addr is the host:port the broker listens on, once started.
func (b *Broker) Addr() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cluster == nil {
		return ""
	}
	return b.cluster.ListenAddrs()[0]
}

// Shutdown closes the broker and saves its state; safe before Start.
func (b *Broker) Shutdown(_ context.Context) error {
	b.mu.Lock()
	c := b.cluster
	b.cluster = nil
	b.mu.Unlock()
	if c != nil {
		c.Close()
		b.logger.Info("broker stopped")
	}
	return nil
}
