package faults

import (
	"context"

	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/contactsync/contactsync/pkg/app"
	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/internal/testenv"
	"github.com/contactsync/contactsync/pkg/kafkaops"
	"github.com/contactsync/contactsync/pkg/obs"
)

// envInt reads a positive integer setting of the suite.
func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// TestExactlyOnceUnderFaults feeds a known stream through the four stages,
// each running as two processes, while it kills them with SIGKILL at random
// (and at failpoints between Redis writes and the Kafka commit), restarts
// Redis once and the broker once. Then it checks the sinks and kick-outs
// against what the input demands: nothing lost, nothing doubled.
//
// FAULT_EVENTS (default 20000) sizes the stream, FAULT_MINUTES (default 15)
// bounds the run, FAULT_KILLS (default 12)
// the number of process kills, FAULT_SEED the fault schedule (which process
// is killed when; the default is drawn from the clock). FAULT_BREAK=memo disables the router's
// per-event memo to show that the check catches a broken pipeline.
func TestExactlyOnceUnderFaults(t *testing.T) {
	brokers := testenv.RealKafka(t)
	if os.Getenv("REDIS_ADDR") == "" {
		t.Skip("REDIS_ADDR is unset: the fault suite needs the real redis-server that `make test` starts")
	}
	harness := os.Getenv("HARNESS_SH")
	events, kills := envInt(t, "FAULT_EVENTS", 20000), envInt(t, "FAULT_KILLS", 12)
	// A larger stream needs longer: FAULT_MINUTES (default 15) bounds the run.
	ctx := testenv.Context(t, time.Duration(envInt(t, "FAULT_MINUTES", 15))*time.Minute)

	bin := filepath.Join(t.TempDir(), "contactsync")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/contactsync/contactsync/services/contactsync")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}

	name := testenv.Unique("fault")
	failpoints := "ingest.before-commit=0.01,matcher.before-commit=0.05,router.before-commit=0.1,collector.before-commit=0.02"
	env := []string{
		"KAFKA_BROKERS=" + strings.Join(brokers, ","),
		"REDIS_ADDR=" + os.Getenv("REDIS_ADDR"),
		"CONTACTSYNC_TOPIC_PREFIX=" + name + ".",
		"CONTACTSYNC_GROUP_PREFIX=" + name,
		"CONTACTSYNC_REDIS_PREFIX=" + name,
		"CONTACTSYNC_SESSION_TIMEOUT=6s",
		"CONTACTSYNC_ADMIN_ADDR=127.0.0.1:0",
		"CONTACTSYNC_LOG_LEVEL=warn",
	}
	if os.Getenv("FAULT_BREAK") == "memo" {
		failpoints += ",router.skip-memo=1"
	}
	env = append(env, "CONTACTSYNC_FAILPOINTS="+failpoints)

	run(t, ctx, bin, env, "topics")
	// The same configuration in this process names the topics and groups
	// the processes use, and decodes what they write.
	vars := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	cfg, err := app.ConfigFromEnv(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	pipe, err := app.New(ctx, cfg, zap.NewNop(), obs.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	defer pipe.Close()
	inputs := pipe.Inputs()
	stream := Generate(11, events/10, events)
	t.Logf("stream: %d offline contacts, %d online records; expect %d gifts, %d new donors, %d poison, %d echoes",
		len(stream.Load), len(stream.Flow), len(stream.Expect.Gifts), len(stream.Expect.Creates), len(stream.Expect.Poison), stream.Expect.Echoes)

	logs := t.TempDir()
	var procs []*stageProc
	for _, stage := range []string{"ingest", "matcher", "router", "collector"} {
		for _, replica := range []string{"a", "b"} {
			p := &stageProc{t: t, bin: bin, stage: stage, env: append(env[:len(env):len(env)], "CONTACTSYNC_INSTANCE="+replica), logDir: logs, name: stage + "-" + replica}
			p.start()
			procs = append(procs, p)
		}
	}
	t.Cleanup(func() {
		for _, p := range procs {
			p.stop()
		}
	})

	// waitIdle waits until every stage has committed all its input; if it
	// does not, the failure says where the pipeline is stuck and why.
	waitIdle := func(limit time.Duration, what string) {
		t.Helper()
		waitCtx, cancel := context.WithTimeout(ctx, limit)
		defer cancel()
		if err := kafkaops.WaitIdle(waitCtx, brokers, inputs); err != nil {
			for _, p := range procs {
				t.Logf("%s: %d restarts; log tail:\n%s", p.name, p.restarts(), tail(filepath.Join(logs, p.name+".log"), 20))
			}
			t.Logf("kafka state:\n%s", kafkaops.Diagnose(context.WithoutCancel(ctx), brokers, inputs))
			t.Fatalf("%s did not drain: %v", what, err)
		}
	}

	prod, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordRetries(100), kgo.ProduceRequestTimeout(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	cdc, onlineTopic := cfg.Topics.OfflineCDC, cfg.Topics.OnlineEvents
	produce := func(ins []Input) {
		recs := make([]*kgo.Record, len(ins))
		for i, in := range ins {
			topic := cdc
			if in.Online {
				topic = onlineTopic
			}
			recs[i] = &kgo.Record{Topic: topic, Key: in.Key, Value: in.Value}
		}
		if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	// Point zero: the offline initial load is in before online traffic
	// starts, as in a real go-live (else a donor's first gift could race
	// her offline record and rightly create a new person).
	produce(stream.Load)
	waitIdle(5*time.Minute, "initial load")

	// Faults run while the stream flows in chunks, on a schedule drawn
	// from FAULT_SEED (logged, so a failing schedule can be run again).
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("FAULT_SEED"); v != "" {
		if seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("FAULT_SEED=%q: %v", v, err)
		}
	}
	t.Logf("fault schedule: FAULT_SEED=%d", seed)
	faultsDone := make(chan struct{})
	stopFaults := make(chan struct{})
	go func() {
		defer close(faultsDone)
		rng := rand.New(rand.NewPCG(seed, 1))
		plan := make([]string, 0, kills+2)
		for i := 0; i < kills; i++ {
			plan = append(plan, "kill")
		}
		if harness != "" {
			plan = append(plan, "restart-redis", "restart-kafka")
		}
		rng.Shuffle(len(plan), func(i, j int) { plan[i], plan[j] = plan[j], plan[i] })
		for _, step := range plan {
			select {
			case <-stopFaults:
				return
			case <-time.After(time.Duration(1500+rng.IntN(2500)) * time.Millisecond): // pacing of faults, not synchronisation
			}
			switch step {
			case "kill":
				p := procs[rng.IntN(len(procs))]
				t.Logf("fault: kill -9 %s", p.name)
				p.kill()
				p.start()
			default:
				t.Logf("fault: %s", step)
				if out, err := exec.Command(harness, step).CombinedOutput(); err != nil {
					t.Errorf("%s: %v\n%s", step, err, out)
				}
			}
		}
	}()
	const chunk = 500
	for i := 0; i < len(stream.Flow); i += chunk {
		produce(stream.Flow[i:min(i+chunk, len(stream.Flow))])
	}
	<-faultsDone
	close(stopFaults)

	// Failpoints keep firing while work remains; a crashed process is
	// restarted by its supervisor until the pipeline is idle.
	waitIdle(8*time.Minute, "pipeline")

	codec := pipe.Codec()
	var sinks []contact.SinkRecord
	for _, system := range pipe.Systems() {
		topic := cfg.Topics.Sink(system)
		recs, err := kafkaops.ReadTopic(ctx, brokers, topic)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			s, err := codec.DecodeSink(r.Value)
			if err != nil {
				t.Fatalf("%s: %v", topic, err)
			}
			sinks = append(sinks, s)
		}
	}
	recs, err := kafkaops.ReadTopic(ctx, brokers, cfg.Topics.KickOuts)
	if err != nil {
		t.Fatal(err)
	}
	var kos []contact.KickOut
	for _, r := range recs {
		k, err := codec.DecodeKickOut(r.Value)
		if err != nil {
			t.Fatal(err)
		}
		kos = append(kos, k)
	}
	reasons := map[string]int{}
	for _, k := range kos {
		reasons[k.Stage+" "+k.Reason]++
		if k.Reason == "match.ambiguous" && reasons[k.Stage+" "+k.Reason] <= 3 {
			t.Logf("ambiguous %s: %s", k.Key, k.Explanation)
		}
	}
	t.Logf("kick-outs by stage and reason: %v", reasons)
	restarts := 0
	for _, p := range procs {
		restarts += p.restarts()
	}
	report := Check(stream.Expect, "offline", "online", sinks, kos)
	t.Logf("after %d process restarts (kills and failpoint crashes): %s", restarts, report)
	if !report.OK() {
		t.Fatalf("exactly-once violated: %s", report)
	}
}

// run runs a contactsync command to completion.
func run(t *testing.T, ctx context.Context, bin string, env []string, args ...string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("contactsync %v: %v\n%s", args, err, out)
	}
}

// stageProc supervises one stage process: it restarts it whenever it dies
// (a failpoint crash) until stop.
type stageProc struct {
	t      *testing.T
	bin    string
	stage  string
	name   string
	env    []string
	logDir string

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	stopped bool
	starts  int
}

func (p *stageProc) start() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return
	}
	log, err := os.OpenFile(filepath.Join(p.logDir, p.name+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		p.t.Errorf("log file: %v", err)
		return
	}
	cmd := exec.Command(p.bin, "run", "--stages", p.stage)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		p.t.Errorf("start %s: %v", p.name, err)
		return
	}
	p.starts++
	exited := make(chan struct{})
	p.cmd, p.exited = cmd, exited
	go func() {
		_ = cmd.Wait()
		_ = log.Close()
		close(exited)
		p.mu.Lock()
		again := !p.stopped && p.cmd == cmd
		p.mu.Unlock()
		if again { // died on its own (a failpoint): restart, as a supervisor would
			p.start()
		}
	}()
}

func (p *stageProc) kill() {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-exited
}

func (p *stageProc) stop() {
	p.mu.Lock()
	p.stopped = true
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
}

func (p *stageProc) restarts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.starts - 1
}

// tail returns the last n lines of a process log, for a failure report.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
