package app

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

func TestSecurityFromEnv(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	notPEM := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string // substring; empty = no error
		check   func(t *testing.T, k KafkaSecurity, r RedisSecurity, g RegistrySecurity)
	}{
		{name: "defaults: plaintext, no credentials", check: func(t *testing.T, k KafkaSecurity, r RedisSecurity, g RegistrySecurity) {
			if k.TLS.Enabled || k.SASLMechanism != "" || r.TLS.Enabled || r.Password != "" || r.Cluster || g.Username != "" {
				t.Errorf("got %+v %+v %+v", k, r, g)
			}
		}},
		{name: "SCRAM with the password in a file", env: map[string]string{
			"KAFKA_SASL_MECHANISM": "scram-sha-512", "KAFKA_SASL_USERNAME": "cs", "KAFKA_SASL_PASSWORD_FILE": pwFile,
		}, check: func(t *testing.T, k KafkaSecurity, _ RedisSecurity, _ RegistrySecurity) {
			if k.SASLMechanism != SASLScramSHA512 || k.SASLUser != "cs" || k.SASLPassword != "s3cret" {
				t.Errorf("got %q %q %q", k.SASLMechanism, k.SASLUser, string(k.SASLPassword))
			}
		}},
		{name: "a TLS setting turns TLS on", env: map[string]string{"KAFKA_TLS_SERVER_NAME": "kafka.internal", "REDIS_TLS": "true"},
			check: func(t *testing.T, k KafkaSecurity, r RedisSecurity, _ RegistrySecurity) {
				if !k.TLS.Enabled || k.TLS.ServerName != "kafka.internal" || !r.TLS.Enabled {
					t.Errorf("got %+v %+v", k.TLS, r.TLS)
				}
			}},
		{name: "Redis ACL user and password file", env: map[string]string{"REDIS_USERNAME": "cs", "REDIS_PASSWORD_FILE": pwFile, "REDIS_CLUSTER": "1"},
			check: func(t *testing.T, _ KafkaSecurity, r RedisSecurity, _ RegistrySecurity) {
				if r.Username != "cs" || r.Password != "s3cret" || !r.Cluster {
					t.Errorf("got %+v", r)
				}
			}},
		{name: "registry basic auth", env: map[string]string{"SCHEMA_REGISTRY_USERNAME": "u", "SCHEMA_REGISTRY_PASSWORD": "p"},
			check: func(t *testing.T, _ KafkaSecurity, _ RedisSecurity, g RegistrySecurity) {
				if g.Username != "u" || g.Password != "p" || g.TLS.Enabled {
					t.Errorf("got %+v", g)
				}
			}},
		{name: "password and password file", env: map[string]string{"KAFKA_SASL_MECHANISM": "PLAIN", "KAFKA_SASL_USERNAME": "cs",
			"KAFKA_SASL_PASSWORD": "x", "KAFKA_SASL_PASSWORD_FILE": pwFile}, wantErr: "KAFKA_SASL_PASSWORD: set either it or KAFKA_SASL_PASSWORD_FILE"},
		{name: "missing password file", env: map[string]string{"REDIS_PASSWORD_FILE": filepath.Join(dir, "nope")}, wantErr: "REDIS_PASSWORD_FILE:"},
		{name: "unknown mechanism", env: map[string]string{"KAFKA_SASL_MECHANISM": "GSSAPI", "KAFKA_SASL_USERNAME": "a", "KAFKA_SASL_PASSWORD": "b"},
			wantErr: `"GSSAPI" is not PLAIN`},
		{name: "credentials without a mechanism", env: map[string]string{"KAFKA_SASL_USERNAME": "a", "KAFKA_SASL_PASSWORD": "b"},
			wantErr: "KAFKA_SASL_MECHANISM: required"},
		{name: "mechanism without a password", env: map[string]string{"KAFKA_SASL_MECHANISM": "SCRAM-SHA-256", "KAFKA_SASL_USERNAME": "a"},
			wantErr: "SCRAM-SHA-256 needs"},
		{name: "certificate without key", env: map[string]string{"KAFKA_TLS_CERT_FILE": pwFile}, wantErr: "KAFKA_TLS: a client certificate needs both"},
		{name: "CA file that is not PEM", env: map[string]string{"REDIS_TLS_CA_FILE": notPEM}, wantErr: "no PEM certificate"},
		{name: "bad boolean", env: map[string]string{"KAFKA_TLS": "maybe"}, wantErr: "KAFKA_TLS: strconv.ParseBool"},
		{name: "Redis user without password", env: map[string]string{"REDIS_USERNAME": "cs"}, wantErr: "REDIS_USERNAME: an ACL user needs"},
		{name: "registry user without password", env: map[string]string{"SCHEMA_REGISTRY_USERNAME": "u"}, wantErr: "basic auth needs both"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, r, g, err := securityFromEnv(func(n string) string { return tt.env[n] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, k, r, g)
		})
	}
}

// TestSecretsNeverPrint: a Config in a log line or an error shows no
// password, however it is formatted.
func TestSecretsNeverPrint(t *testing.T) {
	cfg := Config{
		Kafka:    KafkaSecurity{SASLMechanism: SASLPlain, SASLUser: "u", SASLPassword: "kafka-pw"},
		Redis:    RedisSecurity{Password: "redis-pw"},
		Registry: RegistrySecurity{Username: "u", Password: "registry-pw"},
	}
	j, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), string(j)} {
		if strings.Contains(out, "-pw") {
			t.Errorf("a secret is printed: %s", out)
		}
	}
}

// TestRedisClientKind: one address is a single server, several addresses
// or REDIS_CLUSTER=true a Redis Cluster.
func TestRedisClientKind(t *testing.T) {
	for _, tt := range []struct {
		env     map[string]string
		cluster bool
	}{
		{map[string]string{"REDIS_ADDR": "127.0.0.1:1"}, false},
		{map[string]string{"REDIS_ADDR": "127.0.0.1:1, 127.0.0.1:2,127.0.0.1:3"}, true},
		{map[string]string{"REDIS_ADDR": "127.0.0.1:1", "REDIS_CLUSTER": "true"}, true},
	} {
		cfg, err := ConfigFromEnv(func(n string) string { return tt.env[n] })
		if err != nil {
			t.Fatal(err)
		}
		rdb, err := NewRedis(cfg)
		if err != nil {
			t.Fatal(err)
		}
		_, isCluster := rdb.(*redis.ClusterClient)
		if isCluster != tt.cluster {
			t.Errorf("%v: got %T, want cluster %v", tt.env, rdb, tt.cluster)
		}
		_ = rdb.Close()
	}
}
