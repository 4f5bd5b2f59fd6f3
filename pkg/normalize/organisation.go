package normalize

import "strings"

// legalForms are the words of legal-form suffixes (in Name form, so "e.V."
// is "ev" and "Pty. Ltd." is "pty ltd"). They say how an organisation is
// registered, not which one it is: "Acme Ltd" and "ACME Limited" are one
// organisation.
var legalForms = map[string]bool{
	"inc": true, "incorporated": true, "ltd": true, "limited": true, "llc": true, "llp": true,
	"lp": true, "plc": true, "corp": true, "corporation": true, "co": true, "company": true,
	"pty": true, "pte": true, "gmbh": true, "ggmbh": true, "mbh": true, "ag": true, "kg": true,
	"ohg": true, "ug": true, "gbr": true, "ev": true, "eg": true, "sa": true, "sarl": true,
	"sas": true, "bv": true, "nv": true, "srl": true, "spa": true, "ab": true, "as": true,
	"oy": true, "cic": true, "cio": true, "pc": true, "pllc": true,
}

// organisationWords spells out common abbreviations in organisation names,
// so that "Intl. Assn. of ..." and "International Association of ..."
// compare equal.
var organisationWords = map[string]string{
	"intl": "international", "int": "international", "assn": "association", "assoc": "association",
	"dept": "department", "univ": "university", "uni": "university", "natl": "national",
	"nat": "national", "mt": "mount", "bros": "brothers", "ctr": "centre", "center": "centre",
	"svc": "services", "svcs": "services", "service": "services", "soc": "society",
	"inst": "institute", "fdn": "foundation", "mfg": "manufacturing", "grp": "group",
	"hosp": "hospital", "govt": "government", "dev": "development", "mgmt": "management",
	"tech": "technology", "cttee": "committee", "cmte": "committee",
}

// OrganisationName returns the comparison form of an organisation name:
// Name form, "&" read as "and", a leading "the", the word "and" and
// legal-form suffixes (Inc, Ltd, LLC, GmbH, gGmbH, e.V., Pty Ltd ...)
// dropped, and common abbreviations spelt out. "The Smith & Jones Co., Ltd."
// and "Smith and Jones" give the same form. A name made only of such words
// keeps its Name form, so it is not lost.
func OrganisationName(raw string) string {
	n := Name(strings.ReplaceAll(raw, "&", " and "))
	words := strings.Fields(n)
	// "e. V." and "e.V." both mean eingetragener Verein.
	var joined []string
	for i := 0; i < len(words); i++ {
		if i+1 < len(words) && words[i] == "e" && (words[i+1] == "v" || words[i+1] == "g") {
			joined = append(joined, "e"+words[i+1])
			i++
			continue
		}
		joined = append(joined, words[i])
	}
	words = joined
	if len(words) > 1 && words[0] == "the" {
		words = words[1:]
	}
	for len(words) > 1 && legalForms[words[len(words)-1]] {
		words = words[:len(words)-1]
	}
	out := make([]string, 0, len(words))
	for _, w := range words {
		if w == "and" {
			continue
		}
		if full, ok := organisationWords[w]; ok {
			w = full
		}
		out = append(out, w)
	}
	if len(out) == 0 {
		return n
	}
	return strings.Join(out, " ")
}
