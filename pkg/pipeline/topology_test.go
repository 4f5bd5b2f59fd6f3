package pipeline

import (
	"bytes"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/contactsync/contactsync/schemas"
)

func TestDefaultTopology(t *testing.T) {
	topo := DefaultTopology()
	if err := topo.Validate(); err != nil {
		t.Fatalf("default topology is invalid: %v", err)
	}
	const (
		cdc      = "contactsync.offline.cdc"
		online   = "contactsync.online.events"
		replay   = "contactsync.replay"
		changes  = "contactsync.changes"
		matched  = "contactsync.matched"
		kickOuts = "contactsync.kickouts"
		review   = "contactsync.review"
		audit    = "contactsync.audit"
		sinkOff  = "contactsync.sink.offline"
		sinkOn   = "contactsync.sink.online"
	)
	in := func(topic, format, system string) InputTopic {
		return InputTopic{Topic: topic, Format: format, System: system}
	}
	out := func(topic, format, system string) OutputTopic {
		return OutputTopic{Topic: topic, Format: format, System: system}
	}
	ko := out(kickOuts, FormatKickOut, "")
	for _, tc := range []struct {
		stage   Stage
		group   string
		inputs  []InputTopic
		outputs []OutputTopic
	}{
		{topo.Stages[0], "contactsync-ingest",
			[]InputTopic{in(cdc, FormatDebezium, "offline"), in(online, FormatOnline, "online"), in(replay, FormatPerRecord, "")},
			[]OutputTopic{out(changes, FormatChange, ""), ko}},
		{topo.Stages[1], "contactsync-matcher",
			[]InputTopic{in(changes, FormatChange, "")},
			[]OutputTopic{out(matched, FormatMatched, ""), ko}},
		{topo.Stages[2], "contactsync-router",
			[]InputTopic{in(matched, FormatMatched, "")},
			[]OutputTopic{out(sinkOff, FormatSink, "offline"), out(sinkOn, FormatSink, "online"), out(review, FormatReview, ""), out(audit, FormatAudit, ""), ko}},
		{topo.Stages[3], "contactsync-collector",
			[]InputTopic{in(kickOuts, FormatKickOut, ""), in(review, FormatReview, "")},
			nil},
		{topo.Loaders[0], "contactsync-deliver-offline",
			[]InputTopic{in(sinkOff, FormatSink, "offline")}, []OutputTopic{ko}},
		{topo.Loaders[1], "contactsync-apply-online",
			[]InputTopic{in(sinkOn, FormatSink, "online")}, []OutputTopic{ko}},
		{topo.Review, "", nil, []OutputTopic{out(replay, FormatPerRecord, "")}},
		{topo.History, "", []InputTopic{in(audit, FormatAudit, "")}, nil},
	} {
		s := tc.stage
		if s.Group != tc.group || !slices.Equal(s.Inputs, tc.inputs) || !slices.Equal(s.Outputs, tc.outputs) {
			t.Errorf("%s:\n got group %q reads %v writes %v\nwant group %q reads %v writes %v",
				s.Name, s.Group, s.Inputs, s.Outputs, tc.group, tc.inputs, tc.outputs)
		}
	}
	if got, want := topo.StageNames(), []string{StageIngest, StageMatcher, StageRouter, StageCollector}; !slices.Equal(got, want) {
		t.Errorf("stage order %v, want %v", got, want)
	}
	// the offline system is loaded into its database, the online one
	// written to its platform's API
	for system, want := range map[string]string{"offline": "deliver-offline " + LoaderDeliver, "online": "apply-online " + LoaderApply} {
		if l, ok := topo.Loader(system); !ok || l.Name+" "+l.Kind != want {
			t.Errorf("loader of %s: %q %v, want %q", system, l.Name+" "+l.Kind, ok, want)
		}
	}
}

// Every topic a stage reads is written by a stage or comes from outside,
// and every topic the pipeline writes is read by someone: checked here
// without Validate, so that a bug in Validate cannot hide one.
func TestDefaultTopologyIsConnected(t *testing.T) {
	topo := DefaultTopology()
	written, read := map[string]bool{}, map[string]bool{}
	for _, s := range topo.Sources {
		written[s.Topic] = true
	}
	for _, n := range topo.nodes() {
		for _, out := range n.Outputs {
			written[out.Topic] = true
		}
		for _, in := range n.Inputs {
			read[in.Topic] = true
		}
	}
	for topic := range read {
		if !written[topic] {
			t.Errorf("%s is read but neither written by a stage nor an outside source", topic)
		}
	}
	for topic := range written {
		if !read[topic] {
			t.Errorf("%s is written but no stage reads it", topic)
		}
	}
	all := topo.AllTopics()
	if len(all) != len(written) {
		t.Errorf("AllTopics %v has %d topics, the graph %d", all, len(all), len(written))
	}
	for _, topic := range all {
		if !written[topic] {
			t.Errorf("AllTopics lists %s, which is not in the graph", topic)
		}
	}
}

func TestTopologySeveralSources(t *testing.T) {
	tp := DefaultTopics()
	sources := append(DefaultSources(tp, "crm", "shop"),
		Source{Topic: "contactsync.online.ecrm", Format: FormatOnline, System: "ecrm"})
	topo := NewTopology(TopologyConfig{Topics: tp, GroupPrefix: "g", Sources: sources, Targets: []string{"crm", "ecrm"}, Appliers: []string{"ecrm", "shop"}})
	if err := topo.Validate(); err != nil {
		t.Fatal(err)
	}
	ingest, _ := topo.Stage(StageIngest)
	want := []string{tp.OfflineCDC, tp.OnlineEvents, "contactsync.online.ecrm", tp.Replay}
	if got := ingest.InputTopics(); !slices.Equal(got, want) {
		t.Errorf("ingest reads %v, want %v", got, want)
	}
	if in, ok := topo.FormatOf("contactsync.online.ecrm"); !ok || in.Format != FormatOnline || in.System != "ecrm" {
		t.Errorf("FormatOf the third source: %+v %v", in, ok)
	}
	if _, ok := topo.Loader("shop"); ok {
		t.Error("a loader for a system that is no target")
	}
	if l, ok := topo.Loader("crm"); !ok || l.Group != "g-deliver-crm" || l.Kind != LoaderDeliver || l.InputTopics()[0] != "contactsync.sink.crm" {
		t.Errorf("crm loader %+v %v", l, ok)
	}
	if l, ok := topo.Loader("ecrm"); !ok || l.Name != "apply-ecrm" || l.Group != "g-apply-ecrm" || l.Kind != LoaderApply || l.InputTopics()[0] != "contactsync.sink.ecrm" {
		t.Errorf("ecrm applier %+v %v", l, ok)
	}
}

func TestFormatOf(t *testing.T) {
	topo := DefaultTopology()
	tp := topo.Topics
	for _, tc := range []struct {
		topic, format, system string
		ok                    bool
	}{
		{tp.OfflineCDC, FormatDebezium, "offline", true},
		{tp.OnlineEvents, FormatOnline, "online", true},
		{tp.Replay, FormatPerRecord, "", true},
		{tp.Changes, FormatChange, "", true},
		{tp.Matched, FormatMatched, "", true},
		{tp.KickOuts, FormatKickOut, "", true},
		{tp.Review, FormatReview, "", true},
		{tp.Audit, FormatAudit, "", true},
		{tp.Sink("online"), FormatSink, "online", true},
		{"elsewhere", "", "", false},
	} {
		in, ok := topo.FormatOf(tc.topic)
		if ok != tc.ok || in.Format != tc.format || in.System != tc.system {
			t.Errorf("FormatOf(%s) = %+v, %v", tc.topic, in, ok)
		}
	}
}

func TestValidateRefuses(t *testing.T) {
	tp := DefaultTopics()
	build := func(edit func(*TopologyConfig)) Topology {
		cfg := TopologyConfig{Topics: tp, GroupPrefix: "g", Sources: DefaultSources(tp, "offline", "online"), Targets: []string{"offline"}}
		edit(&cfg)
		return NewTopology(cfg)
	}
	for _, tc := range []struct {
		name string
		topo Topology
		want string
	}{
		{"source named like an internal topic", build(func(c *TopologyConfig) { c.Sources[1].Topic = tp.Changes }),
			"outside source, yet ingest writes it"},
		{"two topics share a name", build(func(c *TopologyConfig) { c.Topics.Matched = tp.Changes }),
			"carries"},
		{"source in an internal format", build(func(c *TopologyConfig) { c.Sources[0].Format = FormatChange }),
			"not an outside input format"},
		{"source declared twice", build(func(c *TopologyConfig) { c.Sources = append(c.Sources, c.Sources[0]) }),
			"declared twice"},
		{"unnamed topic", build(func(c *TopologyConfig) { c.Topics.Review = "" }),
			"no name"},
		{"a topic nothing writes", func() Topology {
			topo := build(func(*TopologyConfig) {})
			topo.Review.Outputs = nil
			return topo
		}(), "which nothing writes"},
	} {
		err := tc.topo.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error with %q", tc.name, err, tc.want)
		}
	}
}

func TestReplayable(t *testing.T) {
	for format, want := range map[string]bool{
		FormatDebezium: true, FormatOnline: true, FormatChange: true, FormatMatched: true,
		FormatSink: false, FormatKickOut: false, FormatReview: false, FormatAudit: false, FormatPerRecord: false, "csv": false,
	} {
		if Replayable(format) != want {
			t.Errorf("Replayable(%s) = %v", format, !want)
		}
	}
}

func TestWriteTextAndMermaidNameEveryTopic(t *testing.T) {
	topo := DefaultTopology()
	var text bytes.Buffer
	if err := topo.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	mermaid := topo.Mermaid()
	for _, topic := range topo.AllTopics() {
		if !strings.Contains(text.String(), topic) {
			t.Errorf("text listing lacks %s", topic)
		}
		if !strings.Contains(mermaid, topic) {
			t.Errorf("mermaid picture lacks %s", topic)
		}
	}
	for _, n := range topo.nodes() {
		if !strings.Contains(text.String(), n.Name+" (") {
			t.Errorf("text listing lacks stage %s", n.Name)
		}
	}
	for _, want := range []string{"apply-online (contactsync apply, consumer group contactsync-apply-online)",
		"deliver-offline (contactsync deliver or apply-offline, consumer group contactsync-deliver-offline)"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text listing lacks %q", want)
		}
	}
	if !strings.Contains(mermaid, `apply_online --> dst_online[/"online platform API"/]`) {
		t.Errorf("mermaid picture does not show the applier writing to the online platform's API:\n%s", mermaid)
	}
}

func TestEveryFormatHasAnEncoding(t *testing.T) {
	for _, format := range []string{FormatDebezium, FormatOnline, FormatChange, FormatMatched, FormatSink, FormatKickOut, FormatReview, FormatAudit} {
		spec, ok := Spec(format)
		switch {
		case !ok:
			t.Errorf("%s has no spec", format)
		case spec.Encoding == EncodingAvro:
			if _, err := schemas.Resolve(spec.Schema); err != nil {
				t.Errorf("%s: schema %q: %v", format, spec.Schema, err)
			}
		case spec.Encoding != EncodingJSON:
			t.Errorf("%s: encoding %q", format, spec.Encoding)
		}
	}
	if _, ok := Spec(FormatPerRecord); ok {
		t.Error("per-record has a spec of its own")
	}
}

// The audit topic is created with the operator's retention and cleanup
// policy; the other topics with the broker's defaults.
func TestAuditTopicPolicy(t *testing.T) {
	tp := DefaultTopics()
	for _, tc := range []struct {
		policy TopicPolicy
		want   map[string]string
	}{
		{TopicPolicy{}, map[string]string{}},
		{TopicPolicy{Cleanup: "delete", Retention: 90 * 24 * time.Hour}, map[string]string{"cleanup.policy": "delete", "retention.ms": "7776000000"}},
		{TopicPolicy{Cleanup: "compact,delete", Retention: -1}, map[string]string{"cleanup.policy": "compact,delete", "retention.ms": "-1"}},
	} {
		topo := NewTopology(TopologyConfig{Topics: tp, GroupPrefix: "g", Sources: DefaultSources(tp, "offline", "online"),
			Targets: []string{"offline"}, Audit: tc.policy})
		got := map[string]string{}
		for k, v := range topo.TopicConfigs(tp.Audit) {
			got[k] = *v
		}
		if !maps.Equal(got, tc.want) {
			t.Errorf("%+v: audit topic configs %v, want %v", tc.policy, got, tc.want)
		}
		if c := topo.TopicConfigs(tp.Matched); c != nil {
			t.Errorf("matched topic has configs %v", c)
		}
	}
}
