package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/contactsync/contactsync/pkg/platformclient"
	"github.com/contactsync/contactsync/pkg/stripeclient"
)

func TestApplyConfigPlatform(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "stripe-key")
	if err := os.WriteFile(keyFile, []byte("sk_test_fromfile\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		env     map[string]string
		wantErr string
		check   func(t *testing.T, ac ApplyConfig)
	}{
		{name: "reference by default", env: map[string]string{EnvApplyURL: "http://127.0.0.1:8091"}, check: func(t *testing.T, ac ApplyConfig) {
			p, err := newPlatform(ac)
			if _, ok := p.(*platformclient.Client); !ok || err != nil || ac.Platform != PlatformReference {
				t.Fatalf("%+v: %T %v", ac, p, err)
			}
		}},
		{name: "reference needs its URL", env: map[string]string{}, wantErr: EnvApplyURL + ": required"},
		{name: "stripe with a key file", env: map[string]string{EnvApplyPlatform: "stripe", EnvApplyStripeKey + "_FILE": keyFile}, check: func(t *testing.T, ac ApplyConfig) {
			p, err := newPlatform(ac)
			if _, ok := p.(*stripeclient.Client); !ok || err != nil || ac.URL != stripeclient.DefaultURL || ac.StripeKey != "sk_test_fromfile" {
				t.Fatalf("%+v: %T %v", ac, p, err)
			}
		}},
		{name: "stripe at stripe-mock", env: map[string]string{EnvApplyPlatform: "stripe", EnvApplyStripeKey: "sk_test_x", EnvApplyURL: "http://127.0.0.1:12111"}, check: func(t *testing.T, ac ApplyConfig) {
			if ac.URL != "http://127.0.0.1:12111" {
				t.Fatalf("%+v", ac)
			}
		}},
		{name: "stripe needs a key", env: map[string]string{EnvApplyPlatform: "stripe"}, wantErr: EnvApplyStripeKey + ": required"},
		{name: "stripe key twice", env: map[string]string{EnvApplyPlatform: "stripe", EnvApplyStripeKey: "sk", EnvApplyStripeKey + "_FILE": keyFile}, wantErr: "not both"},
		{name: "unknown platform", env: map[string]string{EnvApplyPlatform: "paypal", EnvApplyURL: "http://x"}, wantErr: EnvApplyPlatform + ": want reference or stripe"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ac, err := ApplyConfigFromEnv(Config{OnlineSystem: "online"}, func(k string) string { return tc.env[k] })
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "sk_test") {
					t.Fatalf("the error shows the key: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, ac)
		})
	}
}
