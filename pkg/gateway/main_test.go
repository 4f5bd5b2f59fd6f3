package gateway

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestMainHelpHasNoSideEffects(t *testing.T) {
	var out, errOut bytes.Buffer
	getenv := func(string) string { t.Fatal("--help read the environment"); return "" }
	if code := Main(context.Background(), []string{"--help"}, getenv, &out, &errOut, nil); code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, e := range Env {
		if !strings.Contains(out.String(), e.Name) {
			t.Fatalf("--help does not list %s", e.Name)
		}
	}
	if code := Main(context.Background(), nil, func(string) string { return "" }, &out, &errOut, nil); code != 1 || !strings.Contains(errOut.String(), "CONTACTSYNC_GATEWAY_SOURCES is required") {
		t.Fatalf("without sources: exit %d, %q", code, errOut.String())
	}
}
