package app

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"
	_ "time/tzdata" // delivery windows name time zones; slim images have no zoneinfo

	"go.uber.org/zap"

	"github.com/contactsync/contactsync/pkg/deliver"
	"github.com/contactsync/contactsync/pkg/filedrop"
	"github.com/contactsync/contactsync/pkg/offlineapply"
	"github.com/contactsync/contactsync/pkg/pgstore"
	"github.com/contactsync/contactsync/pkg/pipeline"
	"github.com/contactsync/contactsync/pkg/rules"
	"github.com/contactsync/contactsync/pkg/window"
)

// Delivery settings, read by `contactsync deliver` only.
const (
	EnvDeliverSystem   = "CONTACTSYNC_DELIVER_SYSTEM"
	EnvDeliverDSN      = "CONTACTSYNC_DELIVER_DSN"
	EnvDeliverTable    = "CONTACTSYNC_DELIVER_TABLE"
	EnvDeliverWindows  = "CONTACTSYNC_DELIVER_WINDOWS"
	EnvDeliverTimezone = "CONTACTSYNC_DELIVER_TIMEZONE"
	// EnvDeliverMaxWindowRecords bounds the backlog a window opens with,
	// applied as one batch.
	EnvDeliverMaxWindowRecords = "CONTACTSYNC_DELIVER_MAX_WINDOW_RECORDS"
	// Read by `contactsync apply-offline` (and `deliver`, whose mode is
	// staging unless set).
	EnvApplyMode   = "CONTACTSYNC_APPLY_MODE"
	EnvApplyDir    = "CONTACTSYNC_APPLY_DIR"
	EnvApplySchema = "CONTACTSYNC_APPLY_SCHEMA"
)

// How an offline system takes the sync's records in.
const (
	// ModeTable writes the system's own contacts and gifts tables.
	ModeTable = "table"
	// ModeStaging writes a staging table the system's own import job applies.
	ModeStaging = "staging"
	// ModeFiles writes CSV import files with manifests into a directory.
	ModeFiles = "files"
)

// DeliverConfig is what `contactsync deliver` needs beyond Config.
type DeliverConfig struct {
	System   string
	Mode     string // ModeTable, ModeStaging or ModeFiles
	DSN      string // may hold a password: never logged
	Table    string // staging table
	Schema   string // table mode: the schema of the system's tables; empty = the DSN's search path
	Dir      string // files mode: where import files go
	Schedule window.Schedule
	// MaxWindowRecords is the largest backlog applied as one batch when a
	// window opens; a larger one goes in batches of this size.
	MaxWindowRecords int
}

// DeliverConfigFromEnv reads the delivery settings; all problems at once.
// defaultMode is the mode when CONTACTSYNC_APPLY_MODE is unset.
func DeliverConfigFromEnv(cfg Config, getenv func(string) string, defaultMode string) (DeliverConfig, error) {
	get := withDefaults(getenv)
	var errs []error
	dc := DeliverConfig{
		System: get(EnvDeliverSystem, cfg.OfflineSystem),
		Mode:   get(EnvApplyMode, defaultMode),
		DSN:    get(EnvDeliverDSN, ""),
		Table:  get(EnvDeliverTable, "contactsync_inbox"),
		Schema: get(EnvApplySchema, ""),
		Dir:    get(EnvApplyDir, ""),
	}
	switch dc.Mode {
	case ModeTable, ModeStaging:
		if dc.DSN == "" {
			errs = append(errs, fmt.Errorf("%s: required in %s mode (postgres://user:password@host:port/db)", EnvDeliverDSN, dc.Mode))
		}
	case ModeFiles:
		if dc.Dir == "" {
			errs = append(errs, fmt.Errorf("%s: required in files mode (the directory the import files go to)", EnvApplyDir))
		}
	default:
		errs = append(errs, fmt.Errorf("%s=%q: want %s, %s or %s", EnvApplyMode, dc.Mode, ModeTable, ModeStaging, ModeFiles))
	}
	maxWindow := get(EnvDeliverMaxWindowRecords, "100000")
	if n, err := strconv.Atoi(maxWindow); err != nil || n < 1 {
		errs = append(errs, fmt.Errorf("%s: %q: want a whole number of records, at least 1", EnvDeliverMaxWindowRecords, maxWindow))
	} else {
		dc.MaxWindowRecords = n
	}
	loc, err := time.LoadLocation(get(EnvDeliverTimezone, "UTC"))
	if err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", EnvDeliverTimezone, err))
	}
	if dc.Schedule, err = window.Parse(get(EnvDeliverWindows, "always"), loc); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", EnvDeliverWindows, err))
	}
	return dc, errors.Join(errs...)
}

// RunDeliver loads one system's sink topic into its PostgreSQL staging
// table (or as CONTACTSYNC_APPLY_MODE says) inside the configured windows,
// until ctx ends.
func RunDeliver(ctx context.Context, getenv func(string) string) error {
	return runDelivery(ctx, getenv, ModeStaging)
}

// RunApplyOffline applies the offline system's sink topic to its own
// tables (or as CONTACTSYNC_APPLY_MODE says) inside the configured windows,
// until ctx ends.
func RunApplyOffline(ctx context.Context, getenv func(string) string) error {
	return runDelivery(ctx, getenv, ModeTable)
}

func runDelivery(ctx context.Context, getenv func(string) string, defaultMode string) error {
	p, err := startProcess(getenv)
	if err != nil {
		return err
	}
	defer p.close()
	cfg := p.cfg
	dc, err := DeliverConfigFromEnv(cfg, getenv, defaultMode)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	rules, err := loadRules(cfg)
	if err != nil {
		return err
	}
	topo, err := topologyOf(cfg, rules.Systems())
	if err != nil {
		return err
	}
	spec, ok := topo.Loader(dc.System)
	switch {
	case !ok:
		return fmt.Errorf("config: %s=%q is not a system of the rules (%v)", EnvDeliverSystem, dc.System, rules.Systems())
	case spec.Kind != pipeline.LoaderDeliver:
		return fmt.Errorf("config: %s=%q is an online system: contactsync apply writes its sink topic to its API", EnvDeliverSystem, dc.System)
	}
	codec, err := newCodec(ctx, cfg)
	if err != nil {
		return err
	}
	store, closeStore, err := openDeliveryStore(ctx, dc, rules, offlineFieldRules(rules, dc.System), giftSourceOf(rules))
	if err != nil {
		return err
	}
	defer closeStore()
	kopts, err := KafkaOptions(cfg)
	if err != nil {
		return err
	}
	loader, err := deliver.New(deliver.Config{
		System:           dc.System,
		Brokers:          cfg.KafkaBrokers,
		Group:            spec.Group,
		Topic:            spec.Inputs[0].Topic,
		KickOutTopic:     topo.Topics.KickOuts,
		InstanceID:       spec.Group + "-" + cfg.Instance,
		Schedule:         dc.Schedule,
		MaxWindowRecords: dc.MaxWindowRecords,
		SessionTimeout:   cfg.SessionTimeout,
	}, store, codec, p.log.Named("deliver"), p.reg, nil, kopts...)
	if err != nil {
		return err
	}
	return p.serveWorker(ctx, loader.Run, "contactsync delivering", zap.String("system", dc.System),
		zap.String("mode", dc.Mode), zap.Stringer("windows", dc.Schedule))
}

// offlineFieldRules says, per field, whether an edit made in system (the
// one applied to) since the sync decided a change wins by its rule: opt-out
// flags under most_restrictive, and fields whose rule names system as the
// authority. The others go to a person as apply.conflict.
func offlineFieldRules(rc *rules.Config, system string) offlineapply.FieldRules {
	out := offlineapply.FieldRules{}
	for _, r := range rc.Rules() {
		var a offlineapply.Authority
		switch {
		case r.Conflict == rules.MostRestrictive:
			a = offlineapply.MostRestrictive
		case r.Authority == system:
			a = offlineapply.OfflineWins
		default:
			continue
		}
		for _, f := range r.Fields {
			out[f] = a
		}
	}
	return out
}

// giftSourceOf is the system gifts come from when the rules name one only:
// the reference source of a gift whose sink record names none (written
// before the router named the source of every gift, still in the topic).
func giftSourceOf(rc *rules.Config) string {
	if from := rc.Gifts().From; len(from) == 1 {
		return from[0]
	}
	return ""
}

// openDeliveryStore opens the store of the configured mode, with the
// rules file's mapping and custom fields.
func openDeliveryStore(ctx context.Context, dc DeliverConfig, rc *rules.Config, fieldRules offlineapply.FieldRules, giftSource string) (deliver.Store, func(), error) {
	switch dc.Mode {
	case ModeTable:
		ocfg := pgstore.OfflineConfigFor(dc.Schema, rc.Mapping().Offline, rc.Fields())
		ocfg.Rules, ocfg.GiftSource = fieldRules, giftSource
		o, err := pgstore.OpenOffline(ctx, dc.DSN, ocfg)
		if err != nil {
			return nil, nil, err
		}
		return o, o.Close, nil
	case ModeFiles:
		var opts []filedrop.Option
		if h := rc.Mapping().Offline.HouseholdColumn; h != "" {
			opts = append(opts, filedrop.WithHouseholdColumn(h))
		}
		d, err := filedrop.OpenWithFields(dc.Dir, dc.System, rc.Fields(), opts...)
		if err != nil {
			return nil, nil, err
		}
		return d, func() {}, nil
	default:
		in, err := pgstore.Open(ctx, dc.DSN, dc.Table)
		if err != nil {
			return nil, nil, err
		}
		return in, in.Close, nil
	}
}
