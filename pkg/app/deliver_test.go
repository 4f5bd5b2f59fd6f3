package app

import (
	"strings"
	"testing"
	"time"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/offlineapply"
	"github.com/contactsync/contactsync/pkg/rules"
)

func TestDeliverConfigFromEnv(t *testing.T) {
	base := Config{OfflineSystem: "offline"}
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }

	dc, err := DeliverConfigFromEnv(base, env(map[string]string{
		EnvDeliverDSN:      "postgres://sync:s3cret@db:5432/donors",
		EnvDeliverWindows:  "Mon-Fri 20:00-06:00",
		EnvDeliverTimezone: "Europe/London",
	}), ModeStaging)
	if err != nil {
		t.Fatal(err)
	}
	if dc.System != "offline" || dc.Table != "contactsync_inbox" {
		t.Errorf("defaults: system %q table %q", dc.System, dc.Table)
	}
	monday9pmLondon := time.Date(2026, 11, 23, 21, 0, 0, 0, time.UTC) // GMT in November
	if !dc.Schedule.Open(monday9pmLondon) || dc.Schedule.Open(monday9pmLondon.Add(-2*time.Hour)) {
		t.Errorf("schedule %v: wrong open/closed on Monday evening", dc.Schedule)
	}

	_, err = DeliverConfigFromEnv(base, env(map[string]string{
		EnvDeliverWindows:  "Mon-Fri 20:00-30:00",
		EnvDeliverTimezone: "Mars/Olympus",
	}), ModeStaging)
	for _, want := range []string{EnvDeliverDSN + ": required", EnvDeliverTimezone, EnvDeliverWindows + `: delivery window 1`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
}

func TestDeliverMaxWindowRecordsFromEnv(t *testing.T) {
	base := Config{OfflineSystem: "offline"}
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	dsn := "postgres://db/donors"
	for _, tc := range []struct {
		value, wantErr string
		want           int
	}{
		{"", "", 100_000},
		{"5000", "", 5000},
		{"0", EnvDeliverMaxWindowRecords + `: "0": want a whole number of records, at least 1`, 0},
		{"lots", EnvDeliverMaxWindowRecords + `: "lots": want a whole number of records, at least 1`, 0},
	} {
		dc, err := DeliverConfigFromEnv(base, env(map[string]string{EnvDeliverDSN: dsn, EnvDeliverMaxWindowRecords: tc.value}), ModeTable)
		switch {
		case tc.wantErr == "" && (err != nil || dc.MaxWindowRecords != tc.want):
			t.Errorf("%q: %d records, %v; want %d", tc.value, dc.MaxWindowRecords, err, tc.want)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%q: error %v, want %q", tc.value, err, tc.wantErr)
		}
	}
}

func TestApplyModeFromEnv(t *testing.T) {
	base := Config{OfflineSystem: "offline"}
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	dc, err := DeliverConfigFromEnv(base, env(map[string]string{EnvDeliverDSN: "postgres://db/donors"}), ModeTable)
	if err != nil || dc.Mode != ModeTable {
		t.Errorf("default table mode: %+v %v", dc.Mode, err)
	}
	dc, err = DeliverConfigFromEnv(base, env(map[string]string{EnvApplyMode: "files", EnvApplyDir: "/var/import"}), ModeTable)
	if err != nil || dc.Mode != ModeFiles || dc.Dir != "/var/import" {
		t.Errorf("files mode needs no DSN: %+v %v", dc, err)
	}
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{EnvApplyMode: "files"}, EnvApplyDir + ": required"},
		{map[string]string{EnvApplyMode: "table"}, EnvDeliverDSN + ": required"},
		{map[string]string{EnvApplyMode: "ftp"}, EnvApplyMode + `="ftp"`},
	} {
		if _, err := DeliverConfigFromEnv(base, env(tc.env), ModeStaging); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v lacks %q", tc.env, err, tc.want)
		}
	}
}

// The default rules give the offline system authority over names,
// addresses and phones (its edit made since the sync decided stands), keep
// opt-outs most restrictive, and send an offline edit of the email (which
// only online may change) to a person.
func TestOfflineFieldRulesOfTheDefaultRules(t *testing.T) {
	fr := offlineFieldRules(rules.Default(), "offline")
	for f, want := range map[contact.Field]offlineapply.Authority{
		contact.GivenName: offlineapply.OfflineWins, contact.Locality: offlineapply.OfflineWins,
		contact.Phone: offlineapply.OfflineWins, contact.DoNotEmail: offlineapply.MostRestrictive,
		contact.Email: offlineapply.AskPerson,
	} {
		if fr[f] != want {
			t.Errorf("%s: authority %d, want %d", f, fr[f], want)
		}
	}
}
