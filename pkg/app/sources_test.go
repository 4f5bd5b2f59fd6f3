package app

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/decode"
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

// An online event is judged as the source it arrived from; a replay as the
// source its first attempt arrived from.
func TestOnlineDecoderTrustsTheTopic(t *testing.T) {
	cfg, err := ConfigFromEnv(func(k string) string {
		return map[string]string{"CONTACTSYNC_TOPIC_PREFIX": "x.", EnvOnlineSources: "web=online;crm=ecrm:sync"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	dec, err := newOnlineDecoder(cfg, contact.DefaultMapping().Online, contact.BuiltIn())
	if err != nil {
		t.Fatal(err)
	}
	event := func(system, origin string) []byte {
		return []byte(`{"event_id":"e","type":"contact.updated","system":"` + system + `","origin":"` + origin +
			`","occurred_at":"2026-11-02T09:00:00Z","contact":{"id":"w"}}`)
	}
	replay := func(source string) []kgo.RecordHeader {
		return []kgo.RecordHeader{{Key: pipeline.HeaderFormat, Value: []byte(pipeline.FormatOnline)},
			{Key: pipeline.HeaderSourceTopic, Value: []byte(source)}}
	}
	for _, tc := range []struct {
		name   string
		rec    *kgo.Record
		system string // "" when rejected
		reason string
	}{
		{"web event", &kgo.Record{Topic: "web", Value: event("online", "api")}, "online", ""},
		{"crm event, no system named", &kgo.Record{Topic: "crm", Value: event("", "sync")}, "ecrm", ""},
		{"web event claiming the crm", &kgo.Record{Topic: "web", Value: event("ecrm", "api")}, "", decode.ReasonSystem},
		{"web event claiming sync", &kgo.Record{Topic: "web", Value: event("online", "sync")}, "", decode.ReasonOrigin},
		{"crm event claiming admin", &kgo.Record{Topic: "crm", Value: event("ecrm", "admin")}, "", decode.ReasonOrigin},
		{"replay of a crm event", &kgo.Record{Topic: "x.replay", Value: event("ecrm", "sync"), Headers: replay("crm")}, "ecrm", ""},
		{"replay of a web event claiming sync", &kgo.Record{Topic: "x.replay", Value: event("online", "sync"), Headers: replay("web")}, "", decode.ReasonOrigin},
		{"replay of no known source", &kgo.Record{Topic: "x.replay", Value: event("online", "api"), Headers: replay("x.online.events")}, "", decode.ReasonSystem},
		{"replay without lineage", &kgo.Record{Topic: "x.replay", Value: event("online", "api")}, "", decode.ReasonSystem},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := dec(tc.rec)
			var de *decode.Error
			switch {
			case tc.reason == "" && err != nil:
				t.Fatalf("rejected: %v", err)
			case tc.reason == "" && got[0].SourceSystem != tc.system:
				t.Fatalf("system %q, want %q", got[0].SourceSystem, tc.system)
			case tc.reason != "" && (!errors.As(err, &de) || de.Reason != tc.reason):
				t.Fatalf("error %v, want reason %s", err, tc.reason)
			}
		})
	}
}

func TestIngestRefusesInputSystemsNotInTheRules(t *testing.T) {
	cfg, err := ConfigFromEnv(func(k string) string {
		return map[string]string{EnvOnlineSources: "web=online;shop=shop"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	codec, err := newCodec(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newIngest(cfg, pipeline.Stage{}, codec, nil, []string{"offline", "online"}); err == nil || !strings.Contains(err.Error(), `"shop"`) {
		t.Fatalf("error %v, want one naming shop", err)
	}
	if _, err := newIngest(cfg, pipeline.Stage{}, codec, nil, []string{"offline", "online", "shop"}); err != nil {
		t.Fatal(err)
	}
}
