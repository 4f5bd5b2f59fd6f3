package app

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/contactsync/contactsync/pkg/avrocodec"
	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/decode"
	"github.com/contactsync/contactsync/pkg/match"
	"github.com/contactsync/contactsync/pkg/normalize"
	"github.com/contactsync/contactsync/pkg/pipeline"
	"github.com/contactsync/contactsync/pkg/pipeline/ingest"
)

func newCodec(ctx context.Context, cfg Config) (*avrocodec.Codec, error) {
	var opts []avrocodec.Option
	if cfg.SchemaRegistryURL != "" {
		ropts, err := registryOptions(cfg)
		if err != nil {
			return nil, err
		}
		cl, err := sr.NewClient(ropts...)
		if err != nil {
			return nil, fmt.Errorf("schema registry: %w", err)
		}
		opts = append(opts, avrocodec.WithRegistry(ctx, cl))
	}
	c, err := avrocodec.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("avro codec: %w", err)
	}
	return c, nil
}

// newDecoders returns the decoder of every input format.
func newDecoders(cfg Config, codec *avrocodec.Codec) (map[string]ingest.Decoder, error) {
	rc, err := loadRules(cfg)
	if err != nil {
		return nil, err
	}
	mapping := rc.Mapping()
	deb, err := decode.NewDebezium(decode.DebeziumConfigFor(cfg.OfflineSystem, mapping.Offline, rc.Fields()))
	if err != nil {
		return nil, fmt.Errorf("debezium decoder: %w", err)
	}
	online, err := newOnlineDecoder(cfg, mapping.Online, rc.Fields())
	if err != nil {
		return nil, err
	}
	return map[string]ingest.Decoder{
		pipeline.FormatDebezium: func(r *kgo.Record) ([]contact.Change, error) {
			return deb.Decode(r.Key, r.Value, r.Topic, r.Partition, r.Offset)
		},
		pipeline.FormatOnline: online,
		pipeline.FormatChange: func(r *kgo.Record) ([]contact.Change, error) {
			c, err := codec.DecodeChange(r.Value)
			if err != nil {
				return nil, &decode.Error{Reason: pipeline.ReasonAvro, Err: err}
			}
			return []contact.Change{c}, nil
		},
	}, nil
}

// topologyOf declares the pipeline of cfg, with one sink topic per target
// system, and refuses one that cannot work (say, a source topic named like
// one of the pipeline's own).
func topologyOf(cfg Config, targets []string) (pipeline.Topology, error) {
	topo := pipeline.NewTopology(pipeline.TopologyConfig{
		Topics:      cfg.Topics,
		GroupPrefix: cfg.GroupPrefix,
		Sources:     sourcesOf(cfg),
		Targets:     targets,
		Appliers:    onlineSystems(cfg),
		Audit:       cfg.Audit,
	})
	if err := topo.Validate(); err != nil {
		return pipeline.Topology{}, fmt.Errorf("topology: %w", err)
	}
	return topo, nil
}

// onlineSystems are the systems written through their API by `contactsync
// apply`: the online system and every system an online source is bound to
// (a platform that sends webhooks takes writes through its API). The other
// targets, the offline system first, are loaded into their database.
func onlineSystems(cfg Config) []string {
	var out []string
	for _, s := range append([]string{cfg.OnlineSystem}, sourceSystems(cfg.OnlineSources)...) {
		if s != "" && s != cfg.OfflineSystem && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// TopologyOf returns the topology of cfg, its target systems read from the
// configured rules, without building the stages.
func TopologyOf(cfg Config) (pipeline.Topology, error) {
	systems, err := RuleSystems(cfg)
	if err != nil {
		return pipeline.Topology{}, err
	}
	return topologyOf(cfg, systems)
}

// newIngest builds the ingest stage of spec: each input topic is decoded in
// the format the topology gives it (the replay topic's records name theirs).

// newOnlineDecoder decodes an online event as the source it came from: the
// topic it was read from, or, for a replay, the topic its first attempt was
// read from (the replay topic is internal and written by the dashboard, so
// its lineage header is trusted as the dashboard is). See README "Trust
// model".
func newOnlineDecoder(cfg Config, keys contact.OnlineMapping, fields *contact.FieldSet) (ingest.Decoder, error) {
	bySource := map[string]*decode.Online{}
	for _, src := range cfg.OnlineSources {
		d, err := decode.NewOnline(decode.OnlineConfig{System: src.System, TrustedOrigins: src.TrustedOrigins,
			Mapping: &keys, Fields: fields})
		if err != nil {
			return nil, fmt.Errorf("online source %s: %w", src.Topic, err)
		}
		bySource[src.Topic] = d
	}
	return func(r *kgo.Record) ([]contact.Change, error) {
		topic := r.Topic
		if topic == cfg.Topics.Replay {
			topic, _ = pipeline.Header(r, pipeline.HeaderSourceTopic)
		}
		d := bySource[topic]
		if d == nil {
			return nil, &decode.Error{Reason: decode.ReasonSystem,
				Err: errors.New("online event from a topic that is not a configured online source")}
		}
		return d.Decode(r.Key, r.Value)
	}, nil
}

func newIngest(cfg Config, spec pipeline.Stage, codec *avrocodec.Codec, m *pipeline.Metrics, systems []string) (*ingest.Stage, error) {
	decoders, err := newDecoders(cfg, codec)
	if err != nil {
		return nil, err
	}
	rc, err := loadRules(cfg)
	if err != nil {
		return nil, err
	}
	var unknown []string
	for _, s := range append([]string{cfg.OfflineSystem}, sourceSystems(cfg.OnlineSources)...) {
		if !slices.Contains(systems, s) && !slices.Contains(unknown, s) {
			unknown = append(unknown, s)
		}
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("ingest: input systems %q are not in the rules (systems: %q)", unknown, systems)
	}
	formats := map[string]string{}
	for _, in := range spec.Inputs {
		if in.Format != pipeline.FormatPerRecord {
			formats[in.Topic] = in.Format
		}
	}
	return ingest.New(ingest.Config{
		Topics:          cfg.Topics,
		Formats:         formats,
		Decoders:        decoders,
		Canonical:       canonicalizer(cfg.DefaultRegion),
		MaxReplays:      cfg.MaxReplays,
		Systems:         systems,
		KickOutMaxBytes: cfg.KickOutMaxBytes,
		Fields:          rc.Fields(),
	}, codec, m)
}

func sourceSystems(sources []OnlineSource) []string {
	out := make([]string, len(sources))
	for i, s := range sources {
		out[i] = s.System
	}
	return out
}

// canonicalizer rejects a change whose supplied values cannot be made
// canonical (an unparseable phone or email): passing it on would spread
// bad data to every system, dropping the field would lose it silently.
// Phone numbers go through a cache: a stream repeats them, and parsing one
// was most of ingest's CPU.
func canonicalizer(region string) ingest.Canonicalizer {
	phones := normalize.NewPhoneCache(100_000)
	return func(v contact.Values) (contact.Values, error) {
		out, problems := phones.Canonical(v, region)
		if len(problems) == 0 {
			return out, nil
		}
		errs := make([]error, len(problems))
		names := make([]string, len(problems))
		for i, p := range problems {
			errs[i] = p
			names[i] = string(p.Field)
		}
		return nil, fmt.Errorf("invalid %s: %w", strings.Join(names, ", "), errors.Join(errs...))
	}
}

// newMatcher builds the matcher from the configured model, or the built-in
// one, with the default link and review thresholds.
func newMatcher(cfg Config) (*match.Matcher, error) {
	var model *match.Model
	var err error
	if cfg.MatchModel == "" {
		model, err = match.DefaultModel()
	} else {
		model, err = match.Load(cfg.MatchModel)
	}
	if err != nil {
		return nil, fmt.Errorf("match model: %w", err)
	}
	m, err := match.NewMatcher(model, match.Options{Thresholds: match.DefaultThresholds()})
	if err != nil {
		return nil, fmt.Errorf("matcher: %w", err)
	}
	return m, nil
}

// sourcesOf lists the outside inputs: the offline CDC topic and every
// configured online source, each bound to its system.
func sourcesOf(cfg Config) []pipeline.Source {
	sources := []pipeline.Source{{Topic: cfg.Topics.OfflineCDC, Format: pipeline.FormatDebezium, System: cfg.OfflineSystem}}
	for _, src := range cfg.OnlineSources {
		sources = append(sources, pipeline.Source{Topic: src.Topic, Format: pipeline.FormatOnline, System: src.System})
	}
	return sources
}
