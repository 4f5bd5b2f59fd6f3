package contact

import (
	"fmt"
	"maps"
	"regexp"
)

// Mapping says where each canonical field lives in the systems' own
// shapes: the offline table's columns and the online events' keys. The
// rules file's mapping section sets it; what it leaves out keeps the
// reference names (DefaultMapping), so an existing configuration reads as
// before. It is plain data so that the decoders and the offline applier
// can all take it.
type Mapping struct {
	Offline OfflineMapping
	Online  OnlineMapping
}

// OfflineMapping names the offline contact table and its columns.
type OfflineMapping struct {
	ContactsTable         string
	IDColumn              string
	ReferenceSourceColumn string
	UpdatedByColumn       string
	UpdatedAtColumn       string
	// HouseholdColumn, when set, is the column the offline applier writes
	// the person's household id to (SinkRecord.HouseholdID); "" (the
	// default): the household id is not written.
	HouseholdColumn string
	// Columns maps a column to the field it holds (built-in or custom).
	Columns map[string]Field
}

// OnlineMapping names the keys of an online event's contact object.
type OnlineMapping struct {
	// Contact maps a key of the contact object to a field.
	Contact map[string]Field
	// Address maps a key of contact.address to a field.
	Address map[string]Field
	// Consent maps a key of contact.consent ("may we", true/false) to an
	// opt-out flag field ("do not"): the flag is its negation.
	Consent map[string]Field
	// CustomObject is the contact object's key whose object holds custom
	// fields by their own names ("custom_fields").
	CustomObject string
}

// DefaultMapping is the reference offline schema
// (deploy/postgres/offline-schema.sql) and the online event format of
// docs/platform-api.md.
func DefaultMapping() Mapping {
	return Mapping{
		Offline: OfflineMapping{
			ContactsTable: "contacts", IDColumn: "id", ReferenceSourceColumn: "reference_source",
			UpdatedByColumn: "updated_by", UpdatedAtColumn: "updated_at",
			Columns: map[string]Field{
				"first_name": GivenName, "last_name": FamilyName, "organisation": Organisation,
				"email": Email, "phone": Phone,
				"address1": AddressLine1, "address2": AddressLine2, "city": Locality,
				"state": Region, "postcode": Postcode, "country": Country,
				"birth_date":   DateOfBirth,
				"do_not_email": DoNotEmail, "do_not_mail": DoNotMail, "do_not_phone": DoNotPhone,
				"giving_total": GivingTotal, "last_gift_date": LastGiftDate,
				"last_gift_amount": LastGiftAmount, "highest_gift_amount": HighestGiftAmount,
				"highest_gift_date": HighestGiftDate, "first_gift_date": FirstGiftDate,
			},
		},
		Online: OnlineMapping{
			Contact: map[string]Field{
				"first_name": GivenName, "last_name": FamilyName, "organisation": Organisation,
				"email": Email, "phone": Phone, "date_of_birth": DateOfBirth,
			},
			Address: map[string]Field{
				"line1": AddressLine1, "line2": AddressLine2, "city": Locality,
				"region": Region, "postcode": Postcode, "country": Country,
			},
			Consent:      map[string]Field{"email": DoNotEmail, "post": DoNotMail, "phone": DoNotPhone},
			CustomObject: "custom_fields",
		},
	}
}

// Clone returns a deep copy of m.
func (m Mapping) Clone() Mapping {
	m.Offline.Columns = maps.Clone(m.Offline.Columns)
	m.Online.Contact = maps.Clone(m.Online.Contact)
	m.Online.Address = maps.Clone(m.Online.Address)
	m.Online.Consent = maps.Clone(m.Online.Consent)
	return m
}

// sqlName is a lower-case SQL identifier, used unquoted.
var sqlName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// ValidSQLName reports whether s can name a table or column unquoted.
func ValidSQLName(s string) bool { return sqlName.MatchString(s) }

// Check reports the first problem of m against the fields of fs: an
// unknown field, a field mapped twice in one system, a bad SQL name, a
// consent key on a field that is not an opt-out flag.
func (m Mapping) Check(fs *FieldSet) error {
	o := m.Offline
	for what, n := range map[string]string{"table": o.ContactsTable, "id column": o.IDColumn,
		"reference_source column": o.ReferenceSourceColumn, "updated_by column": o.UpdatedByColumn,
		"updated_at column": o.UpdatedAtColumn} {
		if !ValidSQLName(n) {
			return fmt.Errorf("offline %s %q: want a lower-case SQL name", what, n)
		}
	}
	if h := o.HouseholdColumn; h != "" {
		if !ValidSQLName(h) {
			return fmt.Errorf("offline household_id column %q: want a lower-case SQL name", h)
		}
		if _, taken := o.Columns[h]; taken || h == o.IDColumn || h == o.ReferenceSourceColumn || h == o.UpdatedByColumn || h == o.UpdatedAtColumn {
			return fmt.Errorf("offline household_id column %q is already the column of something else", h)
		}
	}
	byField := map[Field]string{}
	for col, f := range o.Columns {
		if !ValidSQLName(col) {
			return fmt.Errorf("offline column %q: want a lower-case SQL name", col)
		}
		if _, ok := fs.Lookup(f); !ok {
			return fmt.Errorf("offline column %q maps to unknown field %q", col, f)
		}
		if prev, dup := byField[f]; dup {
			return fmt.Errorf("offline columns %q and %q both map to field %q", min(col, prev), max(col, prev), f)
		}
		byField[f] = col
	}
	byField = map[Field]string{}
	for part, keys := range map[string]map[string]Field{"contact": m.Online.Contact, "address": m.Online.Address, "consent": m.Online.Consent} {
		for k, f := range keys {
			info, ok := fs.Lookup(f)
			switch {
			case k == "":
				return fmt.Errorf("online %s: empty key", part)
			case !ok:
				return fmt.Errorf("online %s key %q maps to unknown field %q", part, k, f)
			case part == "consent" && info.Kind != Bool:
				return fmt.Errorf("online consent key %q maps to %q, which is not an opt-out flag", k, f)
			}
			at := part + "." + k
			if prev, dup := byField[f]; dup {
				return fmt.Errorf("online keys %q and %q both map to field %q", min(at, prev), max(at, prev), f)
			}
			byField[f] = at
		}
	}
	return nil
}
