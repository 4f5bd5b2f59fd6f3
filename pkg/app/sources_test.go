package app

import (
	"reflect"
	"strings"
	"testing"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/pipeline"
)

func TestOnlineSourcesFromEnv(t *testing.T) {
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	cfg, err := ConfigFromEnv(env(map[string]string{"CONTACTSYNC_TOPIC_PREFIX": "x."}))
	if err != nil {
		t.Fatal(err)
	}
	// The default: the online events topic is the online system's, and
	// trusted for no privileged origin.
	if want := []OnlineSource{{Topic: "x.online.events", System: "online"}}; !reflect.DeepEqual(cfg.OnlineSources, want) {
		t.Errorf("default sources %+v, want %+v", cfg.OnlineSources, want)
	}
	if cfg.KickOutMaxBytes != pipeline.DefaultKickOutMaxBytes {
		t.Errorf("default kick-out cap %d, want %d", cfg.KickOutMaxBytes, pipeline.DefaultKickOutMaxBytes)
	}

	cfg, err = ConfigFromEnv(env(map[string]string{
		"CONTACTSYNC_ONLINE_SOURCES":      " web.events = online ; crm.events=ecrm:sync,admin; ",
		"CONTACTSYNC_KICKOUT_MAX_BYTES":   "65536",
		"CONTACTSYNC_ONLINE_SYSTEM":       "ignored-when-sources-are-set",
		"CONTACTSYNC_TOPIC_ONLINE_EVENTS": "also-ignored",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := []OnlineSource{
		{Topic: "web.events", System: "online"},
		{Topic: "crm.events", System: "ecrm", TrustedOrigins: []contact.Origin{contact.OriginSync, contact.OriginAdmin}},
	}
	if !reflect.DeepEqual(cfg.OnlineSources, want) || cfg.KickOutMaxBytes != 65536 {
		t.Errorf("sources %+v, cap %d; want %+v, 65536", cfg.OnlineSources, cfg.KickOutMaxBytes, want)
	}

	for _, tc := range []struct{ sources, cap, msg string }{
		{"web.events", "", "topic=system"},
		{"=online", "", "topic"},
		{"web.events=", "", "system"},
		{"web.events=on\tline", "", "system"},
		{"web.events=online:robot", "", "origin"},
		{"web.events=online;web.events=shop", "", "twice"},
		{"x.offline.cdc=online", "", "offline"},
		{"x.replay=online", "", "replay"},
		{"", "100", "CONTACTSYNC_KICKOUT_MAX_BYTES"},
		{"", "10000000", "CONTACTSYNC_KICKOUT_MAX_BYTES"},
	} {
		_, err := ConfigFromEnv(env(map[string]string{"CONTACTSYNC_TOPIC_PREFIX": "x.",
			"CONTACTSYNC_ONLINE_SOURCES": tc.sources, "CONTACTSYNC_KICKOUT_MAX_BYTES": tc.cap}))
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("sources %q, cap %q: error %v, want one mentioning %q", tc.sources, tc.cap, err, tc.msg)
		}
	}
}
