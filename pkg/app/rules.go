package app

import (
	"fmt"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/pipeline/router"
	"github.com/contactsync/contactsync/pkg/rules"
)

// loadRules reads the configured rules file, or the embedded default.
func loadRules(cfg Config) (*rules.Config, error) {
	if cfg.RulesFile == "" {
		return rules.Default(), nil
	}
	rc, err := rules.Load(cfg.RulesFile)
	if err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	return rc, nil
}

// RuleSystems returns the target systems of the configured rules, which
// decide the sink topics.
func RuleSystems(cfg Config) ([]string, error) {
	rc, err := loadRules(cfg)
	if err != nil {
		return nil, err
	}
	return rc.Systems(), nil
}

// rulesAdapter lets the router stage use the pure rules engine.
type rulesAdapter struct {
	cfg    *rules.Config
	engine *rules.Engine
}

func newRulesAdapter(cfg Config) (*rulesAdapter, error) {
	rc, err := loadRules(cfg)
	if err != nil {
		return nil, err
	}
	return &rulesAdapter{cfg: rc, engine: rules.NewEngine(rc)}, nil
}

func (r *rulesAdapter) systems() []string { return r.cfg.Systems() }

// Apply implements router.Engine.
func (r *rulesAdapter) Apply(state []byte, m contact.Matched) (router.Verdict, error) {
	res, err := r.engine.Apply(state, m)
	if err != nil {
		return router.Verdict{}, err
	}
	return router.Verdict{
		State:         res.State,
		Sinks:         res.Sinks,
		Reviews:       res.Reviews,
		KickOutReason: res.KickOutReason,
		KickOutError:  res.KickOutError,
		EchoSystems:   res.EchoSystems,
		Fields:        res.Trail,
	}, nil
}
