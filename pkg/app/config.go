// Package app wires contactsync's stages from configuration: it is the one
// composition root shared by the per-stage services and the all-in-one CLI.
package app

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/contactsync/contactsync/pkg/dashboard"
	"github.com/contactsync/contactsync/pkg/digest/notify"
	"github.com/contactsync/contactsync/pkg/failpoint"
	"github.com/contactsync/contactsync/pkg/pipeline"
)

// Config is the process configuration, read from the environment.
type Config struct {
	KafkaBrokers      []string
	RedisAddr         string
	SchemaRegistryURL string // empty: registry-less, embedded schema ids
	RulesFile         string // empty: the embedded default rules
	Topics            pipeline.Topics
	Partitions        int32
	GroupPrefix       string
	Instance          string // stable per replica; part of transactional ids
	AdminAddr         string
	LogLevel          string
	DefaultRegion     string // phone numbers without a country code
	OfflineSystem     string
	OnlineSystem      string
	RedisPrefix       string
	KickOutRetention  time.Duration
	MaxReplays        int
	SessionTimeout    time.Duration
	Failpoints        *failpoint.Set // fault tests only
	Dashboard         dashboard.Config
	MatchModel        string // empty: the built-in model
	Profile           bool   // serve /debug/pprof on the admin address
	MaxBatchRecords   int    // ceiling of a stage's adaptive batch (stream.Config)

	// TLS and credentials of the clients (clients.go).
	Kafka    KafkaSecurity
	Redis    RedisSecurity
	Registry RegistrySecurity

	// Hostile input. OnlineSources bind each online input topic to one
	// system and the privileged origins it may claim (README "Trust
	// model"); KickOutMaxBytes caps the raw value kept in a kick-out.
	OnlineSources   []OnlineSource
	KickOutMaxBytes int

	// Audit is how long the broker keeps the audit topic and whether it
	// compacts it (`contactsync topics` creates it so).
	Audit pipeline.TopicPolicy
}

// Audit topic settings.
const (
	EnvAuditRetention = "CONTACTSYNC_AUDIT_RETENTION"
	EnvAuditCleanup   = "CONTACTSYNC_AUDIT_CLEANUP_POLICY"
)

// EnvProfile turns on the admin server's /debug/pprof.
const EnvProfile = "CONTACTSYNC_PPROF"

// Env documents every variable ConfigFromEnv reads, with its default, and
// those of the commands that read more (deliver, apply-offline, apply,
// digest): `contactsync env` prints it.
var Env = []struct{ Name, Default, Help string }{
	{"KAFKA_BROKERS", "127.0.0.1:9092", "comma-separated seed brokers"},
	{"REDIS_ADDR", "127.0.0.1:6379", "Redis address (host:port); several, comma-separated = a Redis Cluster"},
	{"SCHEMA_REGISTRY_URL", "", "Confluent-compatible schema registry; empty = embedded schema ids"},
	// Client security (clients.go). Every *_PASSWORD and *_USERNAME may
	// instead be read from the file named by the same variable plus _FILE.
	{EnvKafkaTLS, "false", "dial the brokers over TLS (implied by any KAFKA_TLS_* setting)"},
	{EnvKafkaTLSCAFile, "", "PEM CA certificates for the brokers; empty = the system's roots"},
	{EnvKafkaTLSCertFile, "", "PEM client certificate, for brokers that require one"},
	{EnvKafkaTLSKeyFile, "", "PEM private key of the client certificate"},
	{EnvKafkaTLSServerName, "", "name to verify in the brokers' certificates; empty = the host dialled"},
	{EnvKafkaSASLMechanism, "", "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; empty = no SASL"},
	{EnvKafkaSASLUsername, "", "SASL user (or " + EnvKafkaSASLUsername + fileSuffix + ")"},
	{EnvKafkaSASLPassword, "", "SASL password (or " + EnvKafkaSASLPassword + fileSuffix + ": a file holding it)"},
	{EnvRedisCluster, "false", "speak Redis Cluster through a single REDIS_ADDR seed"},
	{EnvRedisUsername, "", "Redis ACL user; empty = the default user"},
	{EnvRedisPassword, "", "Redis password (or " + EnvRedisPassword + fileSuffix + ")"},
	{EnvRedisTLS, "false", "connect to Redis over TLS (implied by any REDIS_TLS_* setting)"},
	{EnvRedisTLSCAFile, "", "PEM CA certificates for Redis; empty = the system's roots"},
	{EnvRedisTLSCertFile, "", "PEM client certificate, for a Redis with tls-auth-clients"},
	{EnvRedisTLSKeyFile, "", "PEM private key of the client certificate"},
	{EnvRedisTLSServerName, "", "name to verify in Redis's certificate; empty = the host dialled"},
	{EnvRegistryUsername, "", "schema registry basic-auth user (or " + EnvRegistryUsername + fileSuffix + ")"},
	{EnvRegistryPassword, "", "schema registry basic-auth password (or " + EnvRegistryPassword + fileSuffix + ")"},
	{EnvRegistryTLSCAFile, "", "PEM CA certificates for an https registry; empty = the system's roots"},
	{EnvRegistryTLSCertFile, "", "PEM client certificate for the registry"},
	{EnvRegistryTLSKeyFile, "", "PEM private key of the registry client certificate"},
	{"CONTACTSYNC_RULES", "", "rules YAML file (field rules, custom fields, column/key mapping); empty = built-in default rules"},
	{"CONTACTSYNC_TOPIC_PREFIX", "contactsync.", "prefix of every default topic name"},
	{"CONTACTSYNC_TOPIC_OFFLINE_CDC", "<prefix>offline.cdc", "Debezium topic of the offline system"},
	{"CONTACTSYNC_TOPIC_ONLINE_EVENTS", "<prefix>online.events", "online webhook events topic"},
	{"CONTACTSYNC_PARTITIONS", "3", "partitions of topics created by `contactsync topics`"},
	{"CONTACTSYNC_GROUP_PREFIX", "contactsync", "consumer group prefix; group = <prefix>-<stage>"},
	{"CONTACTSYNC_INSTANCE", "<hostname>", "stable replica name; transactional id = <group>-<instance>"},
	{"CONTACTSYNC_ADMIN_ADDR", "127.0.0.1:9100", "admin HTTP (/metrics /healthz /readyz)"},
	{"CONTACTSYNC_LOG_LEVEL", "info", "debug | info | warn | error"},
	{"CONTACTSYNC_DEFAULT_REGION", "US", "ISO region for phone numbers without a country code"},
	{"CONTACTSYNC_OFFLINE_SYSTEM", "offline", "name of the offline system of record"},
	{"CONTACTSYNC_ONLINE_SYSTEM", "online", "name of the online system that sends webhooks"},
	{"CONTACTSYNC_REDIS_PREFIX", "cs", "prefix of every Redis key"},
	{"CONTACTSYNC_KICKOUT_RETENTION", "720h", "how long kick-outs and review items are kept"},
	{"CONTACTSYNC_MAX_REPLAYS", "10", "replays after which a record stays in the queue"},
	{"CONTACTSYNC_SESSION_TIMEOUT", "10s", "consumer group session timeout"},
	{EnvOnlineSources, "<online events topic>=<online system>", "online sources: topic=system[:origin,...];... (origins: the privileged ones, admin and sync, the source may claim); see README \"Trust model\""},
	{EnvKickOutMaxBytes, "262144", "raw bytes of a bad record kept in its kick-out (the rest is cut; its length and SHA-256 are kept)"},
	{EnvAuditRetention, "2160h", "how long the audit topic (`contactsync history`) keeps decisions (90 days; -1 = forever); set when `contactsync topics` creates it"},
	{EnvAuditCleanup, "delete", "cleanup.policy of the audit topic: delete, or compact,delete to keep at least each person's last event (compact alone keeps only that)"},
	{"CONTACTSYNC_MAX_BATCH_RECORDS", "10000", "most records a stage takes into one transaction while it has a backlog (it starts at 500 and doubles while polls come back full)"},
	{EnvProfile, "false", "serve runtime profiles (/debug/pprof) on the admin address"},
	{"CONTACTSYNC_MATCH_MODEL", "", "matching model file (m/u weights, from `contactsync match-eval --save-model`); empty = built-in"},
	{dashboard.EnvAddr, dashboard.DefaultAddr, "kick-out dashboard and API (served with the collector stage)"},
	{dashboard.EnvUsers, "", "dashboard logins: name:bcrypt-hash,... (`contactsync kickouts hash-password`)"},
	{dashboard.EnvTokenSHA256, "", "hex SHA-256 of a bearer token for scripts"},
	{dashboard.EnvTokenName, "api-token", "who the token is in the audit log"},
	{dashboard.EnvLoginFailuresPerClient, "10", "failed dashboard logins a minute from one client address before 429"},
	{dashboard.EnvLoginFailuresGlobal, "300", "failed dashboard logins a minute from all clients before 429"},
	{EnvDeliverSystem, "<offline system>", "`contactsync deliver`: the system whose sink topic it loads"},
	{EnvDeliverDSN, "", "`contactsync deliver`: PostgreSQL DSN of the staging database (required; never logged)"},
	{EnvDeliverTable, "contactsync_inbox", "`contactsync deliver`: staging table, created if missing"},
	{EnvDeliverWindows, "always", "`contactsync deliver`: delivery windows, e.g. `Mon-Fri 20:00-06:00; Sat,Sun 00:00-24:00`"},
	{EnvDeliverTimezone, "UTC", "`contactsync deliver`: IANA time zone of the windows, e.g. Europe/London"},
	{EnvDeliverMaxWindowRecords, "100000", "`contactsync deliver` and `apply-offline`: the largest backlog a window opens with that is applied as one batch (each person's changes coalesced); a larger one goes in batches of this size"},
	{EnvApplyMode, "table (apply-offline), staging (deliver)", "`contactsync apply-offline`: table | staging | files"},
	{EnvApplySchema, "", "`contactsync apply-offline` table mode: schema of the contacts and gifts tables; empty = the DSN's search path"},
	{EnvApplyDir, "", "`contactsync apply-offline` files mode: directory of the CSV import files and manifests (required there)"},
	{EnvApplySystem, "<online system>", "`contactsync apply`: the online system whose sink topic it writes to the platform"},
	{EnvApplyPlatform, "reference", "`contactsync apply`: the platform's API: reference (docs/platform-api.md) | stripe"},
	{EnvApplyURL, "", "`contactsync apply`: the platform's API base URL, e.g. http://127.0.0.1:8091 (required for reference; stripe: https://api.stripe.com)"},
	{EnvApplyStripeKey, "", "`contactsync apply` with stripe: API key that may write customers (required; or " + EnvApplyStripeKey + fileSuffix + ": a file holding it; never logged)"},
	{EnvApplyConcurrency, "8", "`contactsync apply`: persons written at once (each person's writes stay in order)"},
	// The daily digest (notify.ConfigFromEnv); nothing set = it has nowhere to go.
	{notify.EnvWebhookURL, "", "`contactsync digest`: Slack-compatible incoming webhook URL (a secret: never logged)"},
	{notify.EnvSMTPAddr, "", "`contactsync digest`: SMTP relay host:port (STARTTLS when offered); needs _FROM and _TO"},
	{notify.EnvSMTPFrom, "", "`contactsync digest`: sender address of the mail"},
	{notify.EnvSMTPTo, "", "`contactsync digest`: recipients, comma-separated"},
	{notify.EnvSMTPUsername, "", "`contactsync digest`: SMTP login (PLAIN, only over TLS); empty = none"},
	{notify.EnvSMTPPassword, "", "`contactsync digest`: SMTP password (or " + notify.EnvSMTPPasswordFile + ": a file holding it)"},
	{notify.EnvDashboardURL, "", "`contactsync digest`: the dashboard's address, for the links; empty = no links"},
	{failpoint.EnvVar, "", "fault tests only: name=probability,... crash points (e.g. router.before-commit=0.05)"},
}

// withDefaults returns a lookup that trims a variable and falls back to def
// when it is unset or blank.
func withDefaults(getenv func(string) string) func(name, def string) string {
	return func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
}

// ConfigFromEnv reads the configuration; all problems are reported at once.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	get := withDefaults(getenv)
	var errs []error
	duration := func(name, def string) time.Duration {
		d, err := time.ParseDuration(get(name, def))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
		return d
	}
	integer := func(name, def string) int {
		n, err := strconv.Atoi(get(name, def))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
		return n
	}
	host, _ := os.Hostname()
	prefix := get("CONTACTSYNC_TOPIC_PREFIX", "contactsync.")
	topics := pipeline.Topics{
		OfflineCDC:   get("CONTACTSYNC_TOPIC_OFFLINE_CDC", prefix+"offline.cdc"),
		OnlineEvents: get("CONTACTSYNC_TOPIC_ONLINE_EVENTS", prefix+"online.events"),
		Replay:       prefix + "replay",
		Changes:      prefix + "changes",
		Matched:      prefix + "matched",
		KickOuts:     prefix + "kickouts",
		Review:       prefix + "review",
		Audit:        prefix + "audit",
		SinkPrefix:   prefix + "sink.",
	}
	cfg := Config{
		KafkaBrokers:      strings.Split(get("KAFKA_BROKERS", "127.0.0.1:9092"), ","),
		RedisAddr:         get("REDIS_ADDR", "127.0.0.1:6379"),
		SchemaRegistryURL: get("SCHEMA_REGISTRY_URL", ""),
		RulesFile:         get("CONTACTSYNC_RULES", ""),
		Topics:            topics,
		Partitions:        int32(integer("CONTACTSYNC_PARTITIONS", "3")),
		GroupPrefix:       get("CONTACTSYNC_GROUP_PREFIX", "contactsync"),
		Instance:          get("CONTACTSYNC_INSTANCE", host),
		AdminAddr:         get("CONTACTSYNC_ADMIN_ADDR", "127.0.0.1:9100"),
		LogLevel:          get("CONTACTSYNC_LOG_LEVEL", "info"),
		DefaultRegion:     get("CONTACTSYNC_DEFAULT_REGION", "US"),
		OfflineSystem:     get("CONTACTSYNC_OFFLINE_SYSTEM", "offline"),
		OnlineSystem:      get("CONTACTSYNC_ONLINE_SYSTEM", "online"),
		RedisPrefix:       get("CONTACTSYNC_REDIS_PREFIX", "cs"),
		KickOutRetention:  duration("CONTACTSYNC_KICKOUT_RETENTION", "720h"),
		MaxReplays:        integer("CONTACTSYNC_MAX_REPLAYS", "10"),
		SessionTimeout:    duration("CONTACTSYNC_SESSION_TIMEOUT", "10s"),
	}
	fp, err := failpoint.Parse(getenv(failpoint.EnvVar))
	if err != nil {
		errs = append(errs, err)
	}
	cfg.Failpoints = fp
	if cfg.Dashboard, err = dashboard.ConfigFromEnv(getenv); err != nil {
		errs = append(errs, err)
	}
	cfg.MatchModel = get("CONTACTSYNC_MATCH_MODEL", "")
	cfg.MaxBatchRecords = integer("CONTACTSYNC_MAX_BATCH_RECORDS", "10000")
	if cfg.Profile, err = strconv.ParseBool(get(EnvProfile, "false")); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", EnvProfile, err))
	}
	if cfg.Kafka, cfg.Redis, cfg.Registry, err = securityFromEnv(getenv); err != nil {
		errs = append(errs, err)
	}
	if cfg.OnlineSources, err = parseOnlineSources(getenv(EnvOnlineSources), cfg.Topics, cfg.OnlineSystem); err != nil {
		errs = append(errs, err)
	}
	cfg.KickOutMaxBytes = integer(EnvKickOutMaxBytes, strconv.Itoa(pipeline.DefaultKickOutMaxBytes))
	if cfg.KickOutMaxBytes < 1024 || cfg.KickOutMaxBytes > pipeline.MaxKickOutMaxBytes {
		errs = append(errs, fmt.Errorf("%s: must be between 1024 and %d", EnvKickOutMaxBytes, pipeline.MaxKickOutMaxBytes))
	}
	cfg.Audit = pipeline.TopicPolicy{Cleanup: get(EnvAuditCleanup, "delete")}
	if get(EnvAuditRetention, "2160h") == "-1" {
		cfg.Audit.Retention = -1
	} else if cfg.Audit.Retention = duration(EnvAuditRetention, "2160h"); cfg.Audit.Retention <= 0 {
		errs = append(errs, fmt.Errorf("%s: must be positive, or -1 for forever", EnvAuditRetention))
	}
	switch cfg.Audit.Cleanup {
	case "delete", "compact", "compact,delete", "delete,compact":
	default:
		errs = append(errs, fmt.Errorf("%s: %q is not delete, compact or compact,delete", EnvAuditCleanup, cfg.Audit.Cleanup))
	}
	if cfg.Instance == "" {
		errs = append(errs, errors.New("CONTACTSYNC_INSTANCE: empty and no hostname"))
	}
	if cfg.Partitions < 1 {
		errs = append(errs, errors.New("CONTACTSYNC_PARTITIONS: must be at least 1"))
	}
	return cfg, errors.Join(errs...)
}
