package app

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/contactsync/contactsync/pkg/obs"
	"github.com/contactsync/contactsync/pkg/pipeline"
)

var updateDocs = flag.Bool("update-docs", false, "rewrite the topology picture in docs/ARCHITECTURE.md")

// defaultApp builds the App of the default configuration; nothing in it
// dials Kafka or Redis.
func defaultApp(t *testing.T) *App {
	t.Helper()
	cfg, err := ConfigFromEnv(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(context.Background(), cfg, zap.NewNop(), obs.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return a
}

// The runner subscribes to the topology's topics; the stages route records
// by their own idea of their inputs. The two must agree.
func TestStagesReadTheTopologysTopics(t *testing.T) {
	a := defaultApp(t)
	topo := a.Topology()
	if !slices.Equal(AllStages, topo.StageNames()) {
		t.Errorf("AllStages %v, topology's stages %v", AllStages, topo.StageNames())
	}
	inputs := a.Inputs()
	if len(inputs) != len(topo.Stages) {
		t.Fatalf("Inputs has %d groups, the topology %d stages", len(inputs), len(topo.Stages))
	}
	for i, spec := range topo.Stages {
		st, err := a.newStage(spec)
		if err != nil {
			t.Fatal(err)
		}
		got, want := slices.Sorted(slices.Values(st.InputTopics())), slices.Sorted(slices.Values(spec.InputTopics()))
		if !slices.Equal(got, want) {
			t.Errorf("stage %s reads %v, the topology says %v", spec.Name, got, want)
		}
		if inputs[i].Group != spec.Group || !slices.Equal(inputs[i].Topics, spec.InputTopics()) {
			t.Errorf("Inputs()[%d] = %+v, want group %s topics %v", i, inputs[i], spec.Group, spec.InputTopics())
		}
	}
	for _, system := range a.Systems() {
		if _, ok := topo.Loader(system); !ok {
			t.Errorf("target system %s has no loader in the topology", system)
		}
		if !slices.Contains(a.Topics(), a.SinkTopic(system)) {
			t.Errorf("Topics lacks the sink topic of %s", system)
		}
	}
}

const (
	docBegin = "<!-- topology:begin (generated: cd pkg && go test ./app -run TestArchitectureDoc -update-docs) -->"
	docEnd   = "<!-- topology:end -->"
)

// docs/ARCHITECTURE.md shows the topology of the default configuration as
// the code declares it.
func TestArchitectureDocShowsTheTopology(t *testing.T) {
	path := filepath.Join("..", "..", "docs", "ARCHITECTURE.md")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	want := docBegin + "\n```mermaid\n" + defaultApp(t).Topology().Mermaid() + "```\n" + docEnd
	begin, end := strings.Index(doc, docBegin), strings.Index(doc, docEnd)
	if begin < 0 || end < begin {
		t.Fatalf("%s has no %q ... %q block", path, docBegin, docEnd)
	}
	if got := doc[begin : end+len(docEnd)]; got == want {
		return
	}
	if !*updateDocs {
		t.Fatalf("%s shows another topology than the code declares; run with -update-docs", path)
	}
	if err := os.WriteFile(path, []byte(doc[:begin]+want+doc[end+len(docEnd):]), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Which command writes a target's sink topic comes from the configuration:
// the online systems (the online system and those online sources are bound
// to) are applied through their API, every other target is delivered. Each
// command takes its group and topic from the topology, and refuses a
// system of the other kind.
func TestLoaderKindsFromConfiguration(t *testing.T) {
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	cfg, err := ConfigFromEnv(env(map[string]string{"CONTACTSYNC_GROUP_PREFIX": "cs", "CONTACTSYNC_TOPIC_PREFIX": "x."}))
	if err != nil {
		t.Fatal(err)
	}
	topo, spec, err := applierOf(cfg, "online")
	if err != nil || spec.Name != "apply-online" || spec.Group != "cs-apply-online" || spec.InputTopics()[0] != "x.sink.online" || topo.Topics.KickOuts != "x.kickouts" {
		t.Errorf("applier of online: %+v, %v", spec, err)
	}
	if l, ok := topo.Loader("offline"); !ok || l.Kind != pipeline.LoaderDeliver || l.Group != "cs-deliver-offline" {
		t.Errorf("loader of offline: %+v %v", l, ok)
	}
	if _, _, err := applierOf(cfg, "offline"); err == nil || !strings.Contains(err.Error(), "contactsync deliver or apply-offline") {
		t.Errorf("apply for the offline system: %v", err)
	}
	if _, _, err := applierOf(cfg, "erp"); err == nil || !strings.Contains(err.Error(), "not a system of the rules") {
		t.Errorf("apply for an unknown system: %v", err)
	}
	err = RunDeliver(context.Background(), env(map[string]string{EnvDeliverSystem: "online", EnvDeliverDSN: "postgres://127.0.0.1:1/none"}))
	if err == nil || !strings.Contains(err.Error(), "contactsync apply") {
		t.Errorf("deliver for the online system: %v", err)
	}

	// a second online platform bound to its own events topic is applied too
	cfg, err = ConfigFromEnv(env(map[string]string{EnvOnlineSources: "contactsync.online.events=online;contactsync.ecrm.events=ecrm"}))
	if err != nil {
		t.Fatal(err)
	}
	if got := onlineSystems(cfg); !slices.Equal(got, []string{"online", "ecrm"}) {
		t.Errorf("online systems %v", got)
	}
}
