package normalize

import (
	"bytes"
	_ "embed"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
)

// nicknamesCSV is the carltonnorthern/nicknames list (Apache-2.0); see
// data/PROVENANCE.md and data/License.txt.
//
//go:embed data/nicknames.csv
var nicknamesCSV []byte

// nicknameTable maps a normalised nickname to the normalised formal names it
// is a nickname of. It is built once from the embedded, read-only list.
var nicknameTable = sync.OnceValue(func() map[string][]string {
	table, err := parseNicknames(nicknamesCSV)
	if err != nil {
		// The list is embedded at build time and covered by a test, so a
		// parse failure is a build defect, not a run-time condition.
		panic(fmt.Sprintf("normalize: embedded nickname list: %v", err))
	}
	return table
})

func parseNicknames(data []byte) (map[string][]string, error) {
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = 3
	header, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("read header: %w", err)
	}
	if header[0] != "name1" || header[2] != "name2" {
		return nil, fmt.Errorf("unexpected header %q", header)
	}
	table := make(map[string][]string)
	for {
		row, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read row: %w", err)
		}
		if row[1] != "has_nickname" {
			continue
		}
		formal, nick := Name(row[0]), Name(row[2])
		if formal == "" || nick == "" || formal == nick {
			continue
		}
		if !slices.Contains(table[nick], formal) {
			table[nick] = append(table[nick], formal)
		}
	}
	for _, formals := range table {
		slices.Sort(formals)
	}
	return table, nil
}

// NameVariants returns the forms under which a given name should be compared
// and blocked: its normalised form first, then the formal names it is a
// nickname of ("bob" gives bob, robert). A multi-word given name also yields
// its first word and that word's formal names, so "Mary Jane" still meets
// "Mary". Two given names are nickname-equivalent when their variants
// intersect (bob/robert, bob/rob via robert). Returns nil for an empty name.
func NameVariants(given string) []string {
	n := Name(given)
	if n == "" {
		return nil
	}
	out := []string{n}
	add := func(v string) {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	table := nicknameTable()
	for _, f := range table[n] {
		add(f)
	}
	if first, _, multi := strings.Cut(n, " "); multi {
		add(first)
		for _, f := range table[first] {
			add(f)
		}
	}
	slices.Sort(out[1:])
	return out
}

// IsNickname reports whether two given names are different but
// nickname-equivalent (one is a nickname of the other, or both are nicknames
// of the same formal name). Equal names are not nicknames of each other.
func IsNickname(a, b string) bool {
	na, nb := Name(a), Name(b)
	if na == "" || nb == "" || na == nb {
		return false
	}
	table := nicknameTable()
	related := func(x, y string) bool {
		// y is a formal name of x, or x and y share a formal name.
		fx, fy := table[x], table[y]
		if slices.Contains(fx, y) {
			return true
		}
		for _, f := range fx {
			if slices.Contains(fy, f) {
				return true
			}
		}
		return false
	}
	return related(na, nb) || related(nb, na)
}

// IsKnownGivenName reports whether the nickname list knows the name as a
// given name (a nickname or a formal name). Unknown names are not
// necessarily family names: the list is far from complete.
func IsKnownGivenName(name string) bool {
	n := Name(name)
	if n == "" {
		return false
	}
	return knownGivenNames()[n]
}

// knownGivenNames is every name of the nickname list, built once.
var knownGivenNames = sync.OnceValue(func() map[string]bool {
	known := map[string]bool{}
	for nick, formal := range nicknameTable() {
		known[nick] = true
		for _, f := range formal {
			known[f] = true
		}
	}
	return known
})
