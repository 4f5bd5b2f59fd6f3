package app

import (
	"context"
	"errors"
	"fmt"
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
	deb, err := decode.NewDebezium(decode.DebeziumConfig{System: cfg.OfflineSystem})
	if err != nil {
		return nil, fmt.Errorf("debezium decoder: %w", err)
	}
	onl, err := decode.NewOnline(decode.OnlineConfig{System: cfg.OnlineSystem})
	if err != nil {
		return nil, fmt.Errorf("online decoder: %w", err)
	}
	return map[string]ingest.Decoder{
		pipeline.FormatDebezium: func(r *kgo.Record) ([]contact.Change, error) {
			return deb.Decode(r.Key, r.Value, r.Topic, r.Partition, r.Offset)
		},
		pipeline.FormatOnline: func(r *kgo.Record) ([]contact.Change, error) {
			return onl.Decode(r.Key, r.Value)
		},
		pipeline.FormatChange: func(r *kgo.Record) ([]contact.Change, error) {
			c, err := codec.DecodeChange(r.Value)
			if err != nil {
				return nil, &decode.Error{Reason: pipeline.ReasonAvro, Err: err}
			}
			return []contact.Change{c}, nil
		},
	}, nil
}

func newIngest(cfg Config, codec *avrocodec.Codec, m *pipeline.Metrics) (*ingest.Stage, error) {
	decoders, err := newDecoders(cfg, codec)
	if err != nil {
		return nil, err
	}
	return ingest.New(ingest.Config{
		Topics: cfg.Topics,
		Formats: map[string]string{
			cfg.Topics.OfflineCDC:   pipeline.FormatDebezium,
			cfg.Topics.OnlineEvents: pipeline.FormatOnline,
		},
		Decoders:   decoders,
		Canonical:  canonicalizer(cfg.DefaultRegion),
		MaxReplays: cfg.MaxReplays,
	}, codec, m)
}

// canonicalizer rejects a change whose supplied values cannot be made
// canonical (an unparseable phone or email): passing it on would spread
// bad data to every system, dropping the field would lose it silently.
func canonicalizer(region string) ingest.Canonicalizer {
	return func(v contact.Values) (contact.Values, error) {
		out, problems := normalize.Canonical(v, region)
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
