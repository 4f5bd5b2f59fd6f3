package match

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/contactsync/contactsync/pkg/contact"
)

func newTestMatcher(t *testing.T) *Matcher {
	t.Helper()
	m, err := NewMatcher(BaseModel(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

var robert = Record{
	Given: "robert", Family: "heidrich", DOB: "19440910", HouseNumber: "49", Street: "degraves cres",
	AddressLine2: "wonga sq", Locality: "samford", Region: "nsw", Postcode: "6104",
}

func TestMatcherDecisions(t *testing.T) {
	ctx := context.Background()
	m := newTestMatcher(t)
	idx := NewMemIndex()

	first, err := m.Match(ctx, idx, Incoming{RecordID: "a/1", Record: robert})
	if err != nil {
		t.Fatal(err)
	}
	if first.Decision != contact.DecisionNew || first.PersonID != DefaultPersonID("a/1") {
		t.Fatalf("first record: %+v", first)
	}
	if first.Explanation.Reason != "no_candidates" {
		t.Errorf("first record reason = %q", first.Explanation.Reason)
	}

	typo := robert
	typo.Family, typo.DOB = "heidrick", "19440901"
	linked, err := m.Match(ctx, idx, Incoming{RecordID: "b/7", Record: typo})
	if err != nil {
		t.Fatal(err)
	}
	if linked.Decision != contact.DecisionLinked || linked.PersonID != first.PersonID {
		t.Fatalf("duplicate with typos: %s", linked.Explanation)
	}

	known, err := m.Match(ctx, idx, Incoming{RecordID: "b/7", Record: typo})
	if err != nil {
		t.Fatal(err)
	}
	if known.Decision != contact.DecisionKnown || known.PersonID != first.PersonID {
		t.Fatalf("same record again: %+v", known)
	}

	stranger := Record{Given: "olivia", Family: "noack", DOB: "19661109", HouseNumber: "2",
		Street: "endeavour st", Locality: "armidale", Region: "vic", Postcode: "6104"}
	other, err := m.Match(ctx, idx, Incoming{RecordID: "a/2", Record: stranger})
	if err != nil {
		t.Fatal(err)
	}
	if other.Decision != contact.DecisionNew || other.PersonID == first.PersonID {
		t.Fatalf("stranger sharing a postcode: %s", other.Explanation)
	}
	if persons, records := idx.Stats(); persons != 2 || records != 3 {
		t.Errorf("index holds %d persons, %d records; want 2, 3", persons, records)
	}
}

func TestMatcherAmbiguousWhenTwoPersonsMatch(t *testing.T) {
	ctx := context.Background()
	m := newTestMatcher(t)
	idx := NewMemIndex()
	// Two persons already in the index with the same details (a duplicate
	// made before this matcher, say): a third identical record matches both.
	for _, id := range []string{"p1", "p2"} {
		errs, err := idx.Commit(ctx, []Write{{
			PersonID: id, NewPerson: true, Member: Member{RecordID: "old/" + id, Record: robert},
			Keys: Keys(robert), Terms: Terms(robert), KeyVersions: anyVersions(len(Keys(robert))),
		}})
		if err != nil || errs[0] != nil {
			t.Fatal(err, errs)
		}
	}
	res, err := m.Match(ctx, idx, Incoming{RecordID: "new/1", Record: robert})
	if err != nil {
		t.Fatal(err)
	}
	if res.Decision != contact.DecisionAmbiguous || res.Explanation.Reason != "multiple_persons" {
		t.Fatalf("record matching two persons: %s", res.Explanation)
	}
	if _, indexed := idx.PersonOf("new/1"); indexed {
		t.Error("ambiguous record was written to the index")
	}
	if len(res.Candidates) != 2 || res.Explanation.AboveLink != 2 {
		t.Errorf("candidates = %+v", res.Candidates)
	}
}

func TestMatcherReviewBand(t *testing.T) {
	ctx := context.Background()
	m := newTestMatcher(t)
	idx := NewMemIndex()
	if _, err := m.Match(ctx, idx, Incoming{RecordID: "a/1", Record: robert}); err != nil {
		t.Fatal(err)
	}
	// Same name and address, but the date of birth differs completely and
	// the house number too: could be a relative.
	weak := Record{Given: "robert", Family: "heidrich", DOB: "19821130", Postcode: "6104", Region: "nsw"}
	res, err := m.Match(ctx, idx, Incoming{RecordID: "b/1", Record: weak})
	if err != nil {
		t.Fatal(err)
	}
	p := res.Probability
	th := m.Thresholds()
	want := contact.DecisionNew
	switch {
	case p >= th.Link:
		want = contact.DecisionLinked
	case p >= th.Review:
		want = contact.DecisionAmbiguous
	}
	if res.Decision != want {
		t.Errorf("p=%.4f decided %s, want %s", p, res.Decision, want)
	}
}

func TestScoreProperties(t *testing.T) {
	s, err := NewScorer(BaseModel())
	if err != nil {
		t.Fatal(err)
	}
	full := s.Score(&robert, &robert)
	partial := robert
	partial.DOB = ""
	missing := s.Score(&robert, &partial)
	if got := full.Weight - missing.Weight; math.Abs(got-full.FieldWeights[cmpDOB]) > 1e-9 {
		t.Errorf("a missing value should only remove its own weight: diff %v, dob weight %v", got, full.FieldWeights[cmpDOB])
	}
	if missing.FieldWeights[cmpDOB] != 0 {
		t.Errorf("null level weighs %v, want 0", missing.FieldWeights[cmpDOB])
	}
	if p := full.Probability(); p < 0.9999 {
		t.Errorf("identical records p = %v", p)
	}

	// Term frequency: a common name weighs less than a rare one.
	common := noFrequencies()
	common.total, common.count[cmpFamily] = 100_000, 5_000
	rare := noFrequencies()
	rare.total, rare.count[cmpFamily] = 100_000, 1
	wCommon := s.score(&robert, &robert, common).FieldWeights[cmpFamily]
	wRare := s.score(&robert, &robert, rare).FieldWeights[cmpFamily]
	if !(wCommon < full.FieldWeights[cmpFamily] && full.FieldWeights[cmpFamily] < wRare) {
		t.Errorf("tf weights: common %.2f, average %.2f, rare %.2f", wCommon, full.FieldWeights[cmpFamily], wRare)
	}
	if wRare > full.FieldWeights[cmpFamily]+defaultTFMaxBoost+1e-9 {
		t.Errorf("rare-value boost %.2f exceeds the cap", wRare-full.FieldWeights[cmpFamily])
	}

	// A person who moved: the whole address counts once, as one
	// disagreement, not one per field: the group floor.
	moved := robert
	moved.HouseNumber, moved.Street, moved.AddressLine2, moved.Locality, moved.Region, moved.Postcode =
		"3", "king st", "", "newtown", "vic", "3000"
	sc := s.Score(&robert, &moved)
	if got := addressWeight(sc); math.Abs(got-BaseModel().GroupFloors["address"]) > 1e-9 {
		t.Errorf("moved: address contributes %.2f, want the floor %.2f", got, BaseModel().GroupFloors["address"])
	}
	if sc.Address != levelAddressElse {
		t.Errorf("moved: graded address %s, want else", AddressLevelLabel(sc.Address))
	}
	// The same address: the fields agree as one fact, capped.
	if got := addressWeight(full); math.Abs(got-BaseModel().GroupCaps["address"]) > 1e-9 {
		t.Errorf("same address contributes %.2f, want the cap %.2f", got, BaseModel().GroupCaps["address"])
	}

	// Swapped names are bounded by the same names in place.
	swapped := robert
	swapped.Given, swapped.Family = robert.Family, robert.Given
	sw := s.Score(&robert, &swapped)
	if sw.FieldWeights[cmpGiven] > full.FieldWeights[cmpGiven]+full.FieldWeights[cmpFamily]+1e-9 {
		t.Errorf("swapped names weigh %.2f, more than exact names %.2f", sw.FieldWeights[cmpGiven], full.FieldWeights[cmpGiven]+full.FieldWeights[cmpFamily])
	}
}

func TestExplanationString(t *testing.T) {
	ctx := context.Background()
	m := newTestMatcher(t)
	idx := NewMemIndex()
	if _, err := m.Match(ctx, idx, Incoming{RecordID: "a/1", Record: robert}); err != nil {
		t.Fatal(err)
	}
	res, err := m.Match(ctx, idx, Incoming{RecordID: "b/1", Record: robert})
	if err != nil {
		t.Fatal(err)
	}
	s := res.Explanation.String()
	for _, want := range []string{"linked(match)", "keys=nm", "given_name=exact:+", "tf", "prior=-"} {
		if !strings.Contains(s, want) {
			t.Errorf("explanation %q lacks %q", s, want)
		}
	}
	for _, pii := range []string{"robert", "heidrich", "6104", "19440910"} {
		if strings.Contains(s, pii) {
			t.Errorf("explanation %q leaks %q", s, pii)
		}
	}
	cm := res.ContactMatch()
	if cm.Decision != contact.DecisionLinked || cm.Explanation != s || len(cm.Candidates) != 1 {
		t.Errorf("ContactMatch = %+v", cm)
	}
}

func TestMemIndexConflicts(t *testing.T) {
	ctx := context.Background()
	m := newTestMatcher(t)
	idx := NewMemIndex()
	// Two matchers look up the same new person concurrently: both find
	// nothing and decide "new". The second commit must conflict, and its
	// retry must link instead of creating a duplicate.
	inA := Incoming{RecordID: "online/1", Record: robert}
	inB := Incoming{RecordID: "offline/9", Record: robert}
	qa, qb := m.Query(inA), m.Query(inB)
	found, err := idx.Lookup(ctx, []Query{qa, qb})
	if err != nil {
		t.Fatal(err)
	}
	resA, wA := m.Decide(inA, qa, found[0])
	resB, wB := m.Decide(inB, qb, found[1])
	if resA.Decision != contact.DecisionNew || resB.Decision != contact.DecisionNew {
		t.Fatalf("decisions %s, %s", resA.Decision, resB.Decision)
	}
	errs, err := idx.Commit(ctx, []Write{*wA})
	if err != nil || errs[0] != nil {
		t.Fatal(err, errs)
	}
	errs, err = idx.Commit(ctx, []Write{*wB})
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(errs[0], ErrConflict) {
		t.Fatalf("stale create committed: %v", errs[0])
	}
	retry, err := m.Match(ctx, idx, inB)
	if err != nil {
		t.Fatal(err)
	}
	if retry.Decision != contact.DecisionLinked || retry.PersonID != resA.PersonID {
		t.Errorf("retry: %s", retry.Explanation)
	}

	// Replaying an applied write conflicts on its record id.
	errs, err = idx.Commit(ctx, []Write{*wA})
	if err != nil || !errors.Is(errs[0], ErrConflict) {
		t.Errorf("replayed write: %v, %v", err, errs)
	}
}

func TestMemIndexGenericKeys(t *testing.T) {
	ctx := context.Background()
	capped := func(key string) int { return 2 }
	idx := NewMemIndexWithCap(capped)
	m := newTestMatcher(t)
	// Three different people sharing one office email: after the cap the
	// key is generic and stops proposing candidates.
	for i, name := range []string{"anna", "boris", "chen"} {
		r := Record{Given: name, Family: fmt.Sprintf("family%d", i), EmailKey: "office@corp.example.net"}
		if _, err := m.Match(ctx, idx, Incoming{RecordID: fmt.Sprintf("s/%d", i), Record: r}); err != nil {
			t.Fatal(err)
		}
	}
	q := m.Query(Incoming{RecordID: "s/9", Record: Record{Given: "dora", EmailKey: "office@corp.example.net"}})
	found, err := idx.Lookup(ctx, []Query{q})
	if err != nil {
		t.Fatal(err)
	}
	var emailKey *KeyState
	for i, k := range q.Keys {
		if KeyRule(k) == "em" {
			emailKey = &found[0].Keys[i]
		}
	}
	if emailKey == nil || !emailKey.Generic || emailKey.Persons < 3 {
		t.Fatalf("email key state %+v, want generic", emailKey)
	}
	if len(found[0].Persons) != 0 {
		t.Errorf("generic key proposed %d candidates", len(found[0].Persons))
	}
}

func TestMatchBatchEqualsSequential(t *testing.T) {
	ctx := context.Background()
	m := newTestMatcher(t)
	var ins []Incoming
	for i := range 40 {
		r := robert
		r.Given = []string{"robert", "robret", "bob", "olivia", "oliiva"}[i%5]
		if i%5 >= 3 {
			r.Family, r.DOB, r.Street = "noack", "19661109", "endeavour st"
		}
		r.HouseNumber = fmt.Sprint(40 + i%3)
		ins = append(ins, Incoming{RecordID: fmt.Sprintf("s/%d", i), Record: r})
	}
	ins = append(ins, ins[3]) // the same record twice in one batch

	seqIdx := NewMemIndex()
	var seq []Result
	for _, in := range ins {
		r, err := m.Match(ctx, seqIdx, in)
		if err != nil {
			t.Fatal(err)
		}
		seq = append(seq, r)
	}
	batchIdx := NewMemIndex()
	batch, err := m.MatchBatch(ctx, batchIdx, ins)
	if err != nil {
		t.Fatal(err)
	}
	for i := range ins {
		if seq[i].Decision != batch[i].Decision || seq[i].PersonID != batch[i].PersonID {
			t.Errorf("record %d: sequential %s %s, batch %s %s", i, seq[i].Decision, seq[i].PersonID, batch[i].Decision, batch[i].PersonID)
		}
	}
	sp, sr := seqIdx.Stats()
	bp, br := batchIdx.Stats()
	if sp != bp || sr != br {
		t.Errorf("index sizes differ: sequential %d/%d, batch %d/%d", sp, sr, bp, br)
	}
}

// conflictingIndex makes the first Commit it sees conflict on every write,
// as if another matcher had written under the same keys in between.
type conflictingIndex struct {
	*MemIndex
	conflicts int
}

func (c *conflictingIndex) Commit(ctx context.Context, writes []Write) ([]error, error) {
	if c.conflicts > 0 {
		c.conflicts--
		errs := make([]error, len(writes))
		for i := range errs {
			errs[i] = fmt.Errorf("test: %w", ErrConflict)
		}
		return errs, nil
	}
	return c.MemIndex.Commit(ctx, writes)
}

func TestMatchRetriesConflicts(t *testing.T) {
	ctx := context.Background()
	m := newTestMatcher(t)
	idx := &conflictingIndex{MemIndex: NewMemIndex(), conflicts: 2}
	res, err := m.Match(ctx, idx, Incoming{RecordID: "a/1", Record: robert})
	if err != nil || res.Decision != contact.DecisionNew {
		t.Fatalf("after two conflicts: %+v, %v", res, err)
	}
	always := &conflictingIndex{MemIndex: NewMemIndex(), conflicts: 1000}
	if _, err := m.Match(ctx, always, Incoming{RecordID: "a/1", Record: robert}); !errors.Is(err, ErrConflict) {
		t.Errorf("endless conflicts: err = %v", err)
	}
}

func TestModelRoundTripAndValidation(t *testing.T) {
	var buf bytes.Buffer
	if err := BaseModel().Write(&buf); err != nil {
		t.Fatal(err)
	}
	m, err := ReadModel(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if m.Comparisons[cmpDOB].Levels[0].M != BaseModel().Comparisons[cmpDOB].Levels[0].M {
		t.Error("round trip changed the model")
	}
	path := t.TempDir() + "/model.json"
	if err := m.Save(path); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err != nil {
		t.Fatal(err)
	}

	bad := []func(m *Model){
		func(m *Model) { m.Version = 99 },
		func(m *Model) { m.PriorMatchProbability = 0 },
		func(m *Model) { m.Comparisons = m.Comparisons[1:] },
		func(m *Model) { m.Comparisons[0].Levels[0].Label = "exactly" },
		func(m *Model) { m.Comparisons[0].Levels[1].M = 0 },
		func(m *Model) { m.Comparisons[cmpDOB].Levels[0].TFAdjust = true },
	}
	for i, mutate := range bad {
		m := BaseModel()
		mutate(m)
		if err := m.Validate(); !errors.Is(err, ErrModel) {
			t.Errorf("mutation %d: Validate = %v, want ErrModel", i, err)
		}
	}
	for i, mutate := range []func(*Model){
		func(m *Model) { m.GroupFloors = map[string]float64{"address": 3} },
		func(m *Model) { m.GroupCaps = map[string]float64{"address": -1} },
	} {
		m := BaseModel()
		mutate(m)
		if err := m.Validate(); !errors.Is(err, ErrModel) {
			t.Errorf("group mutation %d: Validate = %v, want ErrModel", i, err)
		}
	}
	if _, err := ReadModel(strings.NewReader(`{"version":2,"unknown_setting":true}`)); !errors.Is(err, ErrModel) {
		t.Errorf("unknown field accepted: %v", err)
	}
}

func TestDefaultModel(t *testing.T) {
	m, err := DefaultModel()
	if err != nil {
		t.Fatal(err)
	}
	if m.Training == nil || len(m.Training.Data) == 0 {
		t.Error("default model does not record its training")
	}
	m.PriorMatchProbability = 0.5
	again, err := DefaultModel()
	if err != nil {
		t.Fatal(err)
	}
	if again.PriorMatchProbability == 0.5 {
		t.Error("DefaultModel returned shared state")
	}
}

func TestThresholdsValidate(t *testing.T) {
	for _, th := range []Thresholds{{Link: 0.5, Review: 0.9}, {Link: 1, Review: 0.5}, {Link: 0.9, Review: 0}} {
		if _, err := NewMatcher(BaseModel(), Options{Thresholds: th}); err == nil {
			t.Errorf("thresholds %+v accepted", th)
		}
	}
}

// rejectFirstWrite conflicts the first write of its first Commit only, as if
// another matcher had raced it, and applies the rest of the batch.
type rejectFirstWrite struct {
	*MemIndex
	done bool
}

func (r *rejectFirstWrite) Commit(ctx context.Context, writes []Write) ([]error, error) {
	if r.done || len(writes) == 0 {
		return r.MemIndex.Commit(ctx, writes)
	}
	r.done = true
	errs, err := r.MemIndex.Commit(ctx, writes[1:])
	if err != nil {
		return nil, err
	}
	return append([]error{fmt.Errorf("test: %w", ErrConflict)}, errs...), nil
}

func TestMatchBatchDependentWriteConflicts(t *testing.T) {
	ctx := context.Background()
	m := newTestMatcher(t)
	idx := &rejectFirstWrite{MemIndex: NewMemIndex()}
	dup := robert
	dup.Given = "robret"
	// The second record links to the person the first creates; when the
	// first write fails, the second must not be applied against a person
	// that does not exist.
	res, err := m.MatchBatch(ctx, idx, []Incoming{{RecordID: "a/1", Record: robert}, {RecordID: "b/1", Record: dup}})
	if err != nil {
		t.Fatal(err)
	}
	pa, okA := idx.PersonOf("a/1")
	pb, okB := idx.PersonOf("b/1")
	if !okA || !okB || pa != pb {
		t.Fatalf("after a conflict: a/1 -> %q (%v), b/1 -> %q (%v); results %s / %s",
			pa, okA, pb, okB, res[0].Explanation, res[1].Explanation)
	}
	if persons, _ := idx.Stats(); persons != 1 {
		t.Errorf("%d persons, want 1", persons)
	}
}

func TestConcurrentMatchersCreateNoDuplicates(t *testing.T) {
	ctx := context.Background()
	m := newTestMatcher(t)
	idx := NewMemIndex()
	const workers, entities = 8, 30
	given := []string{"amelia", "boris", "chen", "dmitri", "esther", "farah", "gustav", "hana", "ivan", "jonah"}
	family := []string{"okafor", "lindqvist", "moreau"}
	entity := func(e int) Record {
		return Record{
			Given: given[e%10], Family: family[e/10], DOB: fmt.Sprintf("19%02d%02d%02d", 30+e, 1+e%12, 1+(7*e)%28),
			HouseNumber: fmt.Sprint(100 + 37*e), Street: fmt.Sprintf("street%d st", e), Postcode: fmt.Sprint(3000 + 11*e),
		}
	}
	errc := make(chan error, workers)
	for w := range workers {
		go func() {
			for e := range entities {
				// Every worker submits its own record of every entity.
				in := Incoming{RecordID: fmt.Sprintf("sys%d/%d", w, e), Record: entity(e)}
				if _, err := m.Match(ctx, idx, in); err != nil {
					errc <- err
					return
				}
			}
			errc <- nil
		}()
	}
	for range workers {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	if persons, records := idx.Stats(); persons != entities || records != workers*entities {
		t.Errorf("%d persons for %d entities (%d records)", persons, entities, records)
	}
}

// A household member or neighbour (same street, a phone one digit off, other
// names) is never linked, however strong the address evidence.
func TestHouseholdMembersStayApart(t *testing.T) {
	ctx := context.Background()
	model, err := DefaultModel()
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewMatcher(model, Options{})
	if err != nil {
		t.Fatal(err)
	}
	idx := NewMemIndex()
	olivia := Record{Given: "olivia", Family: "obrien", Phone: "+19723840119", HouseNumber: "86", Street: "station rd",
		Locality: "austin", Region: "tx", Postcode: "78701"}
	partner := olivia
	partner.Given, partner.Family, partner.Phone = "samuel", "walker", "+19723840118"
	if _, err := m.Match(ctx, idx, Incoming{RecordID: "offline/1", Record: olivia}); err != nil {
		t.Fatal(err)
	}
	res, err := m.Match(ctx, idx, Incoming{RecordID: "offline/2", Record: partner})
	if err != nil {
		t.Fatal(err)
	}
	if res.Decision != contact.DecisionNew {
		t.Fatalf("household member: %s %s", res.Decision, res.Explanation)
	}
	// A namesake down the road: same given name, street and town, another
	// house, family name, email and phone.
	clara := Record{Given: "clara", Family: "adams", EmailKey: "clara.adams@mailbox.org", Phone: "+18032211456", HouseNumber: "71",
		Street: "station rd", Locality: "austin", Region: "tx", Postcode: "78701"}
	namesake := Record{Given: "clara", Family: "jones", EmailKey: "clara.jones@mailbox.org", Phone: "+18039876543", HouseNumber: "186",
		Street: "station rd", Locality: "austin", Region: "tx", Postcode: "78701"}
	if _, err := m.Match(ctx, idx, Incoming{RecordID: "offline/3", Record: clara}); err != nil {
		t.Fatal(err)
	}
	res, err = m.Match(ctx, idx, Incoming{RecordID: "offline/4", Record: namesake})
	if err != nil {
		t.Fatal(err)
	}
	if res.Decision != contact.DecisionNew {
		t.Fatalf("namesake: %s %s", res.Decision, res.Explanation)
	}
}

// addressWeight is what the address fields add to a pair's weight, their
// group's floor or cap included.
func addressWeight(ps PairScore) float64 {
	w := ps.GroupAdjustment
	for i, c := range comparisons {
		if c.group == "address" {
			w += ps.FieldWeights[i]
		}
	}
	return w
}

// A record that reaches the link threshold with two persons links to the
// best one when it is at least DominanceMargin bits better; within the
// margin it waits for a person's decision.
func TestMatcherBestOfPersons(t *testing.T) {
	ctx := context.Background()
	m := newTestMatcher(t)
	typo := robert
	typo.DOB = "19440901" // a typo in the date: a weaker, still linking match
	tests := []struct {
		name     string
		second   Record
		decision contact.Decision
		reason   string
	}{
		{"one person fits far better", typo, contact.DecisionLinked, "best_of_persons"},
		{"two persons fit alike", robert, contact.DecisionAmbiguous, "multiple_persons"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			idx := NewMemIndex()
			for id, r := range map[string]Record{"p1": robert, "p2": tt.second} {
				errs, err := idx.Commit(ctx, []Write{{
					PersonID: id, NewPerson: true, Member: Member{RecordID: "old/" + id, Record: r},
					Keys: Keys(r), Terms: Terms(r), KeyVersions: anyVersions(len(Keys(r))),
				}})
				if err != nil || errs[0] != nil {
					t.Fatal(err, errs)
				}
			}
			res, err := m.Match(ctx, idx, Incoming{RecordID: "new/1", Record: robert})
			if err != nil {
				t.Fatal(err)
			}
			if res.Decision != tt.decision || res.Explanation.Reason != tt.reason || res.Explanation.AboveLink != 2 {
				t.Fatalf("decision %s, want %s(%s): %s", res.Decision, tt.decision, tt.reason, res.Explanation)
			}
			if tt.decision == contact.DecisionLinked {
				if res.PersonID != "p1" || res.Candidates[0].Weight-res.Candidates[1].Weight < DominanceMargin {
					t.Errorf("linked to %s: %s", res.PersonID, res.Explanation)
				}
				if !slices.ContainsFunc(res.Explanation.Words(), func(w string) bool { return strings.Contains(w, "best of 2 persons") }) {
					t.Errorf("words do not say why: %q", res.Explanation.Words())
				}
			}
		})
	}
}
