package app

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/decode"
	"github.com/contactsync/contactsync/pkg/pipeline"
)

// EnvOnlineSources binds online input topics to systems; see
// parseOnlineSources and README "Trust model".
const EnvOnlineSources = "CONTACTSYNC_ONLINE_SOURCES"

// EnvKickOutMaxBytes caps the raw bytes kept in an ingest kick-out.
const EnvKickOutMaxBytes = "CONTACTSYNC_KICKOUT_MAX_BYTES"

// OnlineSource is one online input topic and the one system whose events
// it carries. Trust comes from the source, never from the event: whoever
// may produce to the topic speaks as System, and may claim only the
// privileged origins (admin, sync) listed in TrustedOrigins.
type OnlineSource struct {
	Topic          string
	System         string
	TrustedOrigins []contact.Origin
}

// parseOnlineSources reads "topic=system[:origin,origin];...". Empty
// spec: the single default source, the online events topic bound to the
// online system and trusted for no privileged origin.
func parseOnlineSources(spec string, topics pipeline.Topics, onlineSystem string) ([]OnlineSource, error) {
	if strings.TrimSpace(spec) == "" {
		return []OnlineSource{{Topic: topics.OnlineEvents, System: onlineSystem}}, nil
	}
	reserved := map[string]string{topics.OfflineCDC: "the offline CDC topic", topics.Replay: "the replay topic",
		topics.Changes: "an internal topic", topics.Matched: "an internal topic", topics.KickOuts: "an internal topic",
		topics.Review: "an internal topic"}
	var out []OnlineSource
	var errs []error
	for _, entry := range strings.Split(spec, ";") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		topic, rest, ok := strings.Cut(entry, "=")
		topic, rest = strings.TrimSpace(topic), strings.TrimSpace(rest)
		system, origins, _ := strings.Cut(rest, ":")
		system = strings.TrimSpace(system)
		src := OnlineSource{Topic: topic, System: system}
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("%q: want topic=system[:origin,...]", entry))
			continue
		case topic == "":
			errs = append(errs, fmt.Errorf("%q: no topic", entry))
			continue
		case reserved[topic] != "":
			errs = append(errs, fmt.Errorf("topic %q is %s, not an online source", topic, reserved[topic]))
			continue
		case slices.ContainsFunc(out, func(s OnlineSource) bool { return s.Topic == topic }):
			errs = append(errs, fmt.Errorf("topic %q is bound twice", topic))
			continue
		case system == "":
			errs = append(errs, fmt.Errorf("topic %q: no system", topic))
			continue
		}
		if err := decode.CheckID("system name", system, decode.MaxSystemLength); err != nil {
			errs = append(errs, fmt.Errorf("topic %q: %w", topic, err))
			continue
		}
		for _, o := range strings.Split(origins, ",") {
			o = strings.TrimSpace(o)
			switch {
			case o == "":
			case !contact.KnownOrigin(contact.Origin(o)):
				errs = append(errs, fmt.Errorf("topic %q: unknown origin %q", topic, o))
			case !slices.Contains(decode.PrivilegedOrigins, contact.Origin(o)):
				errs = append(errs, fmt.Errorf("topic %q: origin %q needs no trust (only %v do)", topic, o, decode.PrivilegedOrigins))
			case !slices.Contains(src.TrustedOrigins, contact.Origin(o)):
				src.TrustedOrigins = append(src.TrustedOrigins, contact.Origin(o))
			}
		}
		out = append(out, src)
	}
	if len(out) == 0 && len(errs) == 0 {
		errs = append(errs, errors.New("no source"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("%s: %w", EnvOnlineSources, err)
	}
	return out, nil
}
