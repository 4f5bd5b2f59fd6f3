// Package bench is contactsync's end-to-end benchmark (`make bench`): on a
// real broker and Redis it measures a pass-through transactional copier, each
// stage alone on a backlog, the whole pipeline on a backlog, an NCOA burst,
// end-to-end latency at a fixed offered rate, each stage process's peak RSS
// and Redis's memory per person, and writes BENCHMARKS.md with an SVG plot.
// Every rate is reported only after the records were counted at the sink.
package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/contactsync/contactsync/pkg/app"
	"github.com/contactsync/contactsync/pkg/faults"
	"github.com/contactsync/contactsync/pkg/kafkaops"
	"github.com/contactsync/contactsync/pkg/obs"
	"github.com/contactsync/contactsync/pkg/sampledata"
)

// Options sizes one run.
type Options struct {
	Brokers   []string
	RedisAddr string
	Offline   int // offline snapshot rows of the backlog
	Events    int // online events of the backlog
	NCOA      int // address changes of the NCOA burst
	Rate      int // offered rate of the latency run, records/s
	RateFor   time.Duration
	// CopierPolls are the poll sizes the copier runs with; the first is the
	// pipeline's own.
	CopierPolls []int
	WorkDir     string // binary and stage logs
	// ProfileDir, when set, receives a CPU profile (ProfileSeconds long,
	// from each stage's first progress) and an allocation profile of each
	// stage alone on the backlog.
	ProfileDir     string
	ProfileSeconds int
	Logf           func(format string, args ...any)

	producer *kgo.Client // shared by the scenarios
}

// Rate is one measured throughput.
type Rate struct {
	Name    string
	Records int
	Elapsed time.Duration
}

// PerSecond is records per second.
func (r Rate) PerSecond() float64 { return float64(r.Records) / r.Elapsed.Seconds() }

// Result is one run's figures.
type Result struct {
	Copier   []Rate // at each poll size
	Stages   []Rate // each stage alone on the backlog
	Pipeline Rate   // all stages at once on the backlog
	NCOA     Rate
	Latency  []time.Duration // sorted, one per gift of the latency run
	Offered  int
	RSS      map[string]int64 // stage -> peak RSS bytes
	Redis    RedisFigures
}

// BestCopier is the copier's fastest rate.
func (r Result) BestCopier() Rate {
	best := r.Copier[0]
	for _, c := range r.Copier {
		if c.PerSecond() > best.PerSecond() {
			best = c
		}
	}
	return best
}

// Percentile of the latency run (q in 0..1).
func (r Result) Percentile(q float64) time.Duration {
	if len(r.Latency) == 0 {
		return 0
	}
	return r.Latency[min(len(r.Latency)-1, int(q*float64(len(r.Latency))))]
}

// stages are the stages on the path from input to sink (the collector only
// keeps kick-outs).
var stages = []string{"ingest", "matcher", "router"}

// scenario is one isolated pipeline: its own topics, groups and Redis prefix.
type scenario struct {
	producer *kgo.Client
	o        Options
	bin      string
	env      []string
	cfg      app.Config
	inputs   []kafkaops.GroupInputs
	app      *app.App
	procs    map[string]*stageProc
	logDir   string
}

func newScenario(ctx context.Context, o Options, bin, name string, extraEnv ...string) (*scenario, error) {
	env := []string{
		"KAFKA_BROKERS=" + strings.Join(o.Brokers, ","),
		"REDIS_ADDR=" + o.RedisAddr,
		"CONTACTSYNC_TOPIC_PREFIX=" + name + ".",
		"CONTACTSYNC_GROUP_PREFIX=" + name,
		"CONTACTSYNC_REDIS_PREFIX=" + name,
		"CONTACTSYNC_INSTANCE=bench",
		"CONTACTSYNC_ADMIN_ADDR=127.0.0.1:0",
		"CONTACTSYNC_LOG_LEVEL=warn",
	}
	env = append(env, extraEnv...)
	vars := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	cfg, err := app.ConfigFromEnv(func(k string) string { return vars[k] })
	if err != nil {
		return nil, err
	}
	a, err := app.New(ctx, cfg, zap.NewNop(), obs.NewRegistry())
	if err != nil {
		return nil, err
	}
	logDir, err := os.MkdirTemp(o.WorkDir, name+"-logs-")
	if err != nil {
		return nil, err
	}
	s := &scenario{producer: o.producer, o: o, bin: bin, env: env, cfg: cfg, inputs: a.Inputs(), app: a, procs: map[string]*stageProc{}, logDir: logDir}
	if out, err := runCmd(ctx, bin, env, "topics"); err != nil {
		return nil, fmt.Errorf("contactsync topics: %w\n%s", err, out)
	}
	return s, nil
}

func (s *scenario) close() {
	for _, p := range s.procs {
		p.stop()
	}
	_ = s.app.Close()
}

func (s *scenario) start(stage string) error {
	p, err := startStage(s.bin, s.env, stage, s.logDir)
	if err != nil {
		return err
	}
	s.procs[stage] = p
	return nil
}

func (s *scenario) groupsOf(names ...string) []kafkaops.GroupInputs {
	var out []kafkaops.GroupInputs
	for _, in := range s.inputs {
		for _, n := range names {
			if strings.HasSuffix(in.Group, "-"+n) {
				out = append(out, in)
			}
		}
	}
	return out
}

// drain waits until the groups have consumed all their input and returns
// the time from since to then.
func (s *scenario) drain(ctx context.Context, groups []kafkaops.GroupInputs, since time.Time, limit time.Duration) (time.Duration, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.o.Brokers...))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	var last kafkaops.Lag
	for {
		lag, err := kafkaops.Behind(ctx, adm, groups)
		if err == nil {
			if lag.Total == 0 {
				return time.Since(since), nil
			}
			last = lag
		}
		for name, p := range s.procs {
			if p.exited() {
				return 0, fmt.Errorf("stage %s exited; see %s", name, s.logDir)
			}
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("not drained: %s: %w", last, ctx.Err())
		case <-time.After(20 * time.Millisecond): // polling pace, not synchronisation
		}
	}
}

// ready waits until the stages' admin servers report them joined to their
// groups: the clock of a backlog run starts then, so process start-up and
// the group join are not counted, as for the copier (whose clock starts at
// its first records).
func (s *scenario) ready(ctx context.Context, names ...string) (time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for _, n := range names {
		if err := s.procs[n].waitReady(ctx); err != nil {
			return time.Time{}, err
		}
	}
	return time.Now(), nil
}

func (s *scenario) count(ctx context.Context, topic string) (int, error) {
	recs, err := kafkaops.ReadTopic(ctx, s.o.Brokers, topic)
	return len(recs), err
}

// giftsAtSink counts the distinct gifts in the offline sink.
func (s *scenario) giftsAtSink(ctx context.Context) (map[string]bool, error) {
	recs, err := kafkaops.ReadTopic(ctx, s.o.Brokers, s.cfg.Topics.Sink(s.cfg.OfflineSystem))
	if err != nil {
		return nil, err
	}
	gifts := map[string]bool{}
	for _, r := range recs {
		sr, err := s.app.Codec().DecodeSink(r.Value)
		if err != nil {
			return nil, err
		}
		if sr.Gift != nil {
			gifts[sr.Gift.GiftID] = true
		}
	}
	return gifts, nil
}

func (s *scenario) produce(ctx context.Context, cl *kgo.Client, ins []faults.Input) error {
	const chunk = 5000
	for i := 0; i < len(ins); i += chunk {
		part := ins[i:min(i+chunk, len(ins))]
		recs := make([]*kgo.Record, len(part))
		for j, in := range part {
			topic := s.cfg.Topics.OfflineCDC
			if in.Online {
				topic = s.cfg.Topics.OnlineEvents
			}
			recs[j] = &kgo.Record{Topic: topic, Key: in.Key, Value: in.Value}
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			return fmt.Errorf("produce: %w", err)
		}
	}
	return nil
}

func (s *scenario) checkGifts(ctx context.Context, want map[string]bool) error {
	got, err := s.giftsAtSink(ctx)
	if err != nil {
		return err
	}
	missing := 0
	for g := range want {
		if !got[g] {
			missing++
		}
	}
	if missing > 0 {
		return fmt.Errorf("%d of %d gifts never reached the offline sink", missing, len(want))
	}
	return nil
}

// Run runs every measurement in order.
func Run(ctx context.Context, o Options) (Result, error) {
	var res Result
	logf := o.Logf
	bin, err := BuildBinary(ctx, o.WorkDir)
	if err != nil {
		return res, err
	}
	prod, err := kgo.NewClient(kgo.SeedBrokers(o.Brokers...), kgo.ProducerLinger(5*time.Millisecond), kgo.ProducerBatchMaxBytes(1<<20))
	if err != nil {
		return res, err
	}
	defer prod.Close()
	o.producer = prod
	run := fmt.Sprintf("bench%d", time.Now().UnixNano()%1e9)
	stream := faults.Generate(7, o.Offline, o.Events)
	backlog := append(slices.Clone(stream.Load), stream.Flow...)
	logf("backlog: %d offline rows, %d online records", len(stream.Load), len(stream.Flow))

	// (1) The copier, on the same input records.
	cop, err := newScenario(ctx, o, bin, run+"-c")
	if err != nil {
		return res, err
	}
	defer cop.close()
	if err := cop.produce(ctx, prod, backlog); err != nil {
		return res, err
	}
	for _, poll := range o.CopierPolls {
		r, err := Copy(ctx, o.Brokers, []string{cop.cfg.Topics.OfflineCDC, cop.cfg.Topics.OnlineEvents}, fmt.Sprintf("%s-copy-%d", run, poll), poll, len(backlog))
		if err != nil {
			return res, err
		}
		logf("copier poll %d: %d records in %s = %.0f/s", poll, r.Records, r.Elapsed.Round(time.Millisecond), r.PerSecond())
		res.Copier = append(res.Copier, r)
	}

	// (2) Each stage alone on the backlog its upstream left: with the
	// adaptive batch, and with the batch fixed at the first poll's size
	// (the runner before adaptive batches), for a same-run comparison.
	for _, variant := range []struct{ suffix, name string }{{"-s", ""}, {"-f", " (batch 500)"}} {
		var extra []string
		if variant.name != "" {
			extra = []string{"CONTACTSYNC_MAX_BATCH_RECORDS=500"}
		}
		rates, err := stagesAlone(ctx, o, bin, run+variant.suffix, backlog, stream.Expect.Gifts, variant.name == "", extra)
		if err != nil {
			return res, err
		}
		for _, r := range rates {
			r.Name += variant.name
			res.Stages = append(res.Stages, r)
			logf("%s alone: %d records in %s = %.0f/s", r.Name, r.Records, r.Elapsed.Round(time.Millisecond), r.PerSecond())
		}
	}

	// (3) The whole pipeline on the backlog: load first (point zero), then
	// the flow, both before the stages start.
	pipe, err := newScenario(ctx, o, bin, run+"-p")
	if err != nil {
		return res, err
	}
	defer pipe.close()
	if err := pipe.produce(ctx, prod, backlog); err != nil {
		return res, err
	}
	for _, st := range stages {
		if err := pipe.start(st); err != nil {
			return res, err
		}
	}
	since, err := pipe.ready(ctx, stages...)
	if err != nil {
		return res, err
	}
	d, err := pipe.drain(ctx, pipe.groupsOf(stages...), since, 15*time.Minute)
	if err != nil {
		return res, fmt.Errorf("pipeline: %w", err)
	}
	if err := pipe.checkGifts(ctx, stream.Expect.Gifts); err != nil {
		return res, fmt.Errorf("pipeline: %w", err)
	}
	res.Pipeline = Rate{Name: "pipeline", Records: len(backlog), Elapsed: d}
	logf("pipeline: %d records in %s = %.0f/s", len(backlog), d.Round(time.Millisecond), res.Pipeline.PerSecond())

	// (4) NCOA burst: address changes of known offline contacts.
	rows, err := offlineRows(stream.Load)
	if err != nil {
		return res, err
	}
	changesBefore, err := pipe.count(ctx, pipe.cfg.Topics.Matched)
	if err != nil {
		return res, err
	}
	burst := ncoa(rows, o.NCOA)
	// The burst's clock runs from its first record produced to the last
	// consumed by the router, the stages running all along.
	since = time.Now()
	if err := pipe.produce(ctx, prod, burst); err != nil {
		return res, err
	}
	d, err = pipe.drain(ctx, pipe.groupsOf(stages...), since, 30*time.Minute)
	if err != nil {
		return res, fmt.Errorf("ncoa: %w", err)
	}
	changesAfter, err := pipe.count(ctx, pipe.cfg.Topics.Matched)
	if err != nil {
		return res, err
	}
	if got := changesAfter - changesBefore; got != len(burst) {
		return res, fmt.Errorf("ncoa: %d address changes in, %d matched changes out", len(burst), got)
	}
	res.NCOA = Rate{Name: "ncoa", Records: len(burst), Elapsed: d}
	logf("ncoa: %d records in %s = %.0f/s", len(burst), d.Round(time.Millisecond), res.NCOA.PerSecond())

	// (5) Latency at a fixed offered rate.
	res.Offered = o.Rate
	res.Latency, err = latency(ctx, pipe, prod, rows, o.Rate, o.RateFor)
	if err != nil {
		return res, fmt.Errorf("latency: %w", err)
	}
	logf("latency at %d/s: p50 %s p99 %s (%d gifts)", o.Rate, res.Percentile(0.5), res.Percentile(0.99), len(res.Latency))

	// (6) Peak RSS of each stage process of the pipeline run.
	res.RSS = map[string]int64{}
	for name, p := range pipe.procs {
		if res.RSS[name], err = p.peakRSS(); err != nil {
			return res, err
		}
	}
	// (7) Redis memory of the pipeline's prefix.
	res.Redis, err = redisFigures(ctx, pipe.app.Redis(), pipe.cfg.RedisPrefix)
	if err != nil {
		return res, err
	}
	return res, nil
}

// stagesAlone runs each stage alone, in pipeline order, on the backlog its
// upstream left, and checks every gift reached the offline sink.
func stagesAlone(ctx context.Context, o Options, bin, name string, backlog []faults.Input, gifts map[string]bool, profile bool, extra []string) ([]Rate, error) {
	alone, err := newScenario(ctx, o, bin, name, extra...)
	if err != nil {
		return nil, err
	}
	defer alone.close()
	if err := alone.produce(ctx, alone.producer, backlog); err != nil {
		return nil, err
	}
	var rates []Rate
	for _, st := range stages {
		n := len(backlog)
		switch st {
		case "matcher":
			n, err = alone.count(ctx, alone.cfg.Topics.Changes)
		case "router":
			n, err = alone.count(ctx, alone.cfg.Topics.Matched)
		}
		if err != nil {
			return nil, err
		}
		if err := alone.start(st); err != nil {
			return nil, err
		}
		profiled := make(chan error, 1)
		if profile && o.ProfileDir != "" {
			p := alone.procs[st]
			go func() {
				// The admin server answers once the process is up.
				var err error
				for range 50 {
					if err = p.profile(ctx, fmt.Sprintf("profile?seconds=%d", o.ProfileSeconds), filepath.Join(o.ProfileDir, st+".cpu.pprof")); err == nil {
						break
					}
					time.Sleep(100 * time.Millisecond) // waiting for the process to listen
				}
				profiled <- err
			}()
		} else {
			profiled <- nil
		}
		since, err := alone.ready(ctx, st)
		if err != nil {
			return nil, err
		}
		d, err := alone.drain(ctx, alone.groupsOf(st), since, 15*time.Minute)
		if err != nil {
			return nil, fmt.Errorf("%s alone: %w", st, err)
		}
		if err := <-profiled; err != nil {
			return nil, err
		}
		if profile && o.ProfileDir != "" {
			if err := alone.procs[st].profile(ctx, "allocs", filepath.Join(o.ProfileDir, st+".allocs.pprof")); err != nil {
				return nil, err
			}
		}
		alone.procs[st].stop()
		delete(alone.procs, st)
		rates = append(rates, Rate{Name: st, Records: n, Elapsed: d})
	}
	if err := alone.checkGifts(ctx, gifts); err != nil {
		return nil, fmt.Errorf("stages alone: %w", err)
	}
	return rates, nil
}

// offlineRows recovers the rows of the offline snapshot (Debezium "after").
func offlineRows(load []faults.Input) ([]map[string]any, error) {
	rows := make([]map[string]any, 0, len(load))
	for _, in := range load {
		var env struct {
			After map[string]any `json:"after"`
		}
		if err := json.Unmarshal(in.Value, &env); err != nil {
			return nil, err
		}
		if env.After == nil {
			return nil, errors.New("snapshot row without after")
		}
		rows = append(rows, env.After)
	}
	return rows, nil
}

// ncoa is n address changes over the known rows (a row may move more than
// once when n exceeds them).
func ncoa(rows []map[string]any, n int) []faults.Input {
	out := make([]faults.Input, 0, n)
	at := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)
	for i := 0; i < n; i++ {
		before := rows[i%len(rows)]
		after := make(map[string]any, len(before))
		for k, v := range before {
			after[k] = v
		}
		after["address1"] = fmt.Sprintf("%d Forwarding Way Apt %d", 1+i%997, i)
		after["postcode"] = fmt.Sprintf("7%04d", i%10000)
		after["updated_by"] = "ncoa"
		t := at.Add(time.Duration(i) * time.Millisecond)
		after["updated_at"] = t.Format(time.RFC3339Nano)
		rows[i%len(rows)] = after
		key, value := sampledata.DebeziumChange("u", fmt.Sprint(before["id"]), before, after, t, int64(50_000_000+i))
		out = append(out, faults.Input{Key: key, Value: value})
	}
	return out
}

func runCmd(ctx context.Context, bin string, env []string, args ...string) ([]byte, error) {
	return commandOutput(ctx, bin, env, args...)
}

// RedisFigures is the Redis memory of one prefix.
type RedisFigures struct {
	UsedMemory  int64 // INFO memory used_memory of the whole instance
	DBSize      int64 // DBSIZE of the whole instance
	Keys        int64 // keys under the prefix
	Bytes       int64 // MEMORY USAGE summed over them
	MemoKeys    int64 // decision and output memos (expire)
	MemoBytes   int64
	Persons     int64
	KeysByKind  map[string]int64
	BytesByKind map[string]int64
}

func redisFigures(ctx context.Context, rdb redis.UniversalClient, prefix string) (RedisFigures, error) {
	f := RedisFigures{KeysByKind: map[string]int64{}, BytesByKind: map[string]int64{}}
	info, err := rdb.Info(ctx, "memory").Result()
	if err != nil {
		return f, err
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			fmt.Sscan(v, &f.UsedMemory)
		}
	}
	if f.DBSize, err = rdb.DBSize(ctx).Result(); err != nil {
		return f, err
	}
	var cursor uint64
	for {
		keys, next, err := rdb.Scan(ctx, cursor, prefix+":*", 2000).Result()
		if err != nil {
			return f, err
		}
		pl := rdb.Pipeline()
		cmds := make([]*redis.IntCmd, len(keys))
		for i, k := range keys {
			cmds[i] = pl.MemoryUsage(ctx, k, 0)
		}
		if _, err := pl.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return f, err
		}
		for i, k := range keys {
			n, _ := cmds[i].Result()
			kind := keyKind(prefix, k)
			f.KeysByKind[kind]++
			f.BytesByKind[kind] += n
			f.Keys++
			f.Bytes += n
			if kind == "p:memo" || kind == "mi:r:ev" {
				f.MemoKeys++
				f.MemoBytes += n
			}
			if kind == "p:members" {
				f.Persons++
			}
		}
		if cursor = next; cursor == 0 {
			break
		}
	}
	return f, nil
}

// keyKind names a key's layout (redisstore/keys.go): its kind and suffix,
// without the data parts.
func keyKind(prefix, key string) string {
	rest := strings.TrimPrefix(key, prefix+":")
	open, close := strings.IndexByte(rest, '{'), strings.LastIndexByte(rest, '}')
	if open < 0 || close < open {
		return rest
	}
	kind := strings.TrimSuffix(rest[:open], ":")
	suffix := rest[close+1:]
	switch {
	case strings.HasPrefix(suffix, ":memo:"):
		suffix = ":memo"
	case strings.HasPrefix(suffix, ":ev:"):
		suffix = ":ev"
	case strings.Count(suffix, ":") == 2:
		// ":<key id>:p", ":<key id>:lock" of a blocking key
		suffix = suffix[strings.LastIndexByte(suffix, ':'):]
	}
	return kind + suffix
}

// giftEvent is gift i of the latency run, by the online account of a known
// offline contact.
func giftEvent(row map[string]any, i int) faults.Input {
	str := func(k string) string { s, _ := row[k].(string); return s }
	id := "web-" + str("id")
	c := sampledata.Contact{ID: id, ReferenceSource: "online", Given: str("first_name"), Family: str("last_name"),
		Email: str("email"), Phone: str("phone"), Street: str("address1"), City: str("city"), Region: str("state"), Postcode: str("postcode")}
	at := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Millisecond)
	gift := map[string]any{"id": fmt.Sprintf("lat-g-%07d", i), "amount": "10.00", "currency": "USD", "received_at": at.Format(time.RFC3339), "campaign": "bench"}
	return faults.Input{Online: true, Key: []byte(id), Value: sampledata.OnlineEvent(fmt.Sprintf("lat-e-%07d", i), "gift.created", "online", "api", at, c, gift)}
}
