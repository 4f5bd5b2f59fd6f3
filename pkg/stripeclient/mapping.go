package stripeclient

import (
	"net/url"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/stripe"
)

// Canonical fields and the customer parameters Stripe keeps them in. Stripe
// has one name; given and family name are also kept in metadata, so that
// the webhook of the write splits the name back as it was.
var params = map[contact.Field]string{
	contact.Email: "email", contact.Phone: "phone",
	contact.AddressLine1: "address[line1]", contact.AddressLine2: "address[line2]", contact.Locality: "address[city]",
	contact.Region: "address[state]", contact.Postcode: "address[postal_code]", contact.Country: "address[country]",
}

func metaParam(key string) string { return "metadata[" + key + "]" }

// customerForm is the form of a create or an update: set values, "" for
// cleared ones (Stripe unsets a parameter sent empty; updates only), the
// record's links to other systems as metadata[<system>_id] (the offline id
// written back: metadata[offline_id]), and on a create the system the
// contact came from. Fields Stripe does not keep (organisation, date of
// birth, consent, giving totals) are not written. current is the
// customer's name now, for an update of one part of it.
func customerForm(rec contact.SinkRecord, create bool, current nameParts) url.Values {
	form := url.Values{}
	for f, v := range rec.Set {
		if p, ok := params[f]; ok {
			form.Set(p, v)
		}
	}
	cleared := map[contact.Field]bool{}
	if !create {
		for _, f := range rec.Clear {
			cleared[f] = true
			if p, ok := params[f]; ok {
				form.Set(p, "")
			}
		}
	}
	given, givenTouched := rec.Set[contact.GivenName]
	family, familyTouched := rec.Set[contact.FamilyName]
	givenTouched = givenTouched || cleared[contact.GivenName]
	familyTouched = familyTouched || cleared[contact.FamilyName]
	if givenTouched || familyTouched {
		if !givenTouched {
			given = current.given
		}
		if !familyTouched {
			family = current.family
		}
		if name := stripe.JoinName(given, family); name != "" || !create {
			form.Set("name", name)
			form.Set(metaParam(stripe.MetaGivenName), given)
			form.Set(metaParam(stripe.MetaFamilyName), family)
		}
	}
	for system, id := range rec.Links {
		if system != rec.TargetSystem && id != "" {
			form.Set(metaParam(system+"_id"), id)
		}
	}
	if create && rec.ReferenceSource != "" {
		form.Set(metaParam(stripe.MetaReferenceSource), rec.ReferenceSource)
	}
	return form
}

// needsCurrentName reports whether an update changes one part of the name
// only: Stripe's single name then needs the other part as it is.
func needsCurrentName(rec contact.SinkRecord) bool {
	touched := func(f contact.Field) bool {
		if _, ok := rec.Set[f]; ok {
			return true
		}
		for _, c := range rec.Clear {
			if c == f {
				return true
			}
		}
		return false
	}
	return touched(contact.GivenName) != touched(contact.FamilyName)
}
