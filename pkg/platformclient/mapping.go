package platformclient

import (
	"strconv"
	"strings"

	"github.com/contactsync/contactsync/pkg/contact"
)

// Canonical fields and where the platform keeps them (docs/platform-api.md).
var topLevel = map[contact.Field]string{
	contact.GivenName: "first_name", contact.FamilyName: "last_name", contact.Organisation: "organisation",
	contact.Email: "email", contact.Phone: "phone", contact.DateOfBirth: "date_of_birth",
}

var addressKeys = map[contact.Field]string{
	contact.AddressLine1: "line1", contact.AddressLine2: "line2", contact.Locality: "city",
	contact.Region: "region", contact.Postcode: "postcode", contact.Country: "country",
}

// consentKeys: the platform keeps consent ("may we"), the canonical fields
// the opposite ("do not").
var consentKeys = map[contact.Field]string{
	contact.DoNotEmail: "email", contact.DoNotMail: "post", contact.DoNotPhone: "phone",
}

// patchOf is the JSON body of a create or a merge-patch update: set
// values, null for cleared ones (updates only), the record's links as
// external ids (the offline id written back), and on a create the system
// the contact came from. Giving totals are the platform's own and are not
// written.
func patchOf(rec contact.SinkRecord, create bool) map[string]any {
	body := map[string]any{}
	address, consent, custom := map[string]any{}, map[string]any{}, map[string]any{}
	put := func(f contact.Field, v any) {
		if _, builtin := contact.Lookup(f); !builtin {
			// A custom field of the rules file, by its own name, in its
			// canonical string form (null clears it).
			custom[string(f)] = v
		} else if k, ok := topLevel[f]; ok {
			body[k] = v
		} else if k, ok := addressKeys[f]; ok {
			address[k] = v
		} else if k, ok := consentKeys[f]; ok {
			if s, isText := v.(string); isText {
				v = s != "true"
			}
			consent[k] = v
		}
	}
	for f, v := range rec.Set {
		put(f, v)
	}
	if !create {
		for _, f := range rec.Clear {
			put(f, nil)
		}
	}
	if len(address) > 0 {
		body["address"] = address
	}
	if len(consent) > 0 {
		body["consent"] = consent
	}
	if len(custom) > 0 {
		body["custom_fields"] = custom
	}
	ids := map[string]any{}
	for system, id := range rec.Links {
		if system != rec.TargetSystem && id != "" {
			ids[system] = id
		}
	}
	if len(ids) > 0 {
		body["external_ids"] = ids
	}
	if create && rec.ReferenceSource != "" {
		body["reference_source"] = rec.ReferenceSource
	}
	return body
}

// zeroDecimal are ISO 4217 currencies without minor units.
var zeroDecimal = map[string]bool{"BIF": true, "CLP": true, "DJF": true, "GNF": true, "ISK": true, "JPY": true,
	"KMF": true, "KRW": true, "PYG": true, "RWF": true, "UGX": true, "VND": true, "VUV": true, "XAF": true,
	"XOF": true, "XPF": true}

// threeDecimal are ISO 4217 currencies with three minor digits.
var threeDecimal = map[string]bool{"BHD": true, "IQD": true, "JOD": true, "KWD": true, "LYD": true, "OMR": true, "TND": true}

// Amount renders an amount in minor units as the platform's decimal string
// in currency's minor unit, e.g. 2550 USD -> "25.50", 500 JPY -> "500".
func Amount(minor int64, currency string) string {
	digits := 2
	switch cur := strings.ToUpper(currency); {
	case zeroDecimal[cur]:
		digits = 0
	case threeDecimal[cur]:
		digits = 3
	}
	sign := ""
	if minor < 0 {
		sign, minor = "-", -minor
	}
	s := strconv.FormatInt(minor, 10)
	if digits == 0 {
		return sign + s
	}
	for len(s) <= digits {
		s = "0" + s
	}
	return sign + s[:len(s)-digits] + "." + s[len(s)-digits:]
}
