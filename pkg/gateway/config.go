package gateway

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/contactsync/contactsync/pkg/contact"
)

// Source is one configured webhook sender: what it may post and where it
// goes. It is bound to exactly one system and one topic; ingest binds the
// topic to the system, so trust follows from the credential.
type Source struct {
	// Name is the URL path segment: POST /webhooks/<name>.
	Name string `yaml:"name"`
	// Kind is the sender's webhook scheme: contactsync (the default: the
	// X-Contactsync-* signature over events in the online event format) or
	// stripe (Stripe-Signature over Stripe events, mapped by pkg/stripe).
	Kind string `yaml:"kind"`
	// System is the only system the source may speak for.
	System string `yaml:"system"`
	// Topic receives the source's events.
	Topic string `yaml:"topic"`
	// SecretFiles and SecretEnvs name where the HMAC secrets are (never in
	// this file): one or two in all, two while a secret is rotated.
	SecretFiles []string `yaml:"secret_files"`
	SecretEnvs  []string `yaml:"secret_envs"`
	// Origins the source may claim in an event's "origin"; default
	// DefaultOrigins. sync and admin must be listed explicitly.
	Origins []string `yaml:"origins"`
	// Rate (requests per second) and Burst bound the source's accepted
	// requests; defaults DefaultRate and 2*Rate.
	Rate  float64 `yaml:"rate"`
	Burst int     `yaml:"burst"`

	secrets [][]byte
	origins map[string]bool
}

// Defaults of a source's settings.
var DefaultOrigins = []string{
	string(contact.OriginAPI), string(contact.OriginSelfService), string(contact.OriginImport),
	string(contact.OriginNCOA), string(contact.OriginUnknown),
}

const (
	DefaultRate = 50.0
	// A shorter secret is refused: HMAC keys should carry 128 bits or more.
	minSecretBytes = 16
	maxSecrets     = 2
)

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)

type sourcesFile struct {
	Sources []Source `yaml:"sources"`
}

// LoadSources reads the sources file (YAML, or JSON, which is YAML) at path
// and the secrets it names.
func LoadSources(path string, getenv func(string) string) ([]Source, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("gateway sources: %w", err)
	}
	srcs, err := ParseSources(data, os.ReadFile, getenv)
	if err != nil {
		return nil, fmt.Errorf("gateway sources %s: %w", path, err)
	}
	return srcs, nil
}

// ParseSources decodes and checks a sources file, reading secrets through
// readFile and getenv. Unknown keys are errors (a typo must not silently
// drop a setting).
func ParseSources(data []byte, readFile func(string) ([]byte, error), getenv func(string) string) ([]Source, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var f sourcesFile
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if len(f.Sources) == 0 {
		return nil, errors.New("no sources configured")
	}
	seen := map[string]bool{}
	out := make([]Source, 0, len(f.Sources))
	for i, s := range f.Sources {
		if err := s.loadSecrets(readFile, getenv); err != nil {
			return nil, fmt.Errorf("source %d (%s): %w", i+1, s.Name, err)
		}
		if err := s.check(); err != nil {
			return nil, fmt.Errorf("source %d (%s): %w", i+1, s.Name, err)
		}
		if seen[s.Name] {
			return nil, fmt.Errorf("source %d: name %s is used twice", i+1, s.Name)
		}
		seen[s.Name] = true
		out = append(out, s)
	}
	return out, nil
}

func (s *Source) loadSecrets(readFile func(string) ([]byte, error), getenv func(string) string) error {
	for _, p := range s.SecretFiles {
		b, err := readFile(p)
		if err != nil {
			return fmt.Errorf("secret file: %w", err)
		}
		s.secrets = append(s.secrets, bytes.TrimSpace(b))
	}
	for _, name := range s.SecretEnvs {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			return fmt.Errorf("secret variable %s is unset", name)
		}
		s.secrets = append(s.secrets, []byte(v))
	}
	return nil
}

// Source kinds: the webhook scheme a source speaks.
const (
	KindContactsync = "contactsync"
	KindStripe      = "stripe"
)

func (s *Source) check() error {
	if !nameRE.MatchString(s.Name) {
		return fmt.Errorf("name must match %s", nameRE)
	}
	switch s.Kind {
	case "":
		s.Kind = KindContactsync
	case KindContactsync, KindStripe:
	default:
		return fmt.Errorf("kind must be %s or %s", KindContactsync, KindStripe)
	}
	if !nameRE.MatchString(s.System) {
		return fmt.Errorf("system must match %s", nameRE)
	}
	if strings.TrimSpace(s.Topic) == "" {
		return errors.New("topic is empty")
	}
	if len(s.secrets) == 0 || len(s.secrets) > maxSecrets {
		return fmt.Errorf("needs one or two secrets (secret_files, secret_envs), has %d", len(s.secrets))
	}
	for _, sec := range s.secrets {
		if len(sec) < minSecretBytes {
			return fmt.Errorf("a secret is shorter than %d bytes", minSecretBytes)
		}
	}
	if s.Origins == nil {
		s.Origins = DefaultOrigins
	}
	s.origins = map[string]bool{}
	for _, o := range s.Origins {
		if !contact.KnownOrigin(contact.Origin(o)) {
			return fmt.Errorf("unknown origin %q", o)
		}
		s.origins[o] = true
	}
	if s.Rate == 0 {
		s.Rate = DefaultRate
	}
	if s.Rate < 0 || math.IsNaN(s.Rate) || math.IsInf(s.Rate, 0) {
		return errors.New("rate must be a positive number of requests per second")
	}
	if s.Burst == 0 {
		s.Burst = max(1, int(math.Ceil(2*s.Rate)))
	}
	if s.Burst < 0 {
		return errors.New("burst must be positive")
	}
	return nil
}

// NewSource returns a checked source with the given secrets, for tests and
// for programs that do not read a sources file.
func NewSource(name, system, topic string, origins []string, rate float64, burst int, secrets ...[]byte) (Source, error) {
	return NewSourceOfKind(KindContactsync, name, system, topic, origins, rate, burst, secrets...)
}

// NewSourceOfKind is NewSource for a source of the given kind.
func NewSourceOfKind(kind, name, system, topic string, origins []string, rate float64, burst int, secrets ...[]byte) (Source, error) {
	s := Source{Name: name, Kind: kind, System: system, Topic: topic, Origins: origins, Rate: rate, Burst: burst, secrets: secrets}
	return s, s.check()
}

// EnvVar documents one environment variable of `contactsync gateway`.
type EnvVar struct{ Name, Default, Help string }

// Env lists the gateway's configuration variables (besides the common
// KAFKA_BROKERS, REDIS_ADDR and their security settings,
// CONTACTSYNC_ADMIN_ADDR, CONTACTSYNC_LOG_LEVEL).
var Env = []EnvVar{
	{"CONTACTSYNC_GATEWAY_ADDR", "127.0.0.1:8090", "listen address of the webhook endpoint (:8443 to face a network)"},
	{"CONTACTSYNC_GATEWAY_SOURCES", "(required)", "YAML/JSON file of the webhook sources (name, kind contactsync|stripe, system, topic, secrets, origins, rate)"},
	{"CONTACTSYNC_GATEWAY_TLS_CERT", "(none)", "PEM certificate chain file; with _TLS_KEY the endpoint serves HTTPS only"},
	{"CONTACTSYNC_GATEWAY_TLS_KEY", "(none)", "PEM private key file of the certificate"},
	{"CONTACTSYNC_GATEWAY_MAX_BODY", "262144", "largest accepted body in bytes (413 above)"},
	{"CONTACTSYNC_GATEWAY_TOLERANCE", "5m", "accepted clock difference of a signed timestamp (older = replay)"},
	{"CONTACTSYNC_GATEWAY_PRODUCE_TIMEOUT", "10s", "longest wait for Kafka to confirm an event before answering 503"},
	{"CONTACTSYNC_GATEWAY_RETRY_AFTER", "30s", "Retry-After sent with a 503 when Kafka is unavailable"},
	{"CONTACTSYNC_GATEWAY_DRAIN_TIMEOUT", "30s", "on shutdown, how long in-flight requests may finish"},
	{"CONTACTSYNC_GATEWAY_DEDUPE_TTL", "0", "remember accepted event ids in Redis this long (0 = off; the router absorbs duplicates anyway)"},
}

// Config is the gateway's process configuration.
type Config struct {
	Addr           string
	SourcesPath    string
	TLSCert        string
	TLSKey         string
	MaxBody        int64
	Tolerance      time.Duration
	ProduceTimeout time.Duration
	RetryAfter     time.Duration
	DrainTimeout   time.Duration
	DedupeTTL      time.Duration
	KafkaBrokers   []string
	RedisAddr      string
	AdminAddr      string
	LogLevel       string
}

// ConfigFromEnv reads the configuration; it reads no file.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	get := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	c := Config{
		Addr:         get("CONTACTSYNC_GATEWAY_ADDR", "127.0.0.1:8090"),
		SourcesPath:  get("CONTACTSYNC_GATEWAY_SOURCES", ""),
		TLSCert:      get("CONTACTSYNC_GATEWAY_TLS_CERT", ""),
		TLSKey:       get("CONTACTSYNC_GATEWAY_TLS_KEY", ""),
		KafkaBrokers: strings.Split(get("KAFKA_BROKERS", "127.0.0.1:9092"), ","),
		RedisAddr:    get("REDIS_ADDR", "127.0.0.1:6379"),
		AdminAddr:    get("CONTACTSYNC_ADMIN_ADDR", "127.0.0.1:9100"),
		LogLevel:     get("CONTACTSYNC_LOG_LEVEL", "info"),
	}
	var errs []error
	if c.SourcesPath == "" {
		errs = append(errs, errors.New("CONTACTSYNC_GATEWAY_SOURCES is required"))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("CONTACTSYNC_GATEWAY_TLS_CERT and _TLS_KEY go together"))
	}
	var err error
	if c.MaxBody, err = strconv.ParseInt(get("CONTACTSYNC_GATEWAY_MAX_BODY", "262144"), 10, 64); err != nil || c.MaxBody <= 0 {
		errs = append(errs, errors.New("CONTACTSYNC_GATEWAY_MAX_BODY must be a positive number of bytes"))
	}
	for _, d := range []struct {
		name, def string
		dst       *time.Duration
		zeroOK    bool
	}{
		{"CONTACTSYNC_GATEWAY_TOLERANCE", "5m", &c.Tolerance, false},
		{"CONTACTSYNC_GATEWAY_PRODUCE_TIMEOUT", "10s", &c.ProduceTimeout, false},
		{"CONTACTSYNC_GATEWAY_RETRY_AFTER", "30s", &c.RetryAfter, false},
		{"CONTACTSYNC_GATEWAY_DRAIN_TIMEOUT", "30s", &c.DrainTimeout, false},
		{"CONTACTSYNC_GATEWAY_DEDUPE_TTL", "0", &c.DedupeTTL, true},
	} {
		v, err := time.ParseDuration(get(d.name, d.def))
		if err != nil || v < 0 || (v == 0 && !d.zeroOK) {
			errs = append(errs, fmt.Errorf("%s must be a positive duration like 30s", d.name))
			continue
		}
		*d.dst = v
	}
	return c, errors.Join(errs...)
}
