package gateway

import (
	"io/fs"
	"strings"
	"testing"
)

func TestParseSources(t *testing.T) {
	files := map[string]string{
		"/s/a":     "whsec_aaaaaaaaaaaaaaaaaaaaaaaa\n",
		"/s/b":     "whsec_bbbbbbbbbbbbbbbbbbbbbbbb",
		"/s/short": "tooshort",
	}
	readFile := func(p string) ([]byte, error) {
		if v, ok := files[p]; ok {
			return []byte(v), nil
		}
		return nil, fs.ErrNotExist
	}
	env := map[string]string{"PLATFORM_SECRET": "whsec_cccccccccccccccccccccccc"}
	getenv := func(k string) string { return env[k] }
	for _, tc := range []struct {
		name, yaml, wantErr string
		check               func(t *testing.T, s []Source)
	}{
		{name: "defaults", yaml: `
sources:
  - name: platform
    system: online
    topic: contactsync.online.events
    secret_files: [/s/a]
`, check: func(t *testing.T, s []Source) {
			if s[0].Rate != DefaultRate || s[0].Burst != 100 || !s[0].origins["self_service"] || s[0].origins["sync"] || s[0].origins["admin"] {
				t.Fatalf("defaults: %+v", s[0])
			}
			if string(s[0].secrets[0]) != "whsec_aaaaaaaaaaaaaaaaaaaaaaaa" {
				t.Fatal("secret file not trimmed")
			}
		}},
		{name: "rotation from file and env, JSON", yaml: `{"sources": [{"name": "platform", "system": "online", "topic": "t",
  "secret_files": ["/s/b"], "secret_envs": ["PLATFORM_SECRET"], "origins": ["sync"], "rate": 5, "burst": 1}]}`,
			check: func(t *testing.T, s []Source) {
				if len(s[0].secrets) != 2 || !s[0].origins["sync"] || s[0].origins["api"] || s[0].Burst != 1 {
					t.Fatalf("%+v", s[0])
				}
			}},
		{name: "kind stripe", yaml: "sources:\n  - {name: stripe, kind: stripe, system: online, topic: t, secret_files: [/s/a, /s/b], origins: [api, sync]}\n",
			check: func(t *testing.T, s []Source) {
				if s[0].Kind != KindStripe || len(s[0].secrets) != 2 {
					t.Fatalf("%+v", s[0])
				}
			}},
		{name: "kind defaults to contactsync", yaml: "sources:\n  - {name: p, system: online, topic: t, secret_files: [/s/a]}\n",
			check: func(t *testing.T, s []Source) {
				if s[0].Kind != KindContactsync {
					t.Fatalf("kind %q", s[0].Kind)
				}
			}},
		{name: "unknown kind", yaml: "sources:\n  - {name: p, kind: paypal, system: online, topic: t, secret_files: [/s/a]}\n", wantErr: "kind must be"},
		{name: "no sources", yaml: "sources: []", wantErr: "no sources"},
		{name: "unknown key", yaml: "sources:\n  - name: p\n    system: online\n    topic: t\n    secret: inline\n", wantErr: "field secret not found"},
		{name: "no secret", yaml: "sources:\n  - name: p\n    system: online\n    topic: t\n", wantErr: "one or two secrets"},
		{name: "three secrets", yaml: "sources:\n  - {name: p, system: online, topic: t, secret_files: [/s/a, /s/b], secret_envs: [PLATFORM_SECRET]}\n", wantErr: "one or two secrets"},
		{name: "short secret", yaml: "sources:\n  - {name: p, system: online, topic: t, secret_files: [/s/short]}\n", wantErr: "shorter than 16"},
		{name: "missing secret file", yaml: "sources:\n  - {name: p, system: online, topic: t, secret_files: [/s/none]}\n", wantErr: "secret file"},
		{name: "unset secret variable", yaml: "sources:\n  - {name: p, system: online, topic: t, secret_envs: [NOPE]}\n", wantErr: "NOPE is unset"},
		{name: "bad name", yaml: "sources:\n  - {name: 'a/b', system: online, topic: t, secret_files: [/s/a]}\n", wantErr: "name must match"},
		{name: "no system", yaml: "sources:\n  - {name: p, topic: t, secret_files: [/s/a]}\n", wantErr: "system must match"},
		{name: "no topic", yaml: "sources:\n  - {name: p, system: online, secret_files: [/s/a]}\n", wantErr: "topic is empty"},
		{name: "unknown origin", yaml: "sources:\n  - {name: p, system: online, topic: t, secret_files: [/s/a], origins: [root]}\n", wantErr: "unknown origin"},
		{name: "negative rate", yaml: "sources:\n  - {name: p, system: online, topic: t, secret_files: [/s/a], rate: -1}\n", wantErr: "rate must be"},
		{name: "duplicate name", yaml: "sources:\n  - {name: p, system: online, topic: t, secret_files: [/s/a]}\n  - {name: p, system: online, topic: t, secret_files: [/s/b]}\n", wantErr: "used twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ParseSources([]byte(tc.yaml), readFile, getenv)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				if err != nil && strings.Contains(err.Error(), "whsec_") {
					t.Fatalf("error quotes a secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, s)
		})
	}
}

func TestConfigFromEnv(t *testing.T) {
	env := map[string]string{"CONTACTSYNC_GATEWAY_SOURCES": "/etc/sources.yaml"}
	c, err := ConfigFromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.Tolerance.Minutes() != 5 || c.MaxBody != 256<<10 || c.DedupeTTL != 0 || c.Addr != "127.0.0.1:8090" {
		t.Fatalf("defaults: %+v", c)
	}
	env = map[string]string{"CONTACTSYNC_GATEWAY_TLS_CERT": "c.pem", "CONTACTSYNC_GATEWAY_TOLERANCE": "0", "CONTACTSYNC_GATEWAY_MAX_BODY": "-1"}
	_, err = ConfigFromEnv(func(k string) string { return env[k] })
	for _, want := range []string{"SOURCES is required", "go together", "TOLERANCE", "MAX_BODY"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("err %v, want it to mention %s", err, want)
		}
	}
}
