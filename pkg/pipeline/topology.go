package pipeline

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/contactsync/contactsync/schemas"
)

// The topology is declared here once, as data: which stage reads which
// topic in which format, and what it writes. The wiring, `contactsync
// topics`, the dashboard (to know how to decode a kick-out's record) and the
// tests that wait for the pipeline to be idle all read it.

// Stage names: in logs, metrics, kick-outs and consumer groups
// (<group prefix>-<name>).
const (
	StageIngest    = "ingest"
	StageMatcher   = "matcher"
	StageRouter    = "router"
	StageCollector = "collector"
	// StageReview is the kick-out dashboard and CLI: people fix records and
	// approve held changes, which go back in through the replay topic.
	StageReview = "review"
	// StageHistory is `contactsync history` (and the dashboard's person
	// page): it reads the audit topic from the start, with no group.
	StageHistory = "history"
	// StageDeliverPrefix + system is the loader of one target system's
	// sink topic into its database (`contactsync deliver` into a staging
	// table, `contactsync apply-offline` into its own tables or files).
	StageDeliverPrefix = "deliver-"
	// StageApplyPrefix + system is the applier of one online system's sink
	// topic to its platform's API (`contactsync apply`).
	StageApplyPrefix = "apply-"
)

// Loader kinds: what writes a target system's sink topic into the system.
const (
	// LoaderDeliver loads the sink topic in delivery windows into the
	// system's database (contactsync deliver, apply-offline).
	LoaderDeliver = "deliver"
	// LoaderApply writes the sink topic to the system's API as records
	// come (contactsync apply): an online platform.
	LoaderApply = "apply"
)

// Formats of the records on the topics; FormatDebezium, FormatOnline and
// FormatChange are also the values of HeaderFormat on replayed records.
const (
	FormatDebezium = "debezium-json"
	FormatOnline   = "online-json"
	FormatChange   = "contactchange-avro"
	FormatMatched  = "matchedchange-avro"
	FormatSink     = "sinkrecord-avro"
	FormatKickOut  = "kickout-avro"
	FormatReview   = "reviewitem-avro"
	FormatAudit    = "auditrecord-avro"
	// FormatPerRecord: each record names its own format in HeaderFormat
	// (the replay topic carries records of several formats).
	FormatPerRecord = "per-record"
)

// Encodings of the formats.
const (
	EncodingJSON = "json" // outside input, read by pkg/decode
	EncodingAvro = "avro" // the pipeline's own records, Confluent wire format (pkg/avrocodec)
)

// FormatSpec says how records of a format are encoded.
type FormatSpec struct {
	Encoding string
	Schema   string // Avro formats: the record schema (schemas.ContactChange...)
}

var formatSpecs = map[string]FormatSpec{
	FormatDebezium: {Encoding: EncodingJSON},
	FormatOnline:   {Encoding: EncodingJSON},
	FormatChange:   {Encoding: EncodingAvro, Schema: schemas.ContactChange},
	FormatMatched:  {Encoding: EncodingAvro, Schema: schemas.MatchedChange},
	FormatSink:     {Encoding: EncodingAvro, Schema: schemas.SinkRecord},
	FormatKickOut:  {Encoding: EncodingAvro, Schema: schemas.KickOut},
	FormatReview:   {Encoding: EncodingAvro, Schema: schemas.ReviewItem},
	FormatAudit:    {Encoding: EncodingAvro, Schema: schemas.AuditRecord},
}

// Spec returns how records of format are encoded; false for an unknown
// format and for FormatPerRecord.
func Spec(format string) (FormatSpec, bool) {
	s, ok := formatSpecs[format]
	return s, ok
}

// Replayable reports whether a record of format can be put back on the
// replay topic: outside input as it came, or a canonical change (a matched
// change is replayed as the change it carries).
func Replayable(format string) bool {
	switch format {
	case FormatDebezium, FormatOnline, FormatChange, FormatMatched:
		return true
	}
	return false
}

// Source is a topic an outside system writes and ingest reads.
type Source struct {
	Topic  string
	Format string
	System string // the system whose records arrive on Topic
}

// InputTopic is a topic a stage reads.
type InputTopic struct {
	Topic  string
	Format string // FormatPerRecord: read HeaderFormat
	System string // outside input: the system it comes from
}

// OutputTopic is a topic a stage writes.
type OutputTopic struct {
	Topic  string
	Format string
	System string // sink topics: the target system
}

// Stage is one consumer of the topology: its consumer group, what it reads
// and what it writes.
type Stage struct {
	Name    string
	Group   string // "" for the review tools, which read no topic
	Inputs  []InputTopic
	Outputs []OutputTopic
	// Kind is a loader's kind (LoaderDeliver, LoaderApply); "" for the
	// other stages.
	Kind string
}

// InputTopics are the topics the stage consumes, in declared order.
func (s Stage) InputTopics() []string {
	out := make([]string, len(s.Inputs))
	for i, in := range s.Inputs {
		out[i] = in.Topic
	}
	return out
}

// Input returns the stage's input on topic.
func (s Stage) Input(topic string) (InputTopic, bool) {
	for _, in := range s.Inputs {
		if in.Topic == topic {
			return in, true
		}
	}
	return InputTopic{}, false
}

// TopologyConfig is what the topology is built from.
type TopologyConfig struct {
	Topics      Topics
	GroupPrefix string
	// Sources are the outside input topics, each with its format and
	// system (DefaultSources: the offline CDC and online events topics).
	Sources []Source
	// Targets are the target systems, one sink topic each.
	Targets []string
	// Appliers are the targets written through their API by `contactsync
	// apply` (the online systems); every other target is loaded by
	// `contactsync deliver` or `apply-offline`.
	Appliers []string
	// Audit is how long the broker keeps the audit topic, and whether it
	// compacts it (the operator's choice; zero: the broker's defaults).
	Audit TopicPolicy
}

// TopicPolicy is how the broker keeps a topic's records. Zero fields leave
// the broker's defaults.
type TopicPolicy struct {
	// Cleanup is the topic's cleanup.policy: "delete", "compact" or
	// "compact,delete".
	Cleanup string
	// Retention is retention.ms; negative: forever.
	Retention time.Duration
}

// Configs are the topic configs of the policy, as Kafka names them.
func (p TopicPolicy) Configs() map[string]*string {
	out := map[string]*string{}
	if p.Cleanup != "" {
		v := p.Cleanup
		out["cleanup.policy"] = &v
	}
	switch {
	case p.Retention < 0:
		v := "-1"
		out["retention.ms"] = &v
	case p.Retention > 0:
		v := strconv.FormatInt(p.Retention.Milliseconds(), 10)
		out["retention.ms"] = &v
	}
	return out
}

// DefaultSources are the outside inputs of Topics: the offline system's
// Debezium topic and the online system's webhook events topic.
func DefaultSources(t Topics, offlineSystem, onlineSystem string) []Source {
	return []Source{
		{Topic: t.OfflineCDC, Format: FormatDebezium, System: offlineSystem},
		{Topic: t.OnlineEvents, Format: FormatOnline, System: onlineSystem},
	}
}

// Topology is the pipeline's graph of topics and stages.
type Topology struct {
	Topics  Topics
	Sources []Source
	// Stages are the stream stages (`contactsync run`), in pipeline order.
	Stages []Stage
	// Loaders write each target system's sink topic into the system, one
	// per system: a deliver or an apply loader (Stage.Kind).
	Loaders []Stage
	// Review is the kick-out dashboard and CLI.
	Review Stage
	// History reads the audit topic (`contactsync history`).
	History Stage
	// Policies are the topics created with configs of their own.
	Policies map[string]TopicPolicy
}

// NewTopology declares the pipeline: every stage with its group, the topics
// it reads with their formats, and the topics it writes.
func NewTopology(cfg TopologyConfig) Topology {
	t := cfg.Topics
	group := func(name string) string { return cfg.GroupPrefix + "-" + name }
	kickOuts := OutputTopic{Topic: t.KickOuts, Format: FormatKickOut}

	ingestIn := make([]InputTopic, 0, len(cfg.Sources)+1)
	for _, s := range cfg.Sources {
		ingestIn = append(ingestIn, InputTopic(s))
	}
	ingestIn = append(ingestIn, InputTopic{Topic: t.Replay, Format: FormatPerRecord})

	var sinks []OutputTopic
	var loaders []Stage
	for _, sys := range cfg.Targets {
		sink := OutputTopic{Topic: t.Sink(sys), Format: FormatSink, System: sys}
		sinks = append(sinks, sink)
		kind, prefix := LoaderDeliver, StageDeliverPrefix
		if slices.Contains(cfg.Appliers, sys) {
			kind, prefix = LoaderApply, StageApplyPrefix
		}
		loaders = append(loaders, Stage{
			Name:    prefix + sys,
			Group:   group(prefix + sys),
			Inputs:  []InputTopic{{Topic: sink.Topic, Format: FormatSink, System: sys}},
			Outputs: []OutputTopic{kickOuts},
			Kind:    kind,
		})
	}

	return Topology{
		Topics:  t,
		Sources: slices.Clone(cfg.Sources),
		Stages: []Stage{
			{Name: StageIngest, Group: group(StageIngest), Inputs: ingestIn,
				Outputs: []OutputTopic{{Topic: t.Changes, Format: FormatChange}, kickOuts}},
			{Name: StageMatcher, Group: group(StageMatcher), Inputs: []InputTopic{{Topic: t.Changes, Format: FormatChange}},
				Outputs: []OutputTopic{{Topic: t.Matched, Format: FormatMatched}, kickOuts}},
			{Name: StageRouter, Group: group(StageRouter), Inputs: []InputTopic{{Topic: t.Matched, Format: FormatMatched}},
				Outputs: append(sinks, OutputTopic{Topic: t.Review, Format: FormatReview}, OutputTopic{Topic: t.Audit, Format: FormatAudit}, kickOuts)},
			{Name: StageCollector, Group: group(StageCollector),
				Inputs: []InputTopic{{Topic: t.KickOuts, Format: FormatKickOut}, {Topic: t.Review, Format: FormatReview}}},
		},
		Loaders:  loaders,
		Review:   Stage{Name: StageReview, Outputs: []OutputTopic{{Topic: t.Replay, Format: FormatPerRecord}}},
		History:  Stage{Name: StageHistory, Inputs: []InputTopic{{Topic: t.Audit, Format: FormatAudit}}},
		Policies: map[string]TopicPolicy{t.Audit: cfg.Audit},
	}
}

// TopicConfigs are the configs to create each topic with (nil: the
// broker's defaults).
func (t Topology) TopicConfigs(topic string) map[string]*string {
	p, ok := t.Policies[topic]
	if !ok {
		return nil
	}
	return p.Configs()
}

// DefaultTopology is the topology of DefaultTopics with the offline and
// online systems as sources and targets, the online one applied through
// its API.
func DefaultTopology() Topology {
	t := DefaultTopics()
	return NewTopology(TopologyConfig{Topics: t, GroupPrefix: "contactsync",
		Sources: DefaultSources(t, "offline", "online"), Targets: []string{"offline", "online"}, Appliers: []string{"online"}})
}

// StageNames are the stream stages' names, in pipeline order.
func (t Topology) StageNames() []string {
	names := make([]string, len(t.Stages))
	for i, s := range t.Stages {
		names[i] = s.Name
	}
	return names
}

// Stage returns the stream stage called name.
func (t Topology) Stage(name string) (Stage, bool) {
	i := slices.IndexFunc(t.Stages, func(s Stage) bool { return s.Name == name })
	if i < 0 {
		return Stage{}, false
	}
	return t.Stages[i], true
}

// Loader returns the loader of target system's sink topic, of either kind.
func (t Topology) Loader(system string) (Stage, bool) {
	i := slices.IndexFunc(t.Loaders, func(s Stage) bool { return s.Inputs[0].System == system })
	if i < 0 {
		return Stage{}, false
	}
	return t.Loaders[i], true
}

// nodes are every stage, loader, the review tools and the history reader.
func (t Topology) nodes() []Stage {
	return append(append(slices.Clone(t.Stages), t.Loaders...), t.Review, t.History)
}

// AllTopics returns every topic the pipeline uses, each once: the sources,
// then what the stages, loaders and review tools read and write.
func (t Topology) AllTopics() []string {
	var all []string
	add := func(topic string) {
		if !slices.Contains(all, topic) {
			all = append(all, topic)
		}
	}
	for _, s := range t.Sources {
		add(s.Topic)
	}
	for _, n := range t.nodes() {
		for _, in := range n.Inputs {
			add(in.Topic)
		}
		for _, out := range n.Outputs {
			add(out.Topic)
		}
	}
	return all
}

// FormatOf returns the format of the records on topic, as its readers
// declare it (FormatPerRecord for the replay topic).
func (t Topology) FormatOf(topic string) (InputTopic, bool) {
	for _, n := range t.nodes() {
		if in, ok := n.Input(topic); ok {
			return in, true
		}
	}
	return InputTopic{}, false
}

// Validate reports a topology that cannot work: an unnamed topic, a topic
// read but written by nothing, a topic that carries two formats, an outside
// source that a stage also writes.
func (t Topology) Validate() error {
	var errs []error
	carries := map[string]string{} // topic -> format of its records
	put := func(who, topic, format string) {
		f, ok := carries[topic]
		switch {
		case topic == "":
			errs = append(errs, fmt.Errorf("%s: a topic has no name", who))
		case ok && f != format:
			errs = append(errs, fmt.Errorf("topic %q carries %s and %s: give each its own topic", topic, f, format))
		default:
			carries[topic] = format
		}
	}
	source := map[string]bool{}
	for _, s := range t.Sources {
		if spec, ok := Spec(s.Format); !ok || spec.Encoding != EncodingJSON {
			errs = append(errs, fmt.Errorf("source %q: %q is not an outside input format", s.Topic, s.Format))
		}
		if source[s.Topic] {
			errs = append(errs, fmt.Errorf("source %q is declared twice", s.Topic))
		}
		source[s.Topic] = true
		put("source of "+s.System, s.Topic, s.Format)
	}
	for _, n := range t.nodes() {
		for _, out := range n.Outputs {
			if source[out.Topic] {
				errs = append(errs, fmt.Errorf("topic %q is an outside source, yet %s writes it", out.Topic, n.Name))
				continue
			}
			put(n.Name, out.Topic, out.Format)
		}
	}
	for _, n := range t.nodes() {
		for _, in := range n.Inputs {
			f, ok := carries[in.Topic]
			switch {
			case in.Topic == "":
				errs = append(errs, fmt.Errorf("%s: an input topic has no name", n.Name))
			case !ok:
				errs = append(errs, fmt.Errorf("%s reads %q, which nothing writes", n.Name, in.Topic))
			case f != in.Format:
				errs = append(errs, fmt.Errorf("%s reads %q as %s, but it carries %s", n.Name, in.Topic, in.Format, f))
			}
		}
	}
	return errors.Join(errs...)
}

// WriteText lists the topology stage by stage: what each reads and writes.
func (t Topology) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "outside sources")
	for _, s := range t.Sources {
		fmt.Fprintf(tw, "  %s system writes\t%s\t%s\n", s.System, s.Topic, s.Format)
	}
	for _, n := range t.nodes() {
		switch {
		case n.Kind == LoaderDeliver:
			fmt.Fprintf(tw, "%s (contactsync deliver or apply-offline, consumer group %s)\n", n.Name, n.Group)
		case n.Kind == LoaderApply:
			fmt.Fprintf(tw, "%s (contactsync apply, consumer group %s)\n", n.Name, n.Group)
		case n.Group != "":
			fmt.Fprintf(tw, "%s (consumer group %s)\n", n.Name, n.Group)
		case n.Name == StageHistory:
			fmt.Fprintf(tw, "%s (contactsync history: reads from the start, no group)\n", n.Name)
		default:
			fmt.Fprintf(tw, "%s (kick-out dashboard and CLI)\n", n.Name)
		}
		for _, in := range n.Inputs {
			fmt.Fprintf(tw, "  reads\t%s\t%s\n", in.Topic, describe(in.Format, in.System))
		}
		for _, out := range n.Outputs {
			fmt.Fprintf(tw, "  writes\t%s\t%s%s\n", out.Topic, describe(out.Format, out.System), describePolicy(t.Policies[out.Topic]))
		}
	}
	return tw.Flush()
}

func describePolicy(p TopicPolicy) string {
	var parts []string
	if p.Cleanup != "" {
		parts = append(parts, "cleanup.policy="+p.Cleanup)
	}
	switch {
	case p.Retention < 0:
		parts = append(parts, "kept forever")
	case p.Retention > 0:
		parts = append(parts, "retention "+p.Retention.String())
	}
	if len(parts) == 0 {
		return ""
	}
	return " [" + strings.Join(parts, ", ") + "]"
}

func describe(format, system string) string {
	if system == "" {
		return format
	}
	return format + " (" + system + ")"
}

// Mermaid draws the topology as a mermaid flowchart: stages as boxes,
// topics as rounded nodes labelled with their format.
func (t Topology) Mermaid() string {
	var b strings.Builder
	b.WriteString("flowchart LR\n")
	ids := map[string]string{}
	id := func(topic string) string {
		if v, ok := ids[topic]; ok {
			return v
		}
		v := fmt.Sprintf("t%d", len(ids)+1)
		ids[topic] = v
		return v
	}
	formats := map[string]string{}
	for _, s := range t.Sources {
		formats[s.Topic] = s.Format
	}
	for _, n := range t.nodes() {
		for _, out := range n.Outputs {
			formats[out.Topic] = out.Format
		}
	}
	for _, topic := range t.AllTopics() {
		fmt.Fprintf(&b, "  %s([\"%s<br/><i>%s</i>\"])\n", id(topic), topic, formats[topic])
	}
	for _, s := range t.Sources {
		fmt.Fprintf(&b, "  src_%s>\"%s system\"] --> %s\n", mermaidID(s.System), s.System, id(s.Topic))
	}
	for _, n := range t.nodes() {
		nid := mermaidID(n.Name)
		fmt.Fprintf(&b, "  %s[\"%s\"]\n", nid, n.Name)
		for _, in := range n.Inputs {
			fmt.Fprintf(&b, "  %s --> %s\n", id(in.Topic), nid)
		}
		for _, out := range n.Outputs {
			fmt.Fprintf(&b, "  %s --> %s\n", nid, id(out.Topic))
		}
	}
	for _, l := range t.Loaders {
		sys := l.Inputs[0].System
		if l.Kind == LoaderApply {
			fmt.Fprintf(&b, "  %s --> dst_%s[/\"%s platform API\"/]\n", mermaidID(l.Name), mermaidID(sys), sys)
			continue
		}
		fmt.Fprintf(&b, "  %s --> dst_%s[(\"%s staging table\")]\n", mermaidID(l.Name), mermaidID(sys), sys)
	}
	fmt.Fprintf(&b, "  %s -. kick-out store .-> %s\n", StageCollector, mermaidID(StageReview))
	return b.String()
}

func mermaidID(name string) string {
	return strings.NewReplacer("-", "_", ".", "_", " ", "_").Replace(name)
}
