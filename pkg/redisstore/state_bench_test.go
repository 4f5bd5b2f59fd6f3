package redisstore_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/contactsync/contactsync/pkg/avrocodec"
	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/internal/routertest"
	"github.com/contactsync/contactsync/pkg/internal/testenv"
	"github.com/contactsync/contactsync/pkg/pipeline"
	"github.com/contactsync/contactsync/pkg/pipeline/router"
	"github.com/contactsync/contactsync/pkg/redisstore"
	"github.com/contactsync/contactsync/pkg/rules"
)

// BenchmarkRouterOnRedis is the router stage alone, in process, with the
// real rules, Avro codec and Redis state store: each op is a batch of
// routerBatch changes (gifts and address changes of routerPersons known
// persons, several per person per batch, as in a backlog). Run it against
// the harness's Redis (REDIS_ADDR); it reports changes/s.
func BenchmarkRouterOnRedis(b *testing.B) {
	const routerBatch, routerPersons = 2000, 500
	rdb, _ := testenv.Redis(b)
	ctx := testenv.Context(b, 10*time.Minute)
	codec, err := avrocodec.New()
	if err != nil {
		b.Fatal(err)
	}
	topics := pipeline.DefaultTopics()
	st := router.New(topics, codec, routertest.RulesEngine{E: rules.NewEngine(rules.Default())},
		redisstore.NewStateStore(rdb, redisstore.Keys{Prefix: testenv.Unique("rb")}, time.Hour), nil)
	t0 := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	batch := func(n int) []*kgo.Record {
		out := make([]*kgo.Record, routerBatch)
		for i := range out {
			k := n*routerBatch + i
			p := k % routerPersons
			person := fmt.Sprintf("p-%04d", p)
			at := t0.Add(time.Duration(k) * time.Second)
			c := contact.Change{EventID: fmt.Sprintf("e-%d", k), Op: contact.OpUpsert, SourceTime: at, ReferenceSource: "offline",
				Values: contact.Values{contact.GivenName: fmt.Sprintf("Given%d", p), contact.FamilyName: "Family", contact.Email: person + "@example.org",
					contact.AddressLine1: fmt.Sprintf("%d Main St", k%7), contact.Locality: "Urbana", contact.Postcode: fmt.Sprintf("6%04d", k%5)}}
			if k%2 == 0 {
				c.SourceSystem, c.SourceRecordID, c.Origin = "online", "web-"+person, contact.OriginAPI
				c.Gift = &contact.Gift{GiftID: fmt.Sprintf("g-%d", k), AmountMinor: 1000, Currency: "USD", ReceivedAt: at}
			} else {
				c.SourceSystem, c.SourceRecordID, c.Origin = "offline", "OFF-"+person, contact.OriginAdmin
			}
			m := contact.Matched{Change: c, Match: contact.Match{PersonID: person, Decision: contact.DecisionKnown},
				Links: map[string]string{"offline": "OFF-" + person, "online": "web-" + person}}
			v, err := codec.EncodeMatched(m)
			if err != nil {
				b.Fatal(err)
			}
			out[i] = &kgo.Record{Topic: topics.Matched, Offset: int64(k), Key: []byte(person), Value: v}
		}
		return out
	}
	// Warm up: every person has a state and some history.
	for n := range 3 {
		if _, err := st.Process(ctx, batch(n)); err != nil {
			b.Fatal(err)
		}
	}
	batches := make([][]*kgo.Record, b.N)
	for i := range batches {
		batches[i] = batch(3 + i)
	}
	// On a shared machine the wall time says little; the CPU time of this
	// process and of Redis per change is what the code costs.
	cpu0, redis0 := processCPU(b), redisCPU(ctx, b, rdb)
	b.ResetTimer()
	for i := range b.N {
		if _, err := st.Process(ctx, batches[i]); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	changes := float64(b.N * routerBatch)
	b.ReportMetric(changes/b.Elapsed().Seconds(), "changes/s")
	b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/changes, "cpu-us/change")
	b.ReportMetric(float64((redisCPU(ctx, b, rdb)-redis0).Microseconds())/changes, "redis-cpu-us/change")
}

// processCPU is the user and system CPU time of this process so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// redisCPU is the Redis server's user and system CPU time so far (INFO
// cpu): a fair figure only on a Redis no one else uses meanwhile.
func redisCPU(ctx context.Context, b *testing.B, rdb redis.UniversalClient) time.Duration {
	info, err := rdb.Info(ctx, "cpu").Result()
	if err != nil {
		b.Fatal(err)
	}
	var total float64
	for _, line := range strings.Split(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && (k == "used_cpu_user" || k == "used_cpu_sys") {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				b.Fatal(err)
			}
			total += f
		}
	}
	return time.Duration(total * float64(time.Second))
}
