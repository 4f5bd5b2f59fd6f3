package app

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/contactsync/contactsync/pkg/baseline"
	"github.com/contactsync/contactsync/pkg/internal/testenv"
)

// TestBaselineKafkaSourcesGiveTheCSVReport reads both sides from their
// input topics on the real broker (Debezium change events offline, webhook
// events online, two partitions each) and checks that the report is the
// one of CSV exports of the same records: each key's latest value counts,
// a deleted record (a delete event and its tombstone) and an aborted
// transaction's records do not, and what was produced after the source
// was opened is not read.
func TestBaselineKafkaSourcesGiveTheCSVReport(t *testing.T) {
	brokers := testenv.RealKafka(t)
	name := testenv.Unique("baselinekafka")
	env := map[string]string{"KAFKA_BROKERS": strings.Join(brokers, ","), "CONTACTSYNC_TOPIC_PREFIX": name + "."}
	cfg, err := ConfigFromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	ctx := testenv.Context(t, 3*time.Minute)
	admCl, err := KafkaClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	topics := []string{cfg.Topics.OfflineCDC, cfg.Topics.OnlineEvents}
	if _, err := adm.CreateTopics(ctx, 2, 1, nil, topics...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = adm.DeleteTopics(context.Background(), topics...) })

	var offCSV, onCSV bytes.Buffer
	if _, err := baseline.Generate(60, &offCSV, &onCSV); err != nil {
		t.Fatal(err)
	}
	offRows, onRows := readRows(t, offCSV.Bytes()), readRows(t, onCSV.Bytes())

	prod, err := KafkaClient(cfg, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	var recs []*kgo.Record
	rec := func(topic string, partition int32, key, value string) {
		r := &kgo.Record{Topic: topic, Partition: partition, Key: []byte(key)}
		if value != "" {
			r.Value = []byte(value)
		}
		recs = append(recs, r)
	}
	// The exports list each partition's records in offset order, partition
	// 0 first: the order the source hands them out.
	var wantOff, wantOn [][]string
	for p := range int32(2) {
		for i, row := range offRows {
			if int32(i%2) != p {
				continue
			}
			id := row["record_id"]
			key := fmt.Sprintf(`{"id":%q}`, id)
			if i == 0 {
				// An older version first: the latest value wins.
				old := clone(row)
				old["email"] = "old." + row["email"]
				rec(cfg.Topics.OfflineCDC, p, key, cdcEvent("r", nil, offlineImage(old)))
				rec(cfg.Topics.OfflineCDC, p, key, cdcEvent("u", offlineImage(old), offlineImage(row)))
			} else {
				rec(cfg.Topics.OfflineCDC, p, key, cdcEvent("r", nil, offlineImage(row)))
			}
			if i == 4 {
				// Deleted: a delete event and its tombstone.
				rec(cfg.Topics.OfflineCDC, p, key, cdcEvent("d", offlineImage(row), nil))
				rec(cfg.Topics.OfflineCDC, p, key, "")
				continue
			}
			wantOff = append(wantOff, csvRow(row))
		}
		for i, row := range onRows {
			if int32(i%2) != p {
				continue
			}
			id := row["record_id"]
			if i == 1 {
				old := clone(row)
				old["phone"] = "+61 499 000 111"
				rec(cfg.Topics.OnlineEvents, p, id, webhookEvent(fmt.Sprintf("evt-%d-old", i), old))
			}
			rec(cfg.Topics.OnlineEvents, p, id, webhookEvent(fmt.Sprintf("evt-%d", i), row))
			wantOn = append(wantOn, csvRow(row))
		}
	}
	if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// An aborted transaction: neither its new record nor its change of an
	// existing one is the topic's contents.
	txn, err := KafkaClient(cfg, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.TransactionalID(name+"-txn"))
	if err != nil {
		t.Fatal(err)
	}
	defer txn.Close()
	if err := txn.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	changed := clone(offRows[2])
	changed["family_name"] = "Aborted"
	aborted := clone(offRows[3])
	aborted["record_id"] = "OFF-ABORTED"
	for _, row := range []map[string]string{changed, aborted} {
		r := &kgo.Record{Topic: cfg.Topics.OfflineCDC, Partition: 0, Key: fmt.Appendf(nil, `{"id":%q}`, row["record_id"]),
			Value: []byte(cdcEvent("u", nil, offlineImage(row)))}
		if err := txn.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if err := txn.EndTransaction(ctx, kgo.TryAbort); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	header := []string{"record_id", "reference_source", "given_name", "family_name", "email", "phone", "address_line1", "locality", "postcode", "country", "date_of_birth", "updated_at"}
	writeCSV(t, filepath.Join(dir, "offline.csv"), header, wantOff)
	writeCSV(t, filepath.Join(dir, "online.csv"), header, wantOn)

	fromCSV, err := runBaseline(ctx, cfg, BaselineOptions{Offline: filepath.Join(dir, "offline.csv"), Online: filepath.Join(dir, "online.csv"),
		Report: filepath.Join(dir, "csv")}, io.Discard, nil)
	if err != nil {
		t.Fatal(err)
	}
	fromKafka, err := runBaseline(ctx, cfg, BaselineOptions{Offline: KafkaSourcePrefix + cfg.Topics.OfflineCDC, Online: KafkaSourcePrefix,
		Report: filepath.Join(dir, "kafka")}, io.Discard, nil)
	if err != nil {
		t.Fatal(err)
	}
	if fromKafka.Read["offline"] != int64(len(wantOff)) || fromKafka.Read["online"] != int64(len(wantOn)) {
		t.Errorf("read %v, want %d offline and %d online", fromKafka.Read, len(wantOff), len(wantOn))
	}
	if fromCSV.Links == 0 || fromCSV.PairsDiffering == 0 {
		t.Errorf("the CSV report finds too little: %+v", fromCSV)
	}
	files := []string{baseline.FileLinks, baseline.FileAmbiguous, baseline.FileDifferences, baseline.FileRejected,
		baseline.FileCreates("offline"), baseline.FileCreates("online")}
	for _, f := range files {
		want, err := os.ReadFile(filepath.Join(dir, "csv", f))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(dir, "kafka", f))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s from the topics differs from the exports':\n%s\nwant\n%s", f, got, want)
		}
	}

	// A topic that is not an input of the pipeline is refused.
	if _, err := runBaseline(ctx, cfg, BaselineOptions{Offline: KafkaSourcePrefix + "no-such-input", Online: KafkaSourcePrefix,
		Report: filepath.Join(dir, "refused")}, io.Discard, nil); err == nil || !strings.Contains(err.Error(), "not an input") {
		t.Errorf("a topic outside the pipeline: %v", err)
	}
}

func readRows(t *testing.T, b []byte) []map[string]string {
	t.Helper()
	all, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]string
	for _, r := range all[1:] {
		m := map[string]string{}
		for i, h := range all[0] {
			m[h] = r[i]
		}
		m["updated_at"] = "2026-11-02T09:00:00Z"
		out = append(out, m)
	}
	return out
}

func clone(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func csvRow(m map[string]string) []string {
	return []string{m["record_id"], m["reference_source"], m["given_name"], m["family_name"], m["email"], m["phone"],
		m["address_line1"], m["locality"], m["postcode"], m["country"], m["date_of_birth"], m["updated_at"]}
}

// offlineImage is a row of the reference offline table.
func offlineImage(m map[string]string) map[string]any {
	img := map[string]any{"id": m["record_id"], "first_name": m["given_name"], "last_name": m["family_name"], "email": m["email"],
		"phone": m["phone"], "address1": m["address_line1"], "city": m["locality"], "postcode": m["postcode"], "country": m["country"],
		"reference_source": m["reference_source"], "updated_by": "admin", "updated_at": m["updated_at"]}
	if m["date_of_birth"] != "" {
		img["birth_date"] = m["date_of_birth"]
	}
	return img
}

func cdcEvent(op string, before, after map[string]any) string {
	b, _ := json.Marshal(map[string]any{"before": before, "after": after, "op": op, "ts_ms": 1793610000000,
		"source": map[string]any{"connector": "postgresql", "name": "offline", "db": "donors", "schema": "public", "table": "contacts"}})
	return string(b)
}

// webhookEvent is an online contact event of docs/platform-api.md.
func webhookEvent(id string, m map[string]string) string {
	contact := map[string]any{"id": m["record_id"], "first_name": m["given_name"], "last_name": m["family_name"], "email": m["email"],
		"phone": m["phone"], "address": map[string]any{"line1": m["address_line1"], "city": m["locality"], "postcode": m["postcode"], "country": m["country"]}}
	if m["date_of_birth"] != "" {
		contact["date_of_birth"] = m["date_of_birth"]
	}
	if m["reference_source"] != "" {
		contact["reference_source"] = m["reference_source"]
	}
	b, _ := json.Marshal(map[string]any{"event_id": id, "type": "contact.updated", "system": "online", "occurred_at": m["updated_at"],
		"origin": "api", "contact": contact})
	return string(b)
}

func writeCSV(t *testing.T, path string, header []string, rows [][]string) {
	t.Helper()
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.Write(header)
	_ = w.WriteAll(rows)
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
