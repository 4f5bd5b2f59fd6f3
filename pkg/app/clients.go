package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	"github.com/twmb/franz-go/pkg/sr"
)

// How every client reaches Kafka, the schema registry and Redis: TLS and
// credentials from the environment, turned into client options here and
// nowhere else, so that no stage, CLI command or admin helper can forget them.

// Secret is a credential. It prints as [redacted] (%v, %+v, %#v, JSON), so
// a Config that reaches a log or an error message does not leak it.
type Secret string

// String hides the secret.
func (Secret) String() string { return "[redacted]" }

// GoString hides the secret from %#v.
func (Secret) GoString() string { return "[redacted]" }

// MarshalText hides the secret from encoders (JSON, zap reflection).
func (Secret) MarshalText() ([]byte, error) { return []byte("[redacted]"), nil }

// TLSConfig says how a client dials a server over TLS.
type TLSConfig struct {
	Enabled    bool
	CAFile     string // PEM roots; empty = the system's
	CertFile   string // client certificate (PEM), for servers that require one
	KeyFile    string // its private key (PEM)
	ServerName string // name to verify; empty = the host dialled
}

// Build returns the *tls.Config, or nil when TLS is off.
func (c TLSConfig) Build() (*tls.Config, error) {
	if !c.Enabled {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.ServerName}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("CA file: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s: no PEM certificate in it", c.CAFile)
		}
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		return nil, errors.New("a client certificate needs both the certificate and the key file")
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// SASL mechanisms for Kafka.
const (
	SASLPlain       = "PLAIN"
	SASLScramSHA256 = "SCRAM-SHA-256"
	SASLScramSHA512 = "SCRAM-SHA-512"
)

// KafkaSecurity is how every Kafka client authenticates.
type KafkaSecurity struct {
	TLS           TLSConfig
	SASLMechanism string // empty: no SASL
	SASLUser      string
	SASLPassword  Secret
}

// RedisSecurity is how the Redis client authenticates, and whether it
// speaks the cluster protocol (REDIS_ADDR with several addresses implies it).
type RedisSecurity struct {
	Cluster  bool
	Username string // empty: the default user (requirepass)
	Password Secret
	TLS      TLSConfig
}

// RegistrySecurity is how the schema registry client authenticates.
type RegistrySecurity struct {
	Username string
	Password Secret
	TLS      TLSConfig // its settings apply to https:// URLs
}

// Settings read by securityFromEnv. A secret's value may instead be in the
// file named by the variable with a _FILE suffix (mounted secrets).
const (
	EnvKafkaTLS           = "KAFKA_TLS"
	EnvKafkaTLSCAFile     = "KAFKA_TLS_CA_FILE"
	EnvKafkaTLSCertFile   = "KAFKA_TLS_CERT_FILE"
	EnvKafkaTLSKeyFile    = "KAFKA_TLS_KEY_FILE"
	EnvKafkaTLSServerName = "KAFKA_TLS_SERVER_NAME"
	EnvKafkaSASLMechanism = "KAFKA_SASL_MECHANISM"
	EnvKafkaSASLUsername  = "KAFKA_SASL_USERNAME"
	EnvKafkaSASLPassword  = "KAFKA_SASL_PASSWORD"

	EnvRedisCluster       = "REDIS_CLUSTER"
	EnvRedisUsername      = "REDIS_USERNAME"
	EnvRedisPassword      = "REDIS_PASSWORD"
	EnvRedisTLS           = "REDIS_TLS"
	EnvRedisTLSCAFile     = "REDIS_TLS_CA_FILE"
	EnvRedisTLSCertFile   = "REDIS_TLS_CERT_FILE"
	EnvRedisTLSKeyFile    = "REDIS_TLS_KEY_FILE"
	EnvRedisTLSServerName = "REDIS_TLS_SERVER_NAME"

	EnvRegistryUsername    = "SCHEMA_REGISTRY_USERNAME"
	EnvRegistryPassword    = "SCHEMA_REGISTRY_PASSWORD"
	EnvRegistryTLSCAFile   = "SCHEMA_REGISTRY_TLS_CA_FILE"
	EnvRegistryTLSCertFile = "SCHEMA_REGISTRY_TLS_CERT_FILE"
	EnvRegistryTLSKeyFile  = "SCHEMA_REGISTRY_TLS_KEY_FILE"

	fileSuffix = "_FILE"
)

// envReader reads settings and collects every problem, so that one run
// reports them all.
type envReader struct {
	get  func(name, def string) string
	errs []error
}

func (r *envReader) fail(name string, err error) {
	r.errs = append(r.errs, fmt.Errorf("%s: %w", name, err))
}

func (r *envReader) boolean(name string) bool {
	v := r.get(name, "false")
	b, err := strconv.ParseBool(v)
	if err != nil {
		r.fail(name, err)
	}
	return b
}

// secret reads NAME, or the file named by NAME_FILE (trailing line breaks
// dropped); setting both is an error.
func (r *envReader) secret(name string) string {
	v, file := r.get(name, ""), r.get(name+fileSuffix, "")
	if file == "" {
		return v
	}
	if v != "" {
		r.fail(name, fmt.Errorf("set either it or %s, not both", name+fileSuffix))
		return ""
	}
	b, err := os.ReadFile(file)
	if err != nil {
		r.fail(name+fileSuffix, err)
		return ""
	}
	return strings.TrimRight(string(b), "\r\n")
}

// tls reads PREFIX_CA_FILE, _CERT_FILE, _KEY_FILE and _SERVER_NAME; TLS is
// on when enabled or when any of them is set, and its files are checked now.
func (r *envReader) tls(prefix string, enabled bool) TLSConfig {
	c := TLSConfig{
		CAFile:     r.get(prefix+"_CA_FILE", ""),
		CertFile:   r.get(prefix+"_CERT_FILE", ""),
		KeyFile:    r.get(prefix+"_KEY_FILE", ""),
		ServerName: r.get(prefix+"_SERVER_NAME", ""),
	}
	c.Enabled = enabled || c.CAFile != "" || c.CertFile != "" || c.KeyFile != "" || c.ServerName != ""
	if _, err := c.Build(); err != nil {
		r.fail(prefix, err)
	}
	return c
}

// securityFromEnv reads the TLS and credential settings of the Kafka, Redis
// and schema registry clients.
func securityFromEnv(getenv func(string) string) (KafkaSecurity, RedisSecurity, RegistrySecurity, error) {
	r := &envReader{get: withDefaults(getenv)}
	k := KafkaSecurity{
		TLS:           r.tls("KAFKA_TLS", r.boolean(EnvKafkaTLS)),
		SASLMechanism: strings.ToUpper(r.get(EnvKafkaSASLMechanism, "")),
		SASLUser:      r.secret(EnvKafkaSASLUsername),
		SASLPassword:  Secret(r.secret(EnvKafkaSASLPassword)),
	}
	switch k.SASLMechanism {
	case "":
		if k.SASLUser != "" || k.SASLPassword != "" {
			r.fail(EnvKafkaSASLMechanism, fmt.Errorf("required with a SASL user or password (%s, %s or %s)", SASLPlain, SASLScramSHA256, SASLScramSHA512))
		}
	case SASLPlain, SASLScramSHA256, SASLScramSHA512:
		if k.SASLUser == "" || k.SASLPassword == "" {
			r.fail(EnvKafkaSASLMechanism, fmt.Errorf("%s needs %s and %s", k.SASLMechanism, EnvKafkaSASLUsername, EnvKafkaSASLPassword))
		}
	default:
		r.fail(EnvKafkaSASLMechanism, fmt.Errorf("%q is not %s, %s or %s", k.SASLMechanism, SASLPlain, SASLScramSHA256, SASLScramSHA512))
	}
	rd := RedisSecurity{
		Cluster:  r.boolean(EnvRedisCluster),
		Username: r.secret(EnvRedisUsername),
		Password: Secret(r.secret(EnvRedisPassword)),
		TLS:      r.tls("REDIS_TLS", r.boolean(EnvRedisTLS)),
	}
	if rd.Username != "" && rd.Password == "" {
		r.fail(EnvRedisUsername, fmt.Errorf("an ACL user needs %s", EnvRedisPassword))
	}
	reg := RegistrySecurity{
		Username: r.secret(EnvRegistryUsername),
		Password: Secret(r.secret(EnvRegistryPassword)),
		TLS:      r.tls("SCHEMA_REGISTRY_TLS", false),
	}
	if (reg.Username == "") != (reg.Password == "") {
		r.fail(EnvRegistryUsername, fmt.Errorf("basic auth needs both %s and %s", EnvRegistryUsername, EnvRegistryPassword))
	}
	return k, rd, reg, errors.Join(r.errs...)
}

// KafkaOptions are the options every Kafka client of the process adds to its
// own: TLS and SASL. Seed brokers are the caller's.
func KafkaOptions(cfg Config) ([]kgo.Opt, error) {
	var opts []kgo.Opt
	tlsCfg, err := cfg.Kafka.TLS.Build()
	if err != nil {
		return nil, fmt.Errorf("kafka tls: %w", err)
	}
	if tlsCfg != nil {
		opts = append(opts, kgo.DialTLSConfig(tlsCfg))
	}
	var mech sasl.Mechanism
	user, pass := cfg.Kafka.SASLUser, string(cfg.Kafka.SASLPassword)
	switch cfg.Kafka.SASLMechanism {
	case "":
	case SASLPlain:
		mech = plain.Auth{User: user, Pass: pass}.AsMechanism()
	case SASLScramSHA256:
		mech = scram.Auth{User: user, Pass: pass}.AsSha256Mechanism()
	case SASLScramSHA512:
		mech = scram.Auth{User: user, Pass: pass}.AsSha512Mechanism()
	default:
		return nil, fmt.Errorf("kafka sasl: unknown mechanism %q", cfg.Kafka.SASLMechanism)
	}
	if mech != nil {
		opts = append(opts, kgo.SASL(mech))
	}
	return opts, nil
}

// KafkaClient returns a plain client (producer, admin) of the configured
// brokers with the process's TLS and SASL, plus extra options.
func KafkaClient(cfg Config, extra ...kgo.Opt) (*kgo.Client, error) {
	sec, err := KafkaOptions(cfg)
	if err != nil {
		return nil, err
	}
	opts := append([]kgo.Opt{kgo.SeedBrokers(cfg.KafkaBrokers...)}, sec...)
	cl, err := kgo.NewClient(append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	return cl, nil
}

// RedisAddrs splits REDIS_ADDR into its addresses.
func (c Config) RedisAddrs() []string {
	var out []string
	for _, a := range strings.Split(c.RedisAddr, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// RedisOptions returns the Redis client options: one address is a single
// server, several (or REDIS_CLUSTER=true) a Redis Cluster.
func RedisOptions(cfg Config) (*redis.UniversalOptions, error) {
	tlsCfg, err := cfg.Redis.TLS.Build()
	if err != nil {
		return nil, fmt.Errorf("redis tls: %w", err)
	}
	addrs := cfg.RedisAddrs()
	if len(addrs) == 0 {
		return nil, errors.New("redis: no address")
	}
	return &redis.UniversalOptions{
		Addrs:         addrs,
		IsClusterMode: cfg.Redis.Cluster,
		Username:      cfg.Redis.Username,
		Password:      string(cfg.Redis.Password),
		TLSConfig:     tlsCfg,
	}, nil
}

// NewRedis returns the process's Redis client (a *redis.ClusterClient for a
// cluster, a *redis.Client otherwise). It does not dial yet.
func NewRedis(cfg Config) (redis.UniversalClient, error) {
	opts, err := RedisOptions(cfg)
	if err != nil {
		return nil, err
	}
	return redis.NewUniversalClient(opts), nil
}

// registryOptions are the schema registry client's options.
func registryOptions(cfg Config) ([]sr.ClientOpt, error) {
	opts := []sr.ClientOpt{sr.URLs(strings.Split(cfg.SchemaRegistryURL, ",")...)}
	if cfg.Registry.Username != "" {
		opts = append(opts, sr.BasicAuth(cfg.Registry.Username, string(cfg.Registry.Password)))
	}
	tlsCfg, err := cfg.Registry.TLS.Build()
	if err != nil {
		return nil, fmt.Errorf("schema registry tls: %w", err)
	}
	if tlsCfg != nil {
		opts = append(opts, sr.DialTLSConfig(tlsCfg))
	}
	return opts, nil
}

// redisReady is the readiness check of the Redis client: it answers PING.
func redisReady(rdb redis.UniversalClient) func(context.Context) error {
	return func(ctx context.Context) error {
		if err := rdb.Ping(ctx).Err(); err != nil {
			return fmt.Errorf("redis: %w", err)
		}
		return nil
	}
}
