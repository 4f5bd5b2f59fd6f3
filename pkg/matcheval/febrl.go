package matcheval

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"github.com/contactsync/contactsync/pkg/contact"
)

// febrlColumns is the header of every FEBRL file.
var febrlColumns = []string{
	"rec_id", "given_name", "surname", "street_number", "address_1", "address_2",
	"suburb", "postcode", "state", "date_of_birth", "soc_sec_id",
}

// febrlEntity extracts the entity number N from rec-N-org / rec-N-dup-k.
var febrlEntity = regexp.MustCompile(`^rec-(\d+)-(org|dup-\d+)$`)

// labelled is one evaluation record: its contact values as they would
// arrive from a source system, and the ground-truth entity (used only to
// score the result, never to match).
type labelled struct {
	RecordID string
	Entity   string
	Values   contact.Values
}

// readFEBRL reads a FEBRL CSV file. Fields are separated by ", ", so leading
// spaces are trimmed; line endings may be LF or CRLF.
func readFEBRL(path string) ([]labelled, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read febrl: %w", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.TrimLeadingSpace = true
	r.FieldsPerRecord = len(febrlColumns)
	header, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("read febrl %s: header: %w", path, err)
	}
	for i, col := range febrlColumns {
		if strings.TrimSpace(header[i]) != col {
			return nil, fmt.Errorf("read febrl %s: column %d is %q, want %q", path, i, header[i], col)
		}
	}
	var out []labelled
	for {
		row, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read febrl %s: %w", path, err)
		}
		for i := range row {
			row[i] = strings.TrimSpace(row[i])
		}
		m := febrlEntity.FindStringSubmatch(row[0])
		if m == nil {
			return nil, fmt.Errorf("read febrl %s: record id %q is not rec-N-org or rec-N-dup-k", path, row[0])
		}
		out = append(out, labelled{RecordID: row[0], Entity: m[1], Values: FEBRLValues(row)})
	}
	return out, nil
}

// FEBRLValues maps a FEBRL row onto contact fields the way a source system
// would deliver them: the street number and street share address line 1,
// the suburb is the locality, the state the region, and the country is
// Australia; soc_sec_id is the personal identity number
// (contact.NationalID), as a donor's tax number would be. Empty columns are
// simply not supplied.
func FEBRLValues(row []string) contact.Values {
	v := contact.Values{contact.Country: "AU"}
	set := func(f contact.Field, s string) {
		if s = strings.TrimSpace(s); s != "" {
			v[f] = s
		}
	}
	set(contact.GivenName, row[1])
	set(contact.FamilyName, row[2])
	set(contact.AddressLine1, row[3]+" "+row[4])
	set(contact.AddressLine2, row[5])
	set(contact.Locality, row[6])
	set(contact.Postcode, row[7])
	set(contact.Region, row[8])
	set(contact.DateOfBirth, row[9])
	set(contact.NationalID, row[10])
	return v
}
