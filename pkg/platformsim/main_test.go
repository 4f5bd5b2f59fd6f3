package platformsim

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestMainHelpHasNoSideEffects(t *testing.T) {
	var out, errOut bytes.Buffer
	getenv := func(string) string { t.Fatal("--help read the environment"); return "" }
	if code := Main(context.Background(), []string{"--help"}, getenv, &out, &errOut); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if !strings.Contains(out.String(), "CONTACTSYNC_PLATFORM_GATEWAY_URL") {
		t.Fatalf("--help: %s", out.String())
	}
	env := map[string]string{"CONTACTSYNC_PLATFORM_GATEWAY_URL": "http://127.0.0.1:1/webhooks/p"}
	if code := Main(context.Background(), nil, func(k string) string { return env[k] }, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "needs a webhook secret") {
		t.Fatalf("gateway URL without secret: exit %d, %q", code, errOut.String())
	}
}
