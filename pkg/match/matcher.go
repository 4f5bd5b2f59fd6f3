package match

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"

	"github.com/contactsync/contactsync/pkg/contact"
)

// Thresholds are the two decision thresholds on match probability.
type Thresholds struct {
	// Link: a record whose best person reaches this probability is linked
	// to it (when no other person does).
	Link float64
	// Review: below Link but at or above Review, a person must decide.
	// Below Review the record starts a new person.
	Review float64
}

// DefaultThresholds are the thresholds used for every data set unless
// configured otherwise. Link is strict because a wrong merge mixes two
// people's data in every target system, while a missed link only leaves a
// duplicate for review; Review catches the middle ground.
func DefaultThresholds() Thresholds { return Thresholds{Link: 0.99, Review: 0.5} }

// Validate checks 0 < Review <= Link < 1.
func (t Thresholds) Validate() error {
	if !(t.Review > 0 && t.Review <= t.Link && t.Link < 1) {
		return fmt.Errorf("match thresholds: want 0 < review (%v) <= link (%v) < 1", t.Review, t.Link)
	}
	return nil
}

// Options configure a Matcher.
type Options struct {
	Thresholds Thresholds
	// NewPersonID names the person a record creates. It must be
	// deterministic in the record id, so that reprocessing the same event
	// after a crash creates (and then finds) the same person. Default:
	// DefaultPersonID.
	NewPersonID func(recordID string) string
	// MaxAttempts bounds lookup-decide-commit rounds per record when the
	// index keeps reporting conflicts. Default 5.
	MaxAttempts int
	// StrictHouseholds rules out, among records sharing a family name and a
	// home, every pair with another given name or another known date of
	// birth, even when nothing else tells them apart (twins, a parent and
	// child of one name). See householdMembers for the cost.
	StrictHouseholds bool
}

// DefaultPersonID derives a person id from the id of the record that
// created the person: "p-" and 24 hex digits of SHA-256.
func DefaultPersonID(recordID string) string {
	sum := sha256.Sum256([]byte("person\x00" + recordID))
	return "p-" + hex.EncodeToString(sum[:12])
}

// Matcher decides, for one incoming record, whether it is a known record, a
// new record of an existing person, a new person, or a case for review. It
// is immutable and safe for concurrent use; all state is in the Index.
type Matcher struct {
	scorer *Scorer
	opts   Options
}

// NewMatcher builds a matcher from a model.
func NewMatcher(model *Model, opts Options) (*Matcher, error) {
	scorer, err := NewScorer(model)
	if err != nil {
		return nil, fmt.Errorf("new matcher: %w", err)
	}
	if opts.Thresholds == (Thresholds{}) {
		opts.Thresholds = DefaultThresholds()
	}
	if err := opts.Thresholds.Validate(); err != nil {
		return nil, fmt.Errorf("new matcher: %w", err)
	}
	if opts.NewPersonID == nil {
		opts.NewPersonID = DefaultPersonID
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 5
	}
	return &Matcher{scorer: scorer, opts: opts}, nil
}

// Scorer returns the matcher's scorer.
func (m *Matcher) Scorer() *Scorer { return m.scorer }

// Thresholds returns the matcher's decision thresholds.
func (m *Matcher) Thresholds() Thresholds { return m.opts.Thresholds }

// Incoming is a record to match.
type Incoming struct {
	// RecordID identifies the record in its source system, unique across
	// systems ("offline/12345").
	RecordID string
	Record   Record
	// Reference is the record id of a known record the incoming record
	// says it is ("offline/12345": an offline id from
	// contact.external_ids.offline or an appeal's reference number), or "".
	// When the index holds it and the names fit, the record links to that
	// person on the id alone; when the names do not fit, the decision is
	// DecisionIDConflict.
	Reference string
}

// Candidate is a person scored against an incoming record: the best score
// over the person's members.
type Candidate struct {
	PersonID    string
	Weight      float64
	Probability float64
	// BestMember is the record id of the member that scored best.
	BestMember string
	// Rules are the blocking rules whose keys found the person.
	Rules []string
	// Relation is what rules the person out as this record's person,
	// whatever the score (a household member, another organisation), or
	// RelationNone.
	Relation Relation
	score    PairScore
	member   *Record
}

// Result is the matcher's verdict on one record.
type Result struct {
	RecordID string
	Decision contact.Decision
	// PersonID is the person linked, known or created; for an ambiguous
	// record, the best candidate.
	PersonID    string
	Weight      float64
	Probability float64
	// Candidates are the scored persons, best first.
	Candidates []Candidate
	// HouseholdKey is the record's household key (see HouseholdKey), "" when
	// it has no family name and home address.
	HouseholdKey string
	// Household lists the candidate persons found to be other members of
	// the record's household (RelationHousehold): never linked to it. The
	// pipeline gives them and the record's person one household id.
	Household []string
	// Moved says a linked record's address differs from its person's: a
	// move, linked on names and date of birth or a personal email or phone.
	Moved       bool
	Explanation Explanation
}

// ContactMatch converts the result into the pipeline's contact.Match.
func (r Result) ContactMatch() contact.Match {
	ids := make([]string, len(r.Candidates))
	for i, c := range r.Candidates {
		ids[i] = c.PersonID
	}
	return contact.Match{
		PersonID:    r.PersonID,
		Decision:    r.Decision,
		Score:       r.Probability,
		Explanation: r.Explanation.String(),
		Candidates:  ids,
		HouseholdID: r.HouseholdKey,
	}
}

// Query returns the index query for an incoming record.
func (m *Matcher) Query(in Incoming) Query {
	return Query{RecordID: in.RecordID, Keys: Keys(in.Record), Terms: Terms(in.Record), Reference: in.Reference}
}

// Match matches one record: looks up candidates, decides, and commits the
// decision (link, new person, or update of a known record; an ambiguous
// record is not written). On a conflict it starts over with a fresh lookup.
func (m *Matcher) Match(ctx context.Context, idx Index, in Incoming) (Result, error) {
	results, err := m.MatchBatch(ctx, idx, []Incoming{in})
	if err != nil {
		return Result{}, err
	}
	return results[0], nil
}

// MatchBatch matches records in order with one Lookup and one Commit for the
// whole batch when nothing conflicts. Records later in the batch see the
// decisions on earlier ones (a person created by record 1 is a candidate for
// record 2) through an overlay of the pending writes. A write that depended
// on an earlier write of the batch which then conflicted conflicts too: a
// create expects the key versions it saw, counting the batch's own earlier
// writes; a link needs its person to exist; an update of a record known only
// through the overlay expects that owner. Conflicting records are then
// matched again one at a time, each with a fresh lookup.
func (m *Matcher) MatchBatch(ctx context.Context, idx Index, ins []Incoming) ([]Result, error) {
	if len(ins) == 0 {
		return nil, nil
	}
	queries := make([]Query, len(ins))
	for i, in := range ins {
		if in.RecordID == "" {
			return nil, fmt.Errorf("match batch: record %d has no record id", i)
		}
		queries[i] = m.Query(in)
	}
	results := make([]Result, len(ins))
	pending := make([]int, len(ins)) // indexes still to decide
	for i := range pending {
		pending[i] = i
	}
	for attempt := 1; len(pending) > 0; attempt++ {
		if attempt > m.opts.MaxAttempts {
			return nil, fmt.Errorf("match batch: %d records still conflicting after %d attempts: %w", len(pending), m.opts.MaxAttempts, ErrConflict)
		}
		batchQueries := make([]Query, len(pending))
		for i, p := range pending {
			batchQueries[i] = queries[p]
		}
		found, err := idx.Lookup(ctx, batchQueries)
		if err != nil {
			return nil, fmt.Errorf("match batch: lookup: %w", err)
		}
		if len(found) != len(batchQueries) {
			return nil, fmt.Errorf("match batch: index returned %d results for %d queries", len(found), len(batchQueries))
		}
		ov := newOverlay()
		var writes []Write
		var writers []int // position in pending of each write
		for i, p := range pending {
			f := ov.apply(batchQueries[i], found[i])
			res, w := m.decide(ins[p], batchQueries[i], f)
			results[p] = res
			if w != nil {
				ov.add(*w, f)
				writes = append(writes, *w)
				writers = append(writers, i)
			}
		}
		if len(writes) == 0 {
			break
		}
		errs, err := idx.Commit(ctx, writes)
		if err != nil {
			return nil, fmt.Errorf("match batch: commit: %w", err)
		}
		if len(errs) != len(writes) {
			return nil, fmt.Errorf("match batch: index returned %d results for %d writes", len(errs), len(writes))
		}
		var retry []int
		for wi, werr := range errs {
			switch {
			case werr == nil:
			case errors.Is(werr, ErrConflict):
				retry = append(retry, pending[writers[wi]])
			default:
				return nil, fmt.Errorf("match batch: commit record %q: %w", ins[pending[writers[wi]]].RecordID, werr)
			}
		}
		// After a conflict, retry one record at a time: the overlay is only
		// worth its complexity when nothing races.
		if len(retry) > 0 && len(pending) > 1 {
			for _, p := range retry {
				r, err := m.MatchBatch(ctx, idx, []Incoming{ins[p]})
				if err != nil {
					return nil, err
				}
				results[p] = r[0]
			}
			break
		}
		pending = retry
	}
	return results, nil
}

// Decide scores an incoming record against what the index found and returns
// the verdict with the write that records it (nil for an ambiguous record,
// which waits for review). It does not touch the index: callers that batch
// lookups themselves use it with Commit.
func (m *Matcher) Decide(in Incoming, q Query, f Found) (Result, *Write) {
	return m.decide(in, q, f)
}

func (m *Matcher) decide(in Incoming, q Query, f Found) (Result, *Write) {
	res := Result{RecordID: in.RecordID}
	versions := make([]int64, len(q.Keys))
	for i := range q.Keys {
		versions[i] = AnyVersion
		if i < len(f.Keys) && !f.Keys[i].Generic {
			versions[i] = f.Keys[i].Version
		}
	}
	write := &Write{
		Member:       Member{RecordID: in.RecordID, Record: in.Record},
		Keys:         q.Keys,
		Terms:        q.Terms,
		KeyVersions:  versions,
		ExpectPerson: f.KnownPerson,
	}
	freq := m.frequencies(in, q, f)
	res.Candidates = m.scoreCandidates(in, q, f, freq)

	// Known records too: an update with a new address or family name
	// moves the person to another household.
	res.HouseholdKey = HouseholdKey(in.Record)
	if f.KnownPerson != "" {
		// The record is already linked: its new values refresh the member
		// and add any new keys; re-matching it would let one edit move a
		// record between persons without review.
		res.Decision, res.PersonID, res.Probability, res.Weight = contact.DecisionKnown, f.KnownPerson, 1, 0
		res.Explanation = m.explain(res, "known_record", q, f, nil)
		write.PersonID = f.KnownPerson
		write.KeyVersions = anyVersions(len(q.Keys))
		return res, write
	}

	for _, c := range res.Candidates {
		if c.Relation == RelationHousehold {
			res.Household = append(res.Household, c.PersonID)
		}
	}

	if in.Reference != "" && f.ReferencePerson != "" {
		return m.decideOnReference(in, q, f, res, write)
	}

	t := m.opts.Thresholds
	var best, runnerUp *Candidate
	aboveLink := 0
	for i := range res.Candidates {
		c := &res.Candidates[i]
		if c.Relation != RelationNone {
			// A household member, another organisation, a person against
			// an organisation, or names that rule the pair out: no weight
			// of shared address, email or phone makes them one.
			continue
		}
		if best == nil {
			best = c
			res.PersonID, res.Weight, res.Probability = best.PersonID, best.Weight, best.Probability
		}
		if c.Probability >= t.Link {
			aboveLink++
			if aboveLink == 2 {
				runnerUp = c
			}
		}
	}
	var reason string
	switch {
	case aboveLink >= 2 && dominates(best, runnerUp):
		// Several persons reach the link threshold, the best one by far
		// (see DominanceMargin): the record links there, the persons
		// stay apart.
		res.Decision, reason = contact.DecisionLinked, "best_of_persons"
		res.Moved = moved(best.score.Address)
	case aboveLink >= 2:
		// Two persons are each the same as this record: they may be one
		// person. Merging them is a human decision.
		res.Decision, reason = contact.DecisionAmbiguous, "multiple_persons"
	case aboveLink == 1:
		res.Decision, reason = contact.DecisionLinked, "match"
		res.Moved = moved(best.score.Address)
	case best != nil && best.Probability >= t.Review:
		res.Decision, reason = contact.DecisionAmbiguous, "between_thresholds"
	default:
		res.Decision = contact.DecisionNew
		res.PersonID, reason = m.opts.NewPersonID(in.RecordID), "no_candidates"
		switch {
		case best != nil:
			reason = "below_review"
		case len(res.Candidates) > 0:
			// Every candidate was ruled out; the best one's relation is
			// the reason, and its score is kept to show what was overruled.
			reason = string(res.Candidates[0].Relation)
			res.Weight, res.Probability = res.Candidates[0].Weight, res.Candidates[0].Probability
		}
	}
	res.Explanation = m.explain(res, reason, q, f, best)
	switch res.Decision {
	case contact.DecisionLinked:
		// Only creating a person can make a duplicate, so only creates
		// check key versions; a link needs its person to exist and the
		// record to be unclaimed. This keeps busy persons (many records
		// linking at once) from conflicting endlessly.
		write.PersonID = best.PersonID
		write.KeyVersions = anyVersions(len(q.Keys))
	case contact.DecisionNew:
		write.PersonID, write.NewPerson = res.PersonID, true
	default:
		return res, nil
	}
	return res, write
}

// decideOnReference decides a record that carries the id of a known
// record: it links to that record's person when the names fit, with the id
// as the reason; otherwise it is an id conflict (a forwarded appeal), not
// linked and not written, so the person the id names is never overwritten
// by the one who used it.
func (m *Matcher) decideOnReference(in Incoming, q Query, f Found, res Result, write *Write) (Result, *Write) {
	var ref *Candidate
	for i := range res.Candidates {
		if res.Candidates[i].PersonID == f.ReferencePerson {
			ref = &res.Candidates[i]
		}
	}
	res.PersonID = f.ReferencePerson
	if ref != nil {
		res.Weight, res.Probability = ref.Weight, ref.Probability
	}
	if ref != nil && ref.Relation == RelationNone && namesFit(&in.Record, ref.member, ref.score.Levels) {
		res.Decision = contact.DecisionLinked
		res.Moved = moved(ref.score.Address)
		res.Explanation = m.explain(res, "reference_id", q, f, ref)
		write.PersonID = f.ReferencePerson
		write.KeyVersions = anyVersions(len(q.Keys))
		return res, write
	}
	res.Decision = contact.DecisionIDConflict
	res.Explanation = m.explain(res, "id_conflict", q, f, ref)
	return res, nil
}

// frequencies maps the query's term counts back to their comparisons.
func (m *Matcher) frequencies(in Incoming, q Query, f Found) *frequencies {
	freq := noFrequencies()
	freq.total = f.TotalRecords
	if len(f.TermCounts) != len(q.Terms) {
		return freq // an index without term counts: average weights
	}
	for c := range comparisons {
		term := termKey(c, &in.Record)
		if term == "" {
			continue
		}
		if ti := slices.Index(q.Terms, term); ti >= 0 {
			freq.count[c] = f.TermCounts[ti]
		}
	}
	return freq
}

func (m *Matcher) scoreCandidates(in Incoming, q Query, f Found, freq *frequencies) []Candidate {
	out := make([]Candidate, 0, len(f.Persons))
	for _, p := range f.Persons {
		c := Candidate{PersonID: p.ID}
		first := true
		for mi := range p.Members {
			mem := &p.Members[mi]
			if mem.RecordID == in.RecordID {
				continue // the record's own previous version
			}
			s := m.scorer.score(&in.Record, &mem.Record, freq)
			rel := relate(&in.Record, &mem.Record, s, m.opts.StrictHouseholds)
			// The best member that nothing rules out represents the
			// person; only when every member is ruled out does the best
			// ruled-out one, with its relation.
			better := first || rel == RelationNone && c.Relation != RelationNone ||
				(rel == RelationNone) == (c.Relation == RelationNone) && s.Weight > c.Weight
			if better {
				c.Weight, c.BestMember, c.score, c.Relation, c.member = s.Weight, mem.RecordID, s, rel, &mem.Record
				first = false
			}
		}
		if first {
			continue // no other member to compare with
		}
		c.Probability = WeightToProbability(c.Weight)
		for _, ki := range p.HitKeys {
			if ki >= 0 && ki < len(q.Keys) {
				if rule := KeyRule(q.Keys[ki]); !slices.Contains(c.Rules, rule) {
					c.Rules = append(c.Rules, rule)
				}
			}
		}
		out = append(out, c)
	}
	slices.SortStableFunc(out, func(a, b Candidate) int {
		if c := cmp.Compare(b.Weight, a.Weight); c != 0 {
			return c
		}
		return cmp.Compare(a.PersonID, b.PersonID)
	})
	return out
}

// Link records a human decision: the record joins personID (an existing
// person) regardless of scores. It conflicts if the record was linked
// elsewhere since found.
func (m *Matcher) Link(ctx context.Context, idx Index, in Incoming, personID string) error {
	q := m.Query(in)
	found, err := idx.Lookup(ctx, []Query{q})
	if err != nil {
		return fmt.Errorf("link %q: lookup: %w", in.RecordID, err)
	}
	w := Write{
		PersonID: personID, Member: Member{RecordID: in.RecordID, Record: in.Record},
		Keys: q.Keys, Terms: q.Terms, KeyVersions: anyVersions(len(q.Keys)), ExpectPerson: found[0].KnownPerson,
	}
	errs, err := idx.Commit(ctx, []Write{w})
	if err != nil {
		return fmt.Errorf("link %q: commit: %w", in.RecordID, err)
	}
	if errs[0] != nil {
		return fmt.Errorf("link %q: %w", in.RecordID, errs[0])
	}
	return nil
}

func anyVersions(n int) []int64 {
	v := make([]int64, n)
	for i := range v {
		v[i] = AnyVersion
	}
	return v
}

// overlay layers the writes decided earlier in a batch over the batch's
// lookup results.
type overlay struct {
	owner      map[string]string   // record id -> person
	members    map[string][]Member // person -> members, as last seen plus pending
	keyPersons map[string][]string // key -> persons added by pending writes
	keyBumps   map[string]int64    // key -> pending writes under it
	terms      map[string]int64
	records    int64
}

func newOverlay() *overlay {
	return &overlay{
		owner: map[string]string{}, members: map[string][]Member{},
		keyPersons: map[string][]string{}, keyBumps: map[string]int64{}, terms: map[string]int64{},
	}
}

func (o *overlay) apply(q Query, f Found) Found {
	for _, p := range f.Persons {
		if _, seen := o.members[p.ID]; !seen {
			o.members[p.ID] = p.Members
		}
	}
	if len(o.owner) == 0 {
		return f
	}
	out := f
	if owner, ok := o.owner[q.RecordID]; ok {
		out.KnownPerson = owner
	}
	out.Keys = slices.Clone(f.Keys)
	out.Persons = nil
	position := map[string]int{}
	add := func(id string, keyIndex int) {
		if i, ok := position[id]; ok {
			if keyIndex >= 0 && !slices.Contains(out.Persons[i].HitKeys, keyIndex) {
				out.Persons[i].HitKeys = append(out.Persons[i].HitKeys, keyIndex)
			}
			return
		}
		position[id] = len(out.Persons)
		p := Person{ID: id, Members: o.members[id]}
		if keyIndex >= 0 {
			p.HitKeys = []int{keyIndex}
		}
		out.Persons = append(out.Persons, p)
	}
	for _, p := range f.Persons {
		for _, ki := range p.HitKeys {
			add(p.ID, ki)
		}
		if len(p.HitKeys) == 0 {
			add(p.ID, -1)
		}
	}
	for ki, key := range q.Keys {
		if ki < len(out.Keys) && !out.Keys[ki].Generic {
			out.Keys[ki].Version += o.keyBumps[key]
			for _, id := range o.keyPersons[key] {
				add(id, ki)
			}
		}
	}
	if out.KnownPerson != "" {
		add(out.KnownPerson, -1)
	}
	if q.Reference != "" {
		if owner, ok := o.owner[q.Reference]; ok {
			out.ReferencePerson = owner
		}
		if out.ReferencePerson != "" {
			add(out.ReferencePerson, -1)
		}
	}
	out.TermCounts = slices.Clone(f.TermCounts)
	for ti, t := range q.Terms {
		if ti < len(out.TermCounts) {
			out.TermCounts[ti] += o.terms[t]
		}
	}
	out.TotalRecords += o.records
	return out
}

func (o *overlay) add(w Write, f Found) {
	if w.ExpectPerson != "" {
		o.members[w.ExpectPerson] = slices.DeleteFunc(slices.Clone(o.members[w.ExpectPerson]),
			func(m Member) bool { return m.RecordID == w.Member.RecordID })
	}
	o.members[w.PersonID] = append(slices.Clone(o.members[w.PersonID]), w.Member)
	o.owner[w.Member.RecordID] = w.PersonID
	for ki, key := range w.Keys {
		if ki < len(f.Keys) && f.Keys[ki].Generic {
			continue
		}
		o.keyBumps[key]++
		if !slices.Contains(o.keyPersons[key], w.PersonID) {
			o.keyPersons[key] = append(o.keyPersons[key], w.PersonID)
		}
	}
	if w.ExpectPerson == "" {
		for _, t := range w.Terms {
			o.terms[t]++
		}
		o.records++
	}
}
