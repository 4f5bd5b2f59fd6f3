package matcheval

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/adrg/strutil/metrics"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/match"
	"github.com/contactsync/contactsync/pkg/normalize"
)

// The generated household set: a deterministic, labelled contact file with
// what FEBRL lacks and donor files are full of: households (spouses, parents
// and children, a son named after his father; with and without a shared
// email or landline), people who moved, organisations sharing an address,
// nicknames, typos, swapped names, dates with day and month swapped, and
// missing fields. Entities are "h<household>.<member>" for people and
// "org<office>.<n>" for organisations, so an evaluation can tell which wrong links
// join two members of one household.

var genGivenFemale = []string{
	"Melissa", "Elizabeth", "Margaret", "Katherine", "Patricia", "Jennifer", "Susan", "Deborah",
	"Jessica", "Olivia", "Charlotte", "Amelia", "Harriet", "Beatrice", "Rosalind", "Gwendolyn",
	"Priya", "Ingrid", "Yvonne", "Theodora", "Fiona", "Naomi", "Ursula", "Wilhelmina",
}

var genGivenMale = []string{
	"Robert", "William", "James", "Richard", "Thomas", "Michael", "Christopher", "Joseph",
	"Daniel", "Edward", "Anthony", "Alexander", "Benedict", "Gregory", "Oscar", "Humphrey",
	"Rajesh", "Lars", "Victor", "Ignatius", "Malcolm", "Nigel", "Quentin", "Desmond",
}

// genNicknames are nicknames of the given names above that the nickname
// list knows (checked when used).
var genNicknames = map[string]string{
	"Robert": "Bob", "William": "Bill", "James": "Jim", "Richard": "Dick", "Thomas": "Tom",
	"Michael": "Mike", "Christopher": "Chris", "Joseph": "Joe", "Daniel": "Dan", "Edward": "Ted",
	"Anthony": "Tony", "Alexander": "Alex", "Elizabeth": "Liz", "Margaret": "Peggy",
	"Katherine": "Kate", "Patricia": "Pat", "Jennifer": "Jen", "Susan": "Sue", "Deborah": "Debbie",
	"Jessica": "Jess", "Gregory": "Greg",
}

var genFamily = []string{
	"Rodriguez", "Smith", "Okafor", "Lindqvist", "Papadopoulos", "Nakamura", "Fitzgerald",
	"Abernathy", "Kowalczyk", "Delacroix", "Hargreaves", "Montgomery", "Oyelaran", "Vasquez",
	"Whitlock", "Brennan", "Castellano", "Dunmore", "Ellsworth", "Ferreira", "Gallagher",
	"Holloway", "Iverson", "Jablonski", "Kingsley", "Lombardi", "Mackenzie", "Nordstrom",
	"Ostrowski", "Pemberton", "Quigley", "Rasmussen", "Sutherland", "Thornbury", "Underhill",
	"Valentine", "Wainwright", "Yardley", "Zimmerman", "Ashworth",
}

var genFamilyStems = []string{
	"Ash", "Black", "Bram", "Cald", "Dun", "Fair", "Gold", "Hart", "Kings", "Lang", "Mor",
	"North", "Pem", "Rad", "Stan", "Thorn", "Wood", "Whit", "Hol", "Ber", "Cran", "Elm",
}

var genFamilyEndings = []string{
	"ley", "worth", "ford", "field", "ton", "wick", "more", "shaw", "by", "well", "combe", "dale",
}

var genTowns = []struct{ town, postcode string }{
	{"Bristol", "BS1 4DJ"}, {"Leeds", "LS2 7EW"}, {"York", "YO1 7HH"}, {"Bath", "BA1 1LZ"},
	{"Exeter", "EX4 3SR"}, {"Durham", "DH1 3RH"}, {"Norwich", "NR2 1TF"}, {"Chester", "CH1 2HS"},
}

var genStreets = []string{
	"Acacia Avenue", "Birch Road", "Chapel Street", "Dovecote Lane", "Elm Grove", "Foxglove Close",
	"Granary Court", "Heather Drive", "Ivy Crescent", "Juniper Way",
}

var genOrganisations = []struct{ name, variant string }{
	{"Acme Widgets Ltd", "ACME Widgets Limited"},
	{"The Smith & Jones Partnership LLP", "Smith and Jones Partnership"},
	{"Riverside Food Bank e.V.", "Riverside Food Bank eV"},
	{"Northern Intl. Trading Co.", "Northern International Trading"},
	{"Greenleaf Community Trust", "The Greenleaf Community Trust"},
	{"Harbour Lights Theatre gGmbH", "Harbour Lights Theatre"},
	{"Oakwood Veterinary Surgery", "Oakwood Veterinary Surgery Ltd"},
	{"St Anne's Parish Hall", "St Annes Parish Hall"},
	{"Blue Door Architects Inc", "Blue Door Architects, Inc."},
	{"Meridian Assn. of Walkers", "Meridian Association of Walkers"},
}

type genPerson struct {
	entity        string
	given, family string
	dob           string // YYYY-MM-DD or ""
	email, mobile string // personal
	alwaysDOB     bool   // every record carries the date of birth
}

type genHome struct {
	line1, town, postcode string
	landline, email       string // shared by the household, or ""
}

type generator struct {
	rng      *rand.Rand
	usedOrgs map[string]bool
	out      []labelled
	n        int
}

// GenerateHouseholds returns the generated labelled set for a seed and a
// number of households, in a shuffled (but deterministic) arrival order.
func GenerateHouseholds(seed uint64, households int) []labelled {
	g := &generator{rng: rand.New(rand.NewPCG(seed, seed^0x5eed)), usedOrgs: map[string]bool{}}
	for h := range households {
		g.household(h)
		if h%10 == 0 {
			g.organisations(h / 10)
		}
	}
	g.rng.Shuffle(len(g.out), func(i, j int) { g.out[i], g.out[j] = g.out[j], g.out[i] })
	return g.out
}

func (g *generator) pick(list []string) string { return list[g.rng.IntN(len(list))] }

func (g *generator) chance(p float64) bool { return g.rng.Float64() < p }

// address returns a home: a street of a town, with the street's own
// postcode (a postcode covers a street, not a town), and a house number.
func (g *generator) address() genHome {
	t := genTowns[g.rng.IntN(len(genTowns))]
	s := g.rng.IntN(len(genStreets))
	postcode := fmt.Sprintf("%s%c%c", t.postcode[:len(t.postcode)-2], 'A'+byte(s), 'A'+byte(len(t.town)%20))
	return genHome{line1: fmt.Sprintf("%d %s", 1+g.rng.IntN(80), genStreets[s]), town: t.town, postcode: postcode}
}

// familyName returns a family name from the list or made of two parts, so
// that namesakes are about as common as in a real file.
func (g *generator) familyName() string {
	if g.chance(0.3) {
		return g.pick(genFamily)
	}
	return g.pick(genFamilyStems) + g.pick(genFamilyEndings)
}

// phone returns a well-formed UK number: a mobile (07xxx), a Bristol
// landline (0117) or a London one (020).
func (g *generator) phone(kind string) string {
	switch kind {
	case "mobile":
		return fmt.Sprintf("077%02d %06d", g.rng.IntN(100), g.rng.IntN(1000000))
	case "landline":
		return fmt.Sprintf("0117 %03d %04d", 200+g.rng.IntN(700), g.rng.IntN(10000))
	}
	return fmt.Sprintf("020 7%03d %04d", g.rng.IntN(1000), g.rng.IntN(10000))
}

func (g *generator) dob(fromYear, span int) string {
	return fmt.Sprintf("%04d-%02d-%02d", fromYear+g.rng.IntN(span), 1+g.rng.IntN(12), 1+g.rng.IntN(28))
}

// distinctGiven picks a given name unlike every name in taken: not a
// nickname of one, not within typo distance.
func (g *generator) distinctGiven(list []string, taken []string) string {
	jw := metrics.NewJaroWinkler()
	for {
		name := g.pick(list)
		ok := true
		for _, t := range taken {
			a, b := normalize.Name(name), normalize.Name(t)
			if a == b || normalize.IsNickname(a, b) || jw.Compare(a, b) >= 0.85 {
				ok = false
				break
			}
		}
		if ok {
			return name
		}
	}
}

func (g *generator) household(h int) {
	home := g.address()
	family := g.familyName()
	if g.chance(0.5) {
		home.landline = g.phone("landline")
	}
	var members []genPerson
	add := func(given, dob string) {
		p := genPerson{entity: fmt.Sprintf("h%d.%d", h, len(members)), given: given, family: family, dob: dob}
		if g.chance(0.6) {
			p.email = fmt.Sprintf("%s.%s%d@%s", strings.ToLower(given), strings.ToLower(family), g.rng.IntN(100),
				[]string{"mail.example.net", "post.example.org", "inbox.example.com"}[g.rng.IntN(3)])
			p.email = strings.ReplaceAll(p.email, "example", "exmpl")
		}
		if g.chance(0.5) {
			p.mobile = g.phone("mobile")
		}
		members = append(members, p)
	}
	first := g.dob(1940, 50)
	switch r := g.rng.Float64(); {
	case r < 0.35: // single
		add(g.pick(append(genGivenFemale, genGivenMale...)), first)
	default: // a couple, maybe with children
		add(g.pick(genGivenMale), first)
		add(g.distinctGiven(genGivenFemale, []string{members[0].given}), g.dob(1940, 50))
		if g.chance(0.3) {
			home.email = fmt.Sprintf("the%ss%d@family.exmpl.net", strings.ToLower(family), g.rng.IntN(100))
		}
		if r > 0.65 {
			year := 1990 + g.rng.IntN(15)
			children := 1 + g.rng.IntN(2)
			for range children {
				taken := make([]string, len(members))
				for i, m := range members {
					taken[i] = m.given
				}
				list := genGivenFemale
				if g.chance(0.5) {
					list = genGivenMale
				}
				add(g.distinctGiven(list, taken), g.dob(year, 5))
			}
			if g.chance(0.15) {
				// A son named after his father: told apart by his own
				// date of birth, which every record of both carries
				// (without it nothing in a record tells them apart).
				add(members[0].given, g.dob(year, 5))
				members[0].alwaysDOB, members[len(members)-1].alwaysDOB = true, true
			}
		}
	}
	for _, p := range members {
		g.person(p, home, len(members) > 1)
	}
}

// person emits a person's records: a first one, then zero to two more with
// the variations real files show.
func (g *generator) person(p genPerson, home genHome, shared bool) {
	records := 1 + g.rng.IntN(3)
	for k := range records {
		v := contact.Values{
			contact.GivenName: p.given, contact.FamilyName: p.family,
			contact.AddressLine1: home.line1, contact.Locality: home.town, contact.Postcode: home.postcode,
			contact.Country: "GB",
		}
		if p.dob != "" && (p.alwaysDOB || g.chance(0.85)) {
			v[contact.DateOfBirth] = p.dob
		}
		switch {
		case shared && home.email != "" && g.chance(0.7):
			v[contact.Email] = home.email
		case p.email != "":
			v[contact.Email] = p.email
		}
		switch {
		case p.mobile != "" && g.chance(0.6):
			v[contact.Phone] = p.mobile
		case home.landline != "" && g.chance(0.6):
			v[contact.Phone] = home.landline
		}
		if k > 0 {
			g.vary(v, p)
		}
		g.n++
		g.out = append(g.out, labelled{RecordID: fmt.Sprintf("g%d", g.n), Entity: p.entity, Values: v})
	}
}

// vary applies one or two of the usual variations to a later record.
func (g *generator) vary(v contact.Values, p genPerson) {
	for range 1 + g.rng.IntN(2) {
		switch g.rng.IntN(9) {
		case 0: // nickname
			if nick, ok := genNicknames[p.given]; ok && normalize.IsNickname(nick, p.given) {
				v[contact.GivenName] = nick
			}
		case 1: // a typo in the family name (not its first letter)
			v[contact.FamilyName] = typo(g.rng, p.family)
		case 2: // names swapped
			v[contact.GivenName], v[contact.FamilyName] = p.family, p.given
		case 3: // day and month swapped
			if d := v[contact.DateOfBirth]; d != "" && d[5:7] != d[8:10] && d[8:10] <= "12" {
				v[contact.DateOfBirth] = d[:5] + d[8:10] + "-" + d[5:7]
			}
		case 4: // missing date of birth and phone
			if !p.alwaysDOB {
				delete(v, contact.DateOfBirth)
			}
			delete(v, contact.Phone)
		case 5: // moved: a new address; names and date of birth, or the
			// personal email, carry the link
			moved := g.address()
			v[contact.AddressLine1], v[contact.Locality], v[contact.Postcode] = moved.line1, moved.town, moved.postcode
			if p.dob != "" {
				v[contact.DateOfBirth] = p.dob
			}
			if p.email != "" {
				v[contact.Email] = p.email
			}
			if v[contact.Phone] != p.mobile {
				delete(v, contact.Phone)
			}
		case 6: // missing address
			delete(v, contact.AddressLine1)
			delete(v, contact.Locality)
			delete(v, contact.Postcode)
		case 7: // upper case and a typo in the given name
			v[contact.GivenName] = strings.ToUpper(typo(g.rng, p.given))
		case 8: // missing email
			delete(v, contact.Email)
		}
	}
}

// typo swaps two adjacent letters after the first two.
func typo(rng *rand.Rand, s string) string {
	if len(s) < 5 {
		return s
	}
	i := 2 + rng.IntN(len(s)-3)
	b := []byte(s)
	b[i], b[i+1] = b[i+1], b[i]
	return string(b)
}

// organisations emits two different organisations at one office address, each with
// one to three records under spelling variants of its name.
func (g *generator) organisations(n int) {
	office := g.address()
	reception := g.phone("office")
	// Two organisations of one name on one street would be one
	// organisation with two doors: each name is used once per street.
	street := office.town + "|" + strings.TrimLeft(office.line1, "0123456789 ")
	var chosen []int
	for _, o := range g.rng.Perm(len(genOrganisations)) {
		if len(chosen) < 2 && !g.usedOrgs[street+"|"+genOrganisations[o].name] {
			g.usedOrgs[street+"|"+genOrganisations[o].name] = true
			chosen = append(chosen, o)
		}
	}
	for _, o := range chosen {
		org := genOrganisations[o]
		entity := fmt.Sprintf("org%d.%d", n, o)
		for k := range 1 + g.rng.IntN(3) {
			name := office.town + " " + org.name
			if k > 0 && g.chance(0.7) {
				name = office.town + " " + org.variant
			}
			v := contact.Values{
				contact.Organisation: name, contact.AddressLine1: office.line1, contact.Locality: office.town,
				contact.Postcode: office.postcode, contact.Country: "GB", contact.Phone: reception,
			}
			g.n++
			g.out = append(g.out, labelled{RecordID: fmt.Sprintf("g%d", g.n), Entity: entity, Values: v})
		}
	}
}

// groupOf returns the household ("h12") or the office ("org3") of an
// entity.
func groupOf(entity string) string {
	group, _, _ := strings.Cut(entity, ".")
	return group
}

// householdMerges counts the persons that hold records of two different
// members of one household, or two organisations of one office: links the
// matcher must never make.
func householdMerges(records []evalRecord, idx *match.MemIndex) int {
	person := assignment(records, idx)
	members := map[string]map[string]string{} // person -> group -> entity
	merged := map[string]bool{}
	for i, r := range records {
		g := groupOf(r.Entity)
		if members[person[i]] == nil {
			members[person[i]] = map[string]string{}
		}
		if e, ok := members[person[i]][g]; ok && e != r.Entity {
			merged[person[i]] = true
		}
		members[person[i]][g] = r.Entity
	}
	return len(merged)
}
