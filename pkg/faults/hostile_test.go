package faults

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap/zaptest"

	"github.com/contactsync/contactsync/pkg/app"
	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/internal/testenv"
	"github.com/contactsync/contactsync/pkg/kafkaops"
	"github.com/contactsync/contactsync/pkg/obs"
	"github.com/contactsync/contactsync/pkg/pipeline"
	"github.com/contactsync/contactsync/pkg/sampledata"
)

// hostileCase is one crafted record: where it goes, and the one kick-out
// reason it must get ("" when it is valid and must reach the sink).
type hostileCase struct {
	name    string
	topic   string // "online", "offline" or "replay"
	key     []byte
	value   []byte
	headers []kgo.RecordHeader
	reason  string
}

// hostileEvent is an online event; mutate changes the decoded map before it
// is written, raw (when not empty) replaces the whole value.
func hostileEvent(id string, mutate func(ev, contact map[string]any)) []byte {
	given, family := personName(id)
	c := map[string]any{"id": "web-" + id, "reference_source": "online", "first_name": given, "last_name": family,
		"email": strings.ToLower(given+"."+family) + "@" + id + ".example.org"}
	ev := map[string]any{"event_id": "evt-" + id, "type": "gift.created", "system": "online", "origin": "api",
		"occurred_at": "2026-11-03T10:00:00Z", "contact": c,
		"gift": map[string]any{"id": "g-" + id, "amount": "5.00", "currency": "USD"}}
	if mutate != nil {
		mutate(ev, c)
	}
	return sampledata.MustJSON(ev)
}

var (
	hostileGiven  = strings.Fields("Abigail Bartholomew Cordelia Desmond Evangeline Fitzgerald Genevieve Horatio Isadora Jebediah Katarina Leopold Marguerite Nathaniel Octavia Percival Quentin Rosalind Sebastian Theodora Ulysses Valentina Wilhelmina Xavier Yolanda Zachariah")
	hostileFamily = strings.Fields("Abernathy Blackwood Castellanos Delacroix Eriksson Fairweather Gallagher Hargreaves Ivanova Jablonski Kowalczyk Lindqvist Montgomery Nakamura Oyelaran Pemberton Quintero Rasmussen Szymanski Thibodeaux Umberger Vanderbilt Whitfield Yamaguchi Zielinski")
)

// personName gives each id its own name, far from every other's, so that
// the matcher sees a new person (not an ambiguous near-match) each time:
// the k-th id gets given name k mod 26 and family name 7k mod 25, a pair
// no other of the first 650 ids gets.
func personName(id string) (given, family string) {
	k, ok := nameIndex[id]
	if !ok {
		k = len(nameIndex)
		nameIndex[id] = k
	}
	return hostileGiven[k%len(hostileGiven)], hostileFamily[(7*k)%len(hostileFamily)]
}

var nameIndex = map[string]int{}

// eventText is a hand-written online event with fragment as its contact's
// extra keys (for what encoding/json would not write: lone surrogates,
// escapes, deep nesting).
func eventText(id, contactKeys, extra string) []byte {
	return []byte(`{"event_id":"evt-` + id + `","type":"contact.created","system":"online","origin":"api",` +
		`"occurred_at":"2026-11-03T10:00:00Z","contact":{"id":"web-` + id + `"` + contactKeys + `}` + extra + `}`)
}

func offlineRow(id string, mutate func(row map[string]any)) (key, value []byte) {
	given, family := personName("offline/" + id)
	row := map[string]any{"id": id, "first_name": given, "last_name": family, "email": strings.ToLower(given+"."+family) + "@offline.example.org",
		"do_not_email": false, "do_not_mail": false, "do_not_phone": false, "giving_total": "10.00",
		"reference_source": "direct_mail", "updated_by": "admin", "updated_at": "2026-11-02T09:00:00Z"}
	if mutate != nil {
		mutate(row)
	}
	return sampledata.DebeziumChange("c", id, nil, row, time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC), 1000)
}

// avroVarint is Avro's zig-zag varint of n.
func avroVarint(n int64) []byte { return binary.AppendVarint(nil, n) }

func avroString(s string) []byte { return append(avroVarint(int64(len(s))), s...) }

// confluent prefixes an Avro body with the wire header of schema id.
func confluent(id int, body ...[]byte) []byte {
	b := []byte{0, 0, 0, 0, byte(id)}
	for _, p := range body {
		b = append(b, p...)
	}
	return b
}

func replayHeaders(format, sourceTopic string) []kgo.RecordHeader {
	return []kgo.RecordHeader{{Key: pipeline.HeaderFormat, Value: []byte(format)},
		{Key: pipeline.HeaderSourceTopic, Value: []byte(sourceTopic)}}
}

// TestHostileInputs produces crafted records, each between two good ones on
// the same partition, to the real broker and runs the four real stages on
// them in this process. Each crafted record must become exactly one
// kick-out with its stable reason, every partition must drain (lag 0), and
// every good record must reach the sink: no bad record blocks a partition.
func TestHostileInputs(t *testing.T) {
	brokers := testenv.RealKafka(t)
	if os.Getenv("REDIS_ADDR") == "" && !testenv.InCI() {
		t.Skip("REDIS_ADDR is unset: the hostile-input suite needs the real redis-server that `make test` starts")
	}
	rdb, _ := testenv.Redis(t)
	ctx := testenv.Context(t, 5*time.Minute)
	name := testenv.Unique("hostile")
	vars := map[string]string{
		"KAFKA_BROKERS":               strings.Join(brokers, ","),
		"CONTACTSYNC_TOPIC_PREFIX":    name + ".",
		"CONTACTSYNC_GROUP_PREFIX":    name,
		"CONTACTSYNC_REDIS_PREFIX":    name,
		"CONTACTSYNC_INSTANCE":        "test",
		"CONTACTSYNC_ADMIN_ADDR":      "127.0.0.1:0",
		"CONTACTSYNC_SESSION_TIMEOUT": "6s",
		"CONTACTSYNC_PARTITIONS":      "2",
		"CONTACTSYNC_LOG_LEVEL":       "warn",
	}
	cfg, err := app.ConfigFromEnv(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	pipe, err := app.New(ctx, cfg, zaptest.NewLogger(t).Named("pipeline"), obs.NewRegistry(), app.WithRedisClient(rdb))
	if err != nil {
		t.Fatal(err)
	}
	defer pipe.Close()
	if err := kafkaops.EnsureTopics(ctx, brokers, pipe.Topics(), cfg.Partitions, 1); err != nil {
		t.Fatal(err)
	}
	inputs := pipe.Inputs()
	topicOf := map[string]string{"online": cfg.Topics.OnlineEvents, "offline": cfg.Topics.OfflineCDC, "replay": cfg.Topics.Replay}

	// Random hex does not compress: the sizes below are what the broker
	// and the stages' producers see.
	raw := make([]byte, 1<<20)
	_, _ = rand.Read(raw)
	big := hex.EncodeToString(raw)[:1<<20]
	nest := func(depth int) string { return `,"x":` + strings.Repeat("[", depth) + strings.Repeat("]", depth) }
	cases := []hostileCase{
		{name: "record id with {}:/ is valid", topic: "online", value: hostileEvent("h-keys", func(_, c map[string]any) { c["id"] = "web{1}:x/y" })},
		{name: "record id with {}:/ and a newline", topic: "online", value: hostileEvent("h-nl", func(_, c map[string]any) { c["id"] = "web{1}:x/\ny" }), reason: "validate.id"},
		{name: "record id with an escape sequence", topic: "online", value: hostileEvent("h-esc", func(_, c map[string]any) { c["id"] = "web\x1b[2J" }), reason: "validate.id"},
		{name: "event id with a control character", topic: "online", value: hostileEvent("h-bel", func(ev, _ map[string]any) { ev["event_id"] = "evt\a" }), reason: "validate.id"},
		{name: "record id of 300 bytes", topic: "online", value: hostileEvent("h-long", func(_, c map[string]any) { c["id"] = strings.Repeat("7", 300) }), reason: "validate.id"},
		{name: "record id a 5000-digit number", topic: "online", reason: "validate.id"},
		{name: "NUL in a name", topic: "online", value: hostileEvent("h-nul", func(_, c map[string]any) { c["first_name"] = "Ha\x00na" }), reason: "validate.field"},
		{name: "invalid UTF-8", topic: "online", value: eventText("h-utf8", `,"first_name":"Ha`+"\xed\xa0\x80"+`na"`, ""), reason: "decode.json"},
		{name: "lone surrogate escape", topic: "online", value: eventText("h-surr", `,"first_name":"Ha\ud800na"`, ""), reason: "decode.json"},
		{name: "nesting 65 deep", topic: "online", value: eventText("h-nest", "", nest(65)), reason: "decode.json"},
		{name: "nesting 20000 deep", topic: "online", value: eventText("h-nest2", "", nest(20000)), reason: "decode.json"},
		{name: "huge number amount", topic: "online", value: []byte(strings.Replace(string(hostileEvent("h-amt", nil)), `"amount":"5.00"`, `"amount":1e999999999`, 1)), reason: "validate.gift"},
		{name: "a 1 MB name", topic: "online", value: hostileEvent("h-big", func(_, c map[string]any) { c["first_name"] = big[:1_000_000] }), reason: "validate.field"},
		{name: "a record at the broker's size limit", topic: "online", reason: "validate.field"},
		{name: "body claiming the system of record", topic: "online", value: hostileEvent("h-sys", func(ev, _ map[string]any) { ev["system"] = "offline" }), reason: "validate.system"},
		{name: "body claiming another system", topic: "online", value: hostileEvent("h-sys2", func(ev, _ map[string]any) { ev["system"] = "shop" }), reason: "validate.system"},
		{name: "origin sync from an untrusted source", topic: "online", value: hostileEvent("h-sync", func(ev, _ map[string]any) { ev["origin"] = "sync" }), reason: "validate.origin"},
		{name: "origin admin from an untrusted source", topic: "online", value: hostileEvent("h-admin", func(ev, _ map[string]any) { ev["origin"] = "admin" }), reason: "validate.origin"},
		{name: "offline id with a newline", topic: "offline", reason: "validate.id"},
		{name: "offline giving total of 60 digits", topic: "offline", reason: "validate.field"},
		{name: "offline giving total 1e999", topic: "offline", reason: "validate.field"},
		{name: "Avro change with a lying string length", topic: "replay", value: confluent(1, avroVarint(1<<40), []byte("evt")),
			headers: replayHeaders(pipeline.FormatChange, ""), reason: "decode.avro"},
		{name: "Avro change with a lying array count", topic: "replay", value: confluent(1, avroString("e"), avroString("online"), avroString("r"),
			avroVarint(0), avroString("api"), avroString("upsert"), avroVarint(0), bytes.Repeat(avroVarint(0), len(contact.Fields)), avroVarint(1<<20)),
			headers: replayHeaders(pipeline.FormatChange, ""), reason: "decode.avro"},
		{name: "Avro change from a system not in the rules", topic: "replay", headers: replayHeaders(pipeline.FormatChange, ""), reason: "validate.system"},
		{name: "replayed online event of no known source", topic: "replay", value: hostileEvent("h-src", nil),
			headers: replayHeaders(pipeline.FormatOnline, "somewhere.else"), reason: "validate.system"},
	}
	for i := range cases {
		c := &cases[i]
		switch c.name {
		case "record id a 5000-digit number":
			c.value = []byte(strings.Replace(string(hostileEvent("h-num", nil)), `"id":"web-h-num"`, `"id":`+strings.Repeat("9", 5000), 1))
		case "a record at the broker's size limit":
			// message.max.bytes (1,048,588 by default) counts the batch:
			// 61 bytes of batch header and a few of record framing.
			const target = 1_048_588 - 61 - 40
			base := hostileEvent("h-limit", func(_, c map[string]any) { c["last_name"] = "" })
			c.value = hostileEvent("h-limit", func(_, c map[string]any) { c["last_name"] = big[:target-len(base)-len("hostile-99")] })
		case "offline id with a newline":
			c.key, c.value = offlineRow("OFF-\nH", nil)
		case "offline giving total of 60 digits":
			c.key, c.value = offlineRow("OFF-H60", func(r map[string]any) { r["giving_total"] = strings.Repeat("9", 60) })
		case "offline giving total 1e999":
			k, v := offlineRow("OFF-HEXP", nil)
			c.key, c.value = k, []byte(strings.Replace(string(v), `"giving_total":"10.00"`, `"giving_total":1e999`, 1))
		case "Avro change from a system not in the rules":
			ch := contact.Change{EventID: "evt-ghost", SourceSystem: "ghost", SourceRecordID: "g-1", Origin: contact.OriginAPI,
				Op: contact.OpUpsert, SourceTime: time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC), Values: contact.Values{contact.GivenName: "Gus"}}
			if c.value, err = pipe.Codec().EncodeChange(ch); err != nil {
				t.Fatal(err)
			}
		}
		if c.key == nil {
			c.key = []byte(fmt.Sprintf("hostile-%d", i))
		}
	}

	// goodRecord is a valid record for topic, unique by n; want is what
	// shows it was processed: a gift id on the offline sink, or an offline
	// record id on the matched topic.
	type good struct{ gift, offlineID string }
	goodRecord := func(topic string, n int) (*kgo.Record, good) {
		id := fmt.Sprintf("good-%d", n)
		switch topic {
		case "offline":
			k, v := offlineRow(fmt.Sprintf("OFF-G%d", n), nil)
			return &kgo.Record{Key: k, Value: v}, good{offlineID: fmt.Sprintf("OFF-G%d", n)}
		case "replay":
			return &kgo.Record{Key: []byte(id), Value: hostileEvent(id, nil), Headers: replayHeaders(pipeline.FormatOnline, cfg.Topics.OnlineEvents)}, good{gift: "g-" + id}
		}
		return &kgo.Record{Key: []byte(id), Value: hostileEvent(id, nil)}, good{gift: "g-" + id}
	}

	// Every record goes to partition 0 of its topic, in order: a crafted
	// record that blocked its partition would hold back every good one
	// after it.
	prod, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchMaxBytes(4<<20), kgo.MaxBufferedBytes(64<<20), kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	produce := func(topic string, r *kgo.Record) (*kgo.Record, error) {
		r.Topic, r.Partition = topicOf[topic], 0
		return r, prod.ProduceSync(ctx, r).FirstErr()
	}
	var goods []good
	produced := map[string]*kgo.Record{} // case name -> produced record (with its offset)
	n := 0
	for _, c := range cases {
		for _, before := range []bool{true, false} {
			if !before {
				r, err := produce(c.topic, &kgo.Record{Key: c.key, Value: c.value, Headers: c.headers})
				if err != nil {
					t.Fatalf("%s: produce: %v", c.name, err)
				}
				produced[c.name] = r
			}
			r, g := goodRecord(c.topic, n)
			n++
			if _, err := produce(c.topic, r); err != nil {
				t.Fatalf("good record %d: produce: %v", n, err)
			}
			goods = append(goods, g)
		}
	}
	if c := cases[0]; c.reason == "" {
		goods = append(goods, good{gift: "g-h-keys"})
	}
	// Over the size limit: the broker refuses it, nothing enters.
	_, err = produce("online", &kgo.Record{Key: []byte("hostile-over"), Value: hostileEvent("h-over", func(_, c map[string]any) { c["first_name"] = big + big })})
	if !errors.Is(err, kerr.MessageTooLarge) {
		t.Errorf("a 2 MB record: produce error %v, want %v", err, kerr.MessageTooLarge)
	}

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- pipe.Run(runCtx, app.AllStages, nil) }()
	defer func() {
		stop()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("pipeline stopped with: %v", err)
		}
	}()
	waitCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := kafkaops.WaitIdle(waitCtx, brokers, inputs); err != nil {
		t.Logf("kafka state:\n%s", kafkaops.Diagnose(context.WithoutCancel(ctx), brokers, inputs))
		t.Fatalf("a crafted record blocked the pipeline: %v", err)
	}

	read := func(topic string) []*kgo.Record {
		recs, err := kafkaops.ReadTopic(ctx, brokers, topic)
		if err != nil {
			t.Fatal(err)
		}
		return recs
	}
	type position struct {
		topic     string
		partition int32
		offset    int64
	}
	kicked := map[position][]contact.KickOut{}
	for _, r := range read(cfg.Topics.KickOuts) {
		if len(r.Value) > 1<<20 {
			t.Errorf("a kick-out of %d bytes", len(r.Value))
		}
		ko, err := pipe.Codec().DecodeKickOut(r.Value)
		if err != nil {
			t.Fatalf("kick-out: %v", err)
		}
		p := position{ko.Topic, ko.Partition, ko.Offset}
		kicked[p] = append(kicked[p], ko)
	}
	for _, c := range cases {
		r := produced[c.name]
		kos := kicked[position{r.Topic, r.Partition, r.Offset}]
		delete(kicked, position{r.Topic, r.Partition, r.Offset})
		switch {
		case c.reason == "" && len(kos) != 0:
			t.Errorf("%s: kicked out as %s (%s), want it processed", c.name, kos[0].Reason, kos[0].Error)
		case c.reason == "":
		case len(kos) != 1:
			t.Errorf("%s: %d kick-outs, want exactly one (%s)", c.name, len(kos), c.reason)
		case kos[0].Reason != c.reason || kos[0].Stage != "ingest":
			t.Errorf("%s: kicked out by %s as %s (%s), want ingest, %s", c.name, kos[0].Stage, kos[0].Reason, kos[0].Error, c.reason)
		case kos[0].ValueSize != int64(len(c.value)) || !bytes.HasPrefix(c.value, kos[0].Value):
			t.Errorf("%s: kick-out keeps %d of %d bytes (size %d), not a prefix of the original", c.name, len(kos[0].Value), len(c.value), kos[0].ValueSize)
		case kos[0].Truncated != (len(c.value) > pipeline.DefaultKickOutMaxBytes):
			t.Errorf("%s: truncated %v for a value of %d bytes", c.name, kos[0].Truncated, len(c.value))
		}
	}
	for p, kos := range kicked {
		for _, ko := range kos {
			t.Errorf("unexpected kick-out of %s/%d@%d: %s by %s (%s)", p.topic, p.partition, p.offset, ko.Reason, ko.Stage, ko.Error)
		}
	}

	gifts := map[string]bool{}
	for _, r := range read(cfg.Topics.Sink("offline")) {
		s, err := pipe.Codec().DecodeSink(r.Value)
		if err != nil {
			t.Fatal(err)
		}
		if s.Gift != nil {
			gifts[s.Gift.GiftID] = true
		}
	}
	matched := map[string]bool{}
	for _, r := range read(cfg.Topics.Matched) {
		m, err := pipe.Codec().DecodeMatched(r.Value)
		if err != nil {
			t.Fatal(err)
		}
		matched[m.Change.SourceSystem+"/"+m.Change.SourceRecordID] = true
	}
	for _, g := range goods {
		if g.gift != "" && !gifts[g.gift] {
			t.Errorf("good gift %s never reached the offline sink", g.gift)
		}
		if g.offlineID != "" && !matched["offline/"+g.offlineID] {
			t.Errorf("good offline row %s was never matched", g.offlineID)
		}
	}
}
