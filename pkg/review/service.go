package review

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/contactsync/contactsync/pkg/contact"
)

// Producer sends records to Kafka; *kgo.Client is one.
type Producer interface {
	ProduceSync(ctx context.Context, rs ...*kgo.Record) kgo.ProduceResults
}

// Deps are what the review service works with. The dashboard's HTTP
// server and CLI share them.
type Deps struct {
	// Store is the kick-out and review store. Give it FactsReader(Sources,
	// Codec) so kick-outs are indexed by system, record id and email.
	Store Store
	// Producer sends replays and approved changes to the replay topic.
	Producer Producer
	Codec    Codec
	Sources  Sources
	// MaxReplays refuses a replay that ingest would kick out at once
	// (CONTACTSYNC_MAX_REPLAYS); 0: no check here.
	MaxReplays int
	// Decode, if set, decodes JSON inputs as ingest does, so the record
	// view shows the canonical change or the decoder's own error.
	Decode DecodeFunc
	Log    *zap.Logger
	// Registry receives the service's metrics (nil: not registered).
	Registry prometheus.Registerer
	// Now replaces time.Now (tests).
	Now func() time.Time
	// Pairs and Persons, when set, let a person decide match.ambiguous
	// kick-outs (see Candidates, Decide).
	Pairs   PairWriter
	Persons PersonReader
	// Split, when set, lets a person split a person found to be two.
	Split SplitStore
	// Fields is the configured field set (built-in and custom); an edited
	// change may carry only these. nil: the built-in fields.
	Fields *contact.FieldSet
}

// Errors that map to a client's mistake rather than a failure.
var (
	// ErrInvalid: the request cannot be carried out as given (bad payload,
	// missing reason).
	ErrInvalid = errors.New("invalid request")
	// ErrConflict: the item is not in a state that allows the action.
	ErrConflict = errors.New("conflict")
)

// clientError is a refusal whose message is meant for the person asking;
// errors.Is finds its kind (ErrInvalid, ErrConflict) and its cause.
type clientError struct{ kind, err error }

func (e clientError) Error() string   { return e.err.Error() }
func (e clientError) Unwrap() []error { return []error{e.kind, e.err} }

func invalidf(format string, a ...any) error {
	return clientError{ErrInvalid, fmt.Errorf(format, a...)}
}

func conflictf(format string, a ...any) error {
	return clientError{ErrConflict, fmt.Errorf(format, a...)}
}

// Page sizes of the review list and the audit log (kick-out lists: see
// DefaultLimit and MaxLimit). A larger limit is capped, so one request
// cannot make the store read everything it holds.
const (
	DefaultReviewLimit = 100
	DefaultAuditLimit  = 200
	MaxAuditLimit      = 1000
)

// capLimit is limit within (0, max], or def when not positive.
func capLimit(limit, def, max int) int {
	switch {
	case limit <= 0:
		return def
	case limit > max:
		return max
	}
	return limit
}

// maxBulk bounds one bulk replay; the rest is left for the next one.
const maxBulk = 1000

// claimTTL bounds how long a crashed request can block an item.
const claimTTL = 2 * time.Minute

// Service is the kick-out, review and replay logic behind the API and the
// CLI.
type Service struct {
	store      Store
	producer   Producer
	codec      Codec
	src        Sources
	maxReplays int
	decode     DecodeFunc
	log        *zap.Logger
	now        func() time.Time
	metrics    *metrics
	pairs      PairWriter
	persons    PersonReader
	split      SplitStore
	fields     *contact.FieldSet
}

// NewService checks deps and registers the metrics.
func NewService(deps Deps) (*Service, error) {
	if deps.Store == nil || deps.Codec == nil {
		return nil, errors.New("review: Store and Codec are required")
	}
	s := &Service{store: deps.Store, producer: deps.Producer, codec: deps.Codec, src: deps.Sources.withDefaults(),
		maxReplays: deps.MaxReplays, decode: deps.Decode, log: deps.Log, now: deps.Now,
		pairs: deps.Pairs, persons: deps.Persons, split: deps.Split, fields: deps.Fields}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	if s.now == nil {
		s.now = time.Now
	}
	var err error
	if s.metrics, err = newMetrics(deps.Registry, deps.Store); err != nil {
		return nil, err
	}
	return s, nil
}

// ---------------------------------------------------------------- queue

// List returns one page of kick-outs, newest first.
func (s *Service) List(ctx context.Context, f Filter) (ListResult, error) {
	f.Limit = capLimit(f.Limit, DefaultLimit, MaxLimit)
	page, err := s.store.ListKickOuts(ctx, f)
	if err != nil {
		return ListResult{}, err
	}
	out := ListResult{Items: make([]KickOutSummary, len(page.Items)), Total: page.Total, Offset: f.Offset, Limit: f.Limit}
	for i, k := range page.Items {
		out.Items[i] = summaryOf(k)
		out.Items[i].Name, out.Items[i].Town = s.nameAndTown(k)
	}
	return out, nil
}

// Summary counts the kick-outs that happened in [from, to) by group and
// by day. Zero bounds mean the last 30 days.
func (s *Service) Summary(ctx context.Context, from, to time.Time) (Summary, error) {
	if to.IsZero() {
		to = s.now().UTC()
	}
	if from.IsZero() {
		from = to.AddDate(0, 0, -29)
	}
	groups, err := s.store.GroupCounts(ctx, from, to)
	if err != nil {
		return Summary{}, err
	}
	days, err := s.store.DailyCounts(ctx, from, to.Add(-time.Millisecond))
	if err != nil {
		return Summary{}, err
	}
	systems, err := s.store.Systems(ctx)
	if err != nil {
		return Summary{}, err
	}
	pending, err := s.store.CountReviews(ctx, ReviewPending)
	if err != nil {
		return Summary{}, err
	}
	out := Summary{Days: days, Systems: systems, PendingReviews: pending, From: from.UTC(), To: to.UTC(),
		RetentionDays: int(s.store.Retention().Hours() / 24), Groups: []GroupView{}}
	for _, g := range groups {
		out.Groups = append(out.Groups, GroupView{GroupCount: g, Help: ReasonHelp(g.Reason)})
		out.Open += g.Open
		out.Replayed += g.Replayed
		out.Resolved += g.Resolved
	}
	return out, nil
}

// Show returns the record view of one kick-out.
func (s *Service) Show(ctx context.Context, id string) (KickOutDetail, error) {
	k, err := s.store.KickOut(ctx, id)
	if err != nil {
		return KickOutDetail{}, err
	}
	o := originOf(s.src, k.KickOut)
	d := KickOutDetail{
		KickOutSummary: summaryOf(k),
		Topic:          k.Topic, Partition: k.Partition, Offset: k.Offset, LastSeen: k.LastSeen.UTC(),
		Help:        ReasonHelp(k.Reason),
		Explanation: k.Explanation,
		Key:         payloadOf(k.Key),
		Value:       payloadOf(k.Value),
		Headers:     []HeaderView{},
		Decoded:     decodedOf(s.codec, s.decode, o, k.KickOut),
		Resolution:  k.Resolution,
	}
	for _, h := range k.Headers {
		d.Headers = append(d.Headers, HeaderView{Key: h.Key, Value: payloadOf(h.Value)})
	}
	if k.Replay != nil {
		d.Replay = &ReplayView{ReplayInfo: *k.Replay}
		if k.Replay.Edited {
			p := payloadOf(k.Replay.Value)
			d.Replay.Sent = &p
		}
	}
	if why := s.cannotReplay(k, o); why != "" {
		d.CannotReplay = why
	} else {
		d.CanReplay = true
		d.EditKind, d.EditText = editableOf(s.codec, o, k.KickOut)
	}
	return d, nil
}

// cannotReplay says why a kick-out cannot be replayed now ("" if it can).
func (s *Service) cannotReplay(k StoredKickOut, o origin) string {
	switch {
	case k.Status == KickOutReplayed && k.Replay != nil:
		why := fmt.Sprintf("already replayed by %s on %s (replay #%d)", k.Replay.Who,
			k.Replay.At.Format("2006-01-02 15:04 UTC"), k.Replay.Count)
		if k.ReplayedAs != "" {
			why += "; it failed again as " + k.ReplayedAs + ": work on that one"
		}
		return why
	case k.Status == KickOutResolved:
		return "resolved without replay"
	case k.Status != KickOutOpen:
		return "status is " + k.Status
	case k.ReplayedAs != "":
		// Replayed, but the process stopped before it could record that:
		// the newer kick-out shows the replay happened.
		return "a replay of it already failed again as " + k.ReplayedAs + ": work on that one"
	case o.NotReplayable != "":
		return o.NotReplayable
	case s.maxReplays > 0 && k.ReplayCount+1 > s.maxReplays:
		return fmt.Sprintf("replayed %d times already (the limit is %d): fix the cause first", k.ReplayCount, s.maxReplays)
	case s.producer == nil:
		return "this dashboard has no Kafka producer"
	}
	return ""
}

// ReplayResult is one successful replay.
type ReplayResult struct {
	ID string `json:"id"`
	ReplayInfo
}

// Replay sends one open kick-out to the replay topic, with edited as its
// new payload when not nil, and marks it replayed once the produce
// succeeded. It is refused (ErrConflict) for a kick-out that is replayed
// or resolved already, or that another request is replaying.
func (s *Service) Replay(ctx context.Context, id, who string, edited *string) (ReplayResult, error) {
	res, err := s.replay(ctx, id, who, edited)
	kind := "replay"
	if edited != nil {
		kind = "fix_resubmit"
	}
	switch {
	case err == nil:
		s.metrics.replays.WithLabelValues(kind, "ok").Inc()
	case errors.Is(err, ErrConflict) || errors.Is(err, ErrInvalid) || errors.Is(err, ErrNotFound):
		s.metrics.replays.WithLabelValues(kind, "refused").Inc()
	default:
		s.metrics.replays.WithLabelValues(kind, "failed").Inc()
	}
	return res, err
}

func (s *Service) replay(ctx context.Context, id, who string, edited *string) (ReplayResult, error) {
	if who == "" {
		return ReplayResult{}, invalidf("who is replaying is unknown")
	}
	release, err := s.store.Claim(ctx, "ko", id, claimTTL)
	if err != nil {
		if errors.Is(err, ErrBusy) {
			return ReplayResult{}, conflictf("%s is being replayed by another request", id)
		}
		return ReplayResult{}, err
	}
	defer release()
	// Read after claiming: a replay that finished just before is seen.
	k, err := s.store.KickOut(ctx, id)
	if err != nil {
		return ReplayResult{}, err
	}
	o := originOf(s.src, k.KickOut)
	if why := s.cannotReplay(k, o); why != "" {
		return ReplayResult{}, conflictf("%s cannot be replayed: %s", id, why)
	}
	facts := factsOf(s.src, s.codec, k.KickOut)
	rec, info, err := replayRecord(s.src, s.codec, s.fields, k.KickOut, facts, edited)
	if err != nil {
		return ReplayResult{}, invalidf("%w", err)
	}
	results := s.producer.ProduceSync(ctx, rec)
	if err := results.FirstErr(); err != nil {
		return ReplayResult{}, fmt.Errorf("send %s to %s: %w", id, rec.Topic, err)
	}
	sent := results[0].Record
	info.At, info.Who, info.Partition, info.Offset = s.now().UTC(), who, sent.Partition, sent.Offset
	if err := s.store.MarkReplayed(ctx, id, info); err != nil {
		// The record is on the replay topic; say so, so nobody sends it again.
		s.log.Error("replayed kick-out could not be marked replayed", zap.String("id", id),
			zap.Int64("offset", sent.Offset), zap.Error(err))
		return ReplayResult{}, fmt.Errorf("%s was sent to %s (partition %d, offset %d) but could not be marked replayed: %w",
			id, rec.Topic, sent.Partition, sent.Offset, err)
	}
	s.log.Info("kick-out replayed", zap.String("id", id), zap.String("who", who), zap.String("reason", k.Reason),
		zap.Int("replay_count", info.Count), zap.Bool("edited", info.Edited),
		zap.Int32("partition", sent.Partition), zap.Int64("offset", sent.Offset))
	return ReplayResult{ID: id, ReplayInfo: info}, nil
}

// Selection picks kick-outs for a bulk replay: the given ids, or every
// open kick-out that matches the filter.
type Selection struct {
	IDs    []string `json:"ids,omitempty"`
	Filter Filter   `json:"-"`
}

// BulkProblem is a kick-out a bulk replay skipped or failed on.
type BulkProblem struct {
	ID  string `json:"id"`
	Why string `json:"why"`
}

// BulkResult reports a bulk replay.
type BulkResult struct {
	// Matched is how many open kick-outs the selection holds.
	Matched  int            `json:"matched"`
	DryRun   bool           `json:"dry_run"`
	Replayed []ReplayResult `json:"replayed"`
	Skipped  []BulkProblem  `json:"skipped"`
	Failed   []BulkProblem  `json:"failed"`
	// Remaining were left for another run (at most 1000 per run).
	Remaining int `json:"remaining"`
}

// ReplayMany replays a selection, oldest first, so that replays of the
// same record reach the pipeline in their original order and an old change
// cannot overtake a newer one. With dryRun it only counts.
func (s *Service) ReplayMany(ctx context.Context, sel Selection, who string, dryRun bool) (BulkResult, error) {
	ids, err := s.selectForReplay(ctx, sel)
	if err != nil {
		return BulkResult{}, err
	}
	res := BulkResult{Matched: len(ids), DryRun: dryRun, Replayed: []ReplayResult{}, Skipped: []BulkProblem{}, Failed: []BulkProblem{}}
	if len(ids) > maxBulk {
		res.Remaining, ids = len(ids)-maxBulk, ids[:maxBulk]
	}
	if dryRun {
		return res, nil
	}
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		r, err := s.Replay(ctx, id, who, nil)
		switch {
		case err == nil:
			res.Replayed = append(res.Replayed, r)
		case errors.Is(err, ErrConflict) || errors.Is(err, ErrInvalid) || errors.Is(err, ErrNotFound):
			res.Skipped = append(res.Skipped, BulkProblem{ID: id, Why: err.Error()})
		default:
			res.Failed = append(res.Failed, BulkProblem{ID: id, Why: err.Error()})
		}
	}
	s.log.Info("bulk replay", zap.String("who", who), zap.Int("replayed", len(res.Replayed)),
		zap.Int("skipped", len(res.Skipped)), zap.Int("failed", len(res.Failed)))
	return res, nil
}

// selectForReplay returns the ids to replay, oldest first.
func (s *Service) selectForReplay(ctx context.Context, sel Selection) ([]string, error) {
	if len(sel.IDs) > 0 {
		type item struct {
			id string
			at time.Time
		}
		var items []item
		seen := map[string]bool{}
		for _, id := range sel.IDs {
			if seen[id] {
				continue
			}
			seen[id] = true
			k, err := s.store.KickOut(ctx, id)
			if errors.Is(err, ErrNotFound) {
				items = append(items, item{id: id}) // reported as skipped
				continue
			}
			if err != nil {
				return nil, err
			}
			items = append(items, item{id: id, at: k.FirstSeen})
		}
		slices.SortStableFunc(items, func(a, b item) int { return a.at.Compare(b.at) })
		ids := make([]string, len(items))
		for i, it := range items {
			ids[i] = it.id
		}
		return ids, nil
	}
	f := sel.Filter
	if f.Reason == "" && f.Stage == "" && f.System == "" && f.Query == "" && f.From.IsZero() && f.To.IsZero() {
		return nil, invalidf("choose kick-outs, or a reason, stage, system, search or time range, to replay")
	}
	f.Status = KickOutOpen
	ids, _, err := s.store.MatchingKickOutIDs(ctx, f, maxCandidatesBulk)
	if err != nil {
		return nil, err
	}
	slices.Reverse(ids) // newest first -> oldest first
	return ids, nil
}

const maxCandidatesBulk = 100_000

// Resolve closes an open kick-out without replay, saying why.
func (s *Service) Resolve(ctx context.Context, id, who, why string) error {
	if strings.TrimSpace(why) == "" {
		return invalidf("say why the kick-out is resolved")
	}
	err := s.store.Resolve(ctx, id, Decision{Who: who, At: s.now().UTC(), Why: strings.TrimSpace(why)})
	if err != nil {
		return conflictOf(err)
	}
	s.log.Info("kick-out resolved", zap.String("id", id), zap.String("who", who))
	return nil
}

func conflictOf(err error) error {
	var se *StatusError
	if errors.As(err, &se) {
		return conflictf("%s is %s already", se.ID, se.Status)
	}
	return err
}
