package stream_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/pkg/stream"
	"github.com/vigil-soc/vigil/pkg/testkit"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// kafka-go's Transport keeps a goroutine per pooled broker connection
		// until its IdleTimeout (30 s) closes it.
		goleak.IgnoreTopFunction("github.com/segmentio/kafka-go.(*conn).run"),
		// kafka-go's Transport refreshes metadata in the background every
		// MetadataTTL until the pool is closed; Client.Close only closes
		// idle connections.
		goleak.IgnoreAnyFunction("github.com/segmentio/kafka-go.(*connPool).discover"),
	)
}

func TestDeadLetter(t *testing.T) {
	long := strings.Repeat("x", 3000)
	tests := []struct {
		name       string
		in         kafka.Message
		stage      string
		reason     string
		wantReason string
	}{
		{
			name:       "plain message",
			in:         kafka.Message{Topic: "vigil.events", Partition: 3, Offset: 12345, Key: []byte("k"), Value: []byte("{bad json")},
			stage:      "archiver",
			reason:     "decode: unexpected end of JSON input",
			wantReason: "decode: unexpected end of JSON input",
		},
		{
			name: "keeps the original headers first",
			in: kafka.Message{
				Topic: "t", Partition: 0, Offset: 0, Key: nil, Value: []byte("v"),
				Headers: []kafka.Header{{Key: "trace", Value: []byte("abc")}},
			},
			stage:      "processor",
			reason:     "r",
			wantReason: "r",
		},
		{
			name:       "long reason is cut at 1024 bytes",
			in:         kafka.Message{Topic: "t", Partition: 11, Offset: 1 << 40, Value: []byte("v")},
			stage:      "processor",
			reason:     long,
			wantReason: long[:1024],
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			origHeaders := append([]kafka.Header(nil), tt.in.Headers...)
			got := stream.DeadLetter(tt.in, tt.stage, tt.reason)

			require.Equal(t, tt.in.Key, got.Key)
			require.Equal(t, tt.in.Value, got.Value)
			require.Empty(t, got.Topic, "the writer's topic decides where it goes")
			require.Zero(t, got.Partition)
			require.Zero(t, got.Offset)

			want := append(append([]kafka.Header(nil), origHeaders...),
				kafka.Header{Key: stream.HeaderDLQStage, Value: []byte(tt.stage)},
				kafka.Header{Key: stream.HeaderDLQReason, Value: []byte(tt.wantReason)},
				kafka.Header{Key: stream.HeaderDLQTopic, Value: []byte(tt.in.Topic)},
				kafka.Header{Key: stream.HeaderDLQPartition, Value: []byte(fmt.Sprint(tt.in.Partition))},
				kafka.Header{Key: stream.HeaderDLQOffset, Value: []byte(fmt.Sprint(tt.in.Offset))},
			)
			require.Equal(t, want, got.Headers)
			require.Equal(t, origHeaders, tt.in.Headers, "the original message is not changed")
		})
	}
}

// DeadLetter must not write into the backing array of the original headers.
func TestDeadLetterDoesNotAliasHeaders(t *testing.T) {
	hs := make([]kafka.Header, 1, 16)
	hs[0] = kafka.Header{Key: "a", Value: []byte("1")}
	m := kafka.Message{Topic: "t", Headers: hs}
	d1 := stream.DeadLetter(m, "s1", "r1")
	d2 := stream.DeadLetter(m, "s2", "r2")
	require.Equal(t, "s1", string(d1.Headers[1].Value))
	require.Equal(t, "s2", string(d2.Headers[1].Value))
	require.Equal(t, kafka.Header{}, hs[:2][1], "nothing written past the original length")
}

func TestHeaderNames(t *testing.T) {
	// Header names are read by people and tools (kcat -f '%h'); pin them.
	require.Equal(t, []string{"vigil.dlq.reason", "vigil.dlq.topic", "vigil.dlq.partition", "vigil.dlq.offset", "vigil.dlq.stage"},
		[]string{stream.HeaderDLQReason, stream.HeaderDLQTopic, stream.HeaderDLQPartition, stream.HeaderDLQOffset, stream.HeaderDLQStage})
}

// writeCA writes a self-signed CA certificate as PEM to a file in dir.
func writeCA(tb testing.TB, dir string) string {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(tb, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "vigil test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(tb, err)
	path := filepath.Join(dir, "ca.pem")
	require.NoError(tb, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	return path
}

func TestNewClient(t *testing.T) {
	dir := t.TempDir()
	caFile := writeCA(t, dir)
	notPEM := filepath.Join(dir, "not.pem")
	require.NoError(t, os.WriteFile(notPEM, []byte("hello"), 0o600))

	tests := []struct {
		name    string
		mutate  func(k *config.KafkaConfig)
		wantErr []string
	}{
		{"defaults", func(*config.KafkaConfig) {}, nil},
		{"PLAIN", func(k *config.KafkaConfig) {
			k.SASL = config.SASLConfig{Mechanism: "PLAIN", Username: "u", Password: "p"}
		}, nil},
		{"SCRAM-SHA-256", func(k *config.KafkaConfig) {
			k.SASL = config.SASLConfig{Mechanism: "SCRAM-SHA-256", Username: "u", Password: "p"}
		}, nil},
		{"SCRAM-SHA-512", func(k *config.KafkaConfig) {
			k.SASL = config.SASLConfig{Mechanism: "SCRAM-SHA-512", Username: "u", Password: "p"}
		}, nil},
		{"TLS with the system pool", func(k *config.KafkaConfig) { k.TLS.Enabled = true }, nil},
		{"TLS with a CA file", func(k *config.KafkaConfig) { k.TLS = config.TLSConfig{Enabled: true, CAFile: caFile} }, nil},
		{"CA file ignored when TLS is off", func(k *config.KafkaConfig) { k.TLS.CAFile = filepath.Join(dir, "missing.pem") }, nil},

		{"unknown SASL mechanism", func(k *config.KafkaConfig) {
			k.SASL = config.SASLConfig{Mechanism: "GSSAPI", Username: "u", Password: "p"}
		}, []string{"kafka.sasl.mechanism", "GSSAPI"}},
		{"lower-case mechanism", func(k *config.KafkaConfig) {
			k.SASL = config.SASLConfig{Mechanism: "plain", Username: "u"}
		}, []string{"kafka.sasl.mechanism", "plain"}},
		{"missing CA file", func(k *config.KafkaConfig) {
			k.TLS = config.TLSConfig{Enabled: true, CAFile: filepath.Join(dir, "missing.pem")}
		}, []string{"kafka.tls.ca_file", "missing.pem"}},
		{"CA file without certificates", func(k *config.KafkaConfig) {
			k.TLS = config.TLSConfig{Enabled: true, CAFile: notPEM}
		}, []string{"kafka.tls.ca_file", "no certificates", "not.pem"}},
		{"missing client certificate", func(k *config.KafkaConfig) {
			k.TLS = config.TLSConfig{Enabled: true, CertFile: filepath.Join(dir, "c.pem"), KeyFile: filepath.Join(dir, "k.pem")}
		}, []string{"kafka.tls.cert_file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := config.Default().Kafka
			tt.mutate(&k)
			c, err := stream.NewClient(k)
			if len(tt.wantErr) == 0 {
				require.NoError(t, err)
				require.Equal(t, k, c.Config())
				c.Close()
				return
			}
			require.Error(t, err)
			require.Nil(t, c)
			for _, w := range tt.wantErr {
				require.Contains(t, err.Error(), w)
			}
			require.NotContains(t, err.Error(), "secret-password")
		})
	}
}

// A SASL password never shows in the error NewClient returns.
func TestNewClientErrorHidesPassword(t *testing.T) {
	k := config.Default().Kafka
	k.SASL = config.SASLConfig{Mechanism: "OAUTHBEARER", Username: "u", Password: "secret-password"}
	_, err := stream.NewClient(k)
	require.Error(t, err)
	require.NotContains(t, err.Error(), "secret-password")
}

func TestNewWriterCompression(t *testing.T) {
	for _, name := range []string{"", "none", "gzip", "snappy", "lz4", "zstd"} {
		k := config.Default().Kafka
		k.Compression = name
		c, err := stream.NewClient(k)
		require.NoError(t, err)
		w, err := c.NewWriter("t", stream.WriterOptions{})
		require.NoError(t, err, name)
		require.Equal(t, "t", w.Topic)
		require.Equal(t, kafka.RequireAll, w.RequiredAcks)
		require.Equal(t, 1000, w.BatchSize, "default batch size")
		require.Equal(t, 5*time.Millisecond, w.BatchTimeout, "default batch timeout, not kafka-go's 1s")
		require.IsType(t, kafka.Murmur2Balancer{}, w.Balancer)
		require.NoError(t, w.Close())
		c.Close()
	}
	k := config.Default().Kafka
	k.Compression = "brotli"
	c, err := stream.NewClient(k)
	require.NoError(t, err)
	defer c.Close()
	_, err = c.NewWriter("t", stream.WriterOptions{})
	require.Error(t, err)
	require.Contains(t, err.Error(), "kafka.compression")
	require.Contains(t, err.Error(), "brotli")
}

func TestWriterOptions(t *testing.T) {
	c, err := stream.NewClient(config.Default().Kafka)
	require.NoError(t, err)
	defer c.Close()
	w, err := c.NewWriter("t", stream.WriterOptions{BatchSize: 7, BatchTimeout: time.Second, Async: true})
	require.NoError(t, err)
	defer w.Close()
	require.Equal(t, 7, w.BatchSize)
	require.Equal(t, time.Second, w.BatchTimeout)
	require.True(t, w.Async)
}

// client returns a client for the embedded broker that is ready to use.
func client(tb testing.TB, k config.KafkaConfig) *stream.Client {
	tb.Helper()
	c, err := stream.NewClient(k)
	require.NoError(tb, err)
	tb.Cleanup(c.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(tb, c.WaitReady(ctx, testkit.Logger(tb)))
	return c
}

func partitionCount(tb testing.TB, k config.KafkaConfig, topic string) int {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl := &kafka.Client{Addr: kafka.TCP(k.Brokers...), Timeout: 10 * time.Second, Transport: &kafka.Transport{}}
	defer cl.Transport.(*kafka.Transport).CloseIdleConnections()
	md, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	require.NoError(tb, err)
	require.Len(tb, md.Topics, 1)
	require.NoError(tb, md.Topics[0].Error, "topic %s", topic)
	return len(md.Topics[0].Partitions)
}

func TestEnsureTopics(t *testing.T) {
	k := testkit.Broker(t)
	// testkit's broker gives implicitly created topics 6 partitions; the
	// counts asked for below differ from it, so they show EnsureTopics at work.
	c := client(t, k)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	topics := []stream.Topic{
		{Name: "vigil.events", Partitions: 3},
		{Name: "vigil.events.dlq", Partitions: 1},
		{Name: "vigil.processor.brute_force.changelog", Partitions: 4, Compacted: true},
		{Name: "vigil.notifications", Partitions: 1, Compacted: true, Retention: 36 * time.Hour},
	}
	require.NoError(t, c.EnsureTopics(ctx, topics...))
	require.NoError(t, c.EnsureTopics(ctx, topics...), "a second call is fine")
	require.NoError(t, c.EnsureTopics(ctx, topics[0], stream.Topic{Name: "new.one", Partitions: 2}), "some exist, some are new")

	for _, tp := range append(topics, stream.Topic{Name: "new.one", Partitions: 2}) {
		require.Equal(t, tp.Partitions, partitionCount(t, k, tp.Name), "partitions of %s", tp.Name)
	}

	// The compacted topic has cleanup.policy=compact.
	cl := &kafka.Client{Addr: kafka.TCP(k.Brokers...), Timeout: 10 * time.Second, Transport: &kafka.Transport{}}
	defer cl.Transport.(*kafka.Transport).CloseIdleConnections()
	res, err := cl.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{Resources: []kafka.DescribeConfigRequestResource{
		{ResourceType: kafka.ResourceTypeTopic, ResourceName: topics[2].Name, ConfigNames: []string{"cleanup.policy"}},
		{ResourceType: kafka.ResourceTypeTopic, ResourceName: topics[0].Name, ConfigNames: []string{"cleanup.policy"}},
		{ResourceType: kafka.ResourceTypeTopic, ResourceName: topics[3].Name, ConfigNames: []string{"cleanup.policy", "retention.ms"}},
	}})
	require.NoError(t, err)
	policy, retention := map[string]string{}, map[string]string{}
	for _, r := range res.Resources {
		require.NoError(t, r.Error)
		for _, e := range r.ConfigEntries {
			switch e.ConfigName {
			case "cleanup.policy":
				policy[r.ResourceName] = e.ConfigValue
			case "retention.ms":
				retention[r.ResourceName] = e.ConfigValue
			}
		}
	}
	require.Equal(t, "compact", policy[topics[2].Name])
	require.NotEqual(t, "compact", policy[topics[0].Name])
	require.Equal(t, "compact,delete", policy[topics[3].Name])
	require.Equal(t, "129600000", retention[topics[3].Name])
}

func TestEnsureTopicsReportsErrors(t *testing.T) {
	k := testkit.Broker(t)
	c := client(t, k)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, c.EnsureTopics(ctx, stream.Topic{Name: "vigil.x", Partitions: 1}))
	// Kafka rejects a name that collides with an existing one once '.' and
	// '_' are treated alike: that topic fails, named, and the others are
	// created.
	err := c.EnsureTopics(ctx, stream.Topic{Name: "ok.topic", Partitions: 2}, stream.Topic{Name: "vigil_x", Partitions: 1})
	require.Error(t, err)
	require.Contains(t, err.Error(), "create topic vigil_x")
	require.NotContains(t, err.Error(), "ok.topic")
	require.Equal(t, 2, partitionCount(t, k, "ok.topic"))
}

// murmur2 is Kafka's partitioning hash (Utils.murmur2 in the Java client),
// written out here so the test does not trust kafka-go's copy.
func murmur2(data []byte) uint32 {
	const (
		seed uint32 = 0x9747b28c
		m    uint32 = 0x5bd1e995
		r           = 24
	)
	n := len(data)
	h := seed ^ uint32(n)
	for i := 0; i+4 <= n; i += 4 {
		k := uint32(data[i]) | uint32(data[i+1])<<8 | uint32(data[i+2])<<16 | uint32(data[i+3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	tail := data[n&^3:]
	switch len(tail) {
	case 3:
		h ^= uint32(tail[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(tail[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(tail[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return h
}

// javaPartition is the partition the Java producer's default partitioner
// picks for a keyed record.
func javaPartition(key []byte, partitions int) int {
	return int((murmur2(key) & 0x7fffffff) % uint32(partitions))
}

func TestMurmur2ReferenceVectors(t *testing.T) {
	// From Kafka's UtilsTest.testMurmur2.
	for in, want := range map[string]int32{
		"21":                         -973932308,
		"foobar":                     -790332482,
		"a-little-bit-long-string":   -985981536,
		"a-little-bit-longer-string": -1486304829,
		"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
		"abc": 479470107,
	} {
		require.Equal(t, want, int32(murmur2([]byte(in))), in)
	}
}

// Messages written by NewWriter come back through a group reader, and every
// key lands on the partition the Java client would pick for it.
func TestWriterGroupReaderRoundTrip(t *testing.T) {
	k := testkit.Broker(t)
	c := client(t, k)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const topic, partitions = "roundtrip", 4
	require.NoError(t, c.EnsureTopics(ctx, stream.Topic{Name: topic, Partitions: partitions}))

	w, err := c.NewWriter(topic, stream.WriterOptions{})
	require.NoError(t, err)
	keys := []string{"203.0.113.7", "198.51.100.23", "2001:db8::1", "alice", "bob", "", "k6", "k7"}
	var msgs []kafka.Message
	for i := range 80 {
		key := keys[i%len(keys)]
		msgs = append(msgs, kafka.Message{
			Key:     []byte(key),
			Value:   fmt.Appendf(nil, "%s|%d", key, i),
			Headers: []kafka.Header{{Key: "seq", Value: fmt.Append(nil, i)}},
		})
	}
	require.NoError(t, w.WriteMessages(ctx, msgs...))
	require.NoError(t, w.Close())

	r := c.NewGroupReader("roundtrip-group", topic)
	defer r.Close()
	got := map[string]kafka.Message{}
	partitionOf := map[string]int{}
	lastSeq := map[string]int{}
	for len(got) < len(msgs) {
		m, err := r.FetchMessage(ctx)
		require.NoError(t, err)
		require.Equal(t, topic, m.Topic)
		key := string(m.Key)
		if p, ok := partitionOf[key]; ok {
			require.Equal(t, p, m.Partition, "key %q on one partition", key)
		}
		partitionOf[key] = m.Partition
		require.Equal(t, javaPartition(m.Key, partitions), m.Partition, "key %q on the murmur2 partition", key)
		// Per key, messages arrive in the order they were written.
		require.Len(t, m.Headers, 1)
		seq, err := strconv.Atoi(string(m.Headers[0].Value))
		require.NoError(t, err)
		if prev, ok := lastSeq[key]; ok {
			require.Greater(t, seq, prev, "key %q in write order", key)
		}
		lastSeq[key] = seq
		got[string(m.Value)] = m
		require.NoError(t, r.CommitMessages(ctx, m))
	}
	require.Len(t, got, len(msgs), "every message once")
	for i, m := range msgs {
		g, ok := got[string(m.Value)]
		require.True(t, ok, "message %d delivered", i)
		require.Equal(t, string(m.Key), string(g.Key))
		require.Equal(t, m.Headers, g.Headers)
	}
	require.Len(t, partitionOf, len(keys))
	used := map[int]bool{}
	for _, p := range partitionOf {
		used[p] = true
	}
	require.Greater(t, len(used), 1, "keys spread over partitions")
}

func TestWaitReady(t *testing.T) {
	k := testkit.Broker(t)
	c, err := stream.NewClient(k)
	require.NoError(t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, c.WaitReady(ctx, testkit.Logger(t)))
}

func TestWaitReadyGivesUp(t *testing.T) {
	addr := testkit.FreeAddr(t) // nothing listens there
	k := config.Default().Kafka
	k.Brokers = []string{addr}
	k.DialTimeout = 200 * time.Millisecond
	c, err := stream.NewClient(k)
	require.NoError(t, err)
	defer c.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	err = c.WaitReady(ctx, testkit.Logger(t))
	require.Error(t, err)
	require.Contains(t, err.Error(), addr, "the error names the broker")
	require.Contains(t, err.Error(), "not reachable")
	require.Error(t, ctx.Err(), "returned only once its context expired")
}

func TestEndOffsetsAndPartitionReader(t *testing.T) {
	k := testkit.Broker(t)
	c := client(t, k)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	require.NoError(t, c.Ping(ctx))
	_, err := c.EndOffsets(ctx, "no.such.topic")
	require.ErrorIs(t, err, stream.ErrNoTopic)

	require.NoError(t, c.EnsureTopics(ctx, stream.Topic{Name: "t", Partitions: 2}))
	ends, err := c.EndOffsets(ctx, "t")
	require.NoError(t, err)
	require.Equal(t, map[int]int64{0: 0, 1: 0}, ends)

	w := &kafka.Writer{Addr: kafka.TCP(k.Brokers...), Topic: "t", Balancer: &kafka.Hash{}, BatchTimeout: time.Millisecond, RequiredAcks: kafka.RequireAll}
	defer w.Close()
	var msgs []kafka.Message
	for i := range 10 {
		msgs = append(msgs, kafka.Message{Key: []byte(strconv.Itoa(i)), Value: []byte(strconv.Itoa(i))})
	}
	require.NoError(t, w.WriteMessages(ctx, msgs...))
	ends, err = c.EndOffsets(ctx, "t")
	require.NoError(t, err)
	require.Equal(t, int64(10), ends[0]+ends[1], "every message counted once: %v", ends)

	// A reader at the end of a partition sees only what is written after.
	p := 0
	if ends[0] == 0 {
		p = 1
	}
	r := c.NewPartitionReader("t", p, ends[p])
	defer r.Close()
	more := &kafka.Writer{Addr: kafka.TCP(k.Brokers...), Topic: "t", Balancer: fixedPartition(p), BatchTimeout: time.Millisecond, RequiredAcks: kafka.RequireAll}
	defer more.Close()
	require.NoError(t, more.WriteMessages(ctx, kafka.Message{Value: []byte("new")}))
	m, err := r.ReadMessage(ctx)
	require.NoError(t, err)
	require.Equal(t, "new", string(m.Value))
	require.Equal(t, ends[p], m.Offset)
}

// fixedPartition sends every message to one partition.
type fixedPartition int

func (f fixedPartition) Balance(kafka.Message, ...int) int { return int(f) }
