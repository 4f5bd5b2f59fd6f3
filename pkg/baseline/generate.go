package baseline

import (
	"encoding/csv"
	"fmt"
	"io"
	"strings"
)

// Truth is the known answer of a generated pair of exports.
type Truth struct {
	// Links maps an online record id to the offline record it is.
	Links map[string]string
	// OnlineOnly and OfflineOnly list the records of one system only.
	OnlineOnly, OfflineOnly []string
	// Differences maps an online record id to the fields in which it
	// differs from its offline record.
	Differences map[string][]string
}

var (
	genGiven  = []string{"Olivia", "Liam", "Charlotte", "Noah", "Amelia", "Oliver", "Isla", "William", "Mia", "Jack", "Ava", "Henry", "Grace", "Lucas", "Zoe", "Thomas", "Chloe", "Leo", "Ruby", "Hugo"}
	genFamily = []string{"Nguyen", "Smith", "Patel", "Brown", "Wilson", "Taylor", "Anderson", "Martin", "Thompson", "Walker", "White", "Harris", "Kelly", "Clarke", "Morrison", "Campbell", "Stewart", "Reid", "Fraser", "Murray"}
	genTown   = []string{"Brunswick", "Fitzroy", "Carlton", "Richmond", "Northcote", "Preston", "Coburg", "Footscray"}
)

var genSyllables = []string{"bar", "cor", "dun", "fel", "gar", "hol", "kin", "lam", "mor", "nes", "pol", "rad", "sen", "tor", "vak", "wil", "yor", "zan", "quo", "jem"}

// familyName is one of 8,000 made-up family names by hash (a real one for
// the first 20), so namesakes are as rare as in life.
func familyName(i int) string {
	if i < len(genFamily) {
		return genFamily[i]
	}
	d := digits(i, 10, 6)
	pick := func(k int) string { return genSyllables[int(d[k]-'0')*2+int(d[k+1]-'0')%2] }
	s := pick(0) + pick(2) + pick(4)
	return strings.ToUpper(s[:1]) + s[1:]
}

// street is a street name of many: a first and a last name and a kind
// of street, picked by hash.
func street(i int) string {
	n := int(digits(i, 4, 1)[0]-'0')*100 + int(digits(i, 7, 1)[0]-'0')*10 + int(digits(i, 8, 1)[0]-'0')
	kinds := []string{"Street", "Road", "Avenue", "Lane", "Crescent", "Drive", "Way", "Terrace"}
	return genGiven[n%len(genGiven)] + " " + genFamily[(n/20)%len(genFamily)] + " " + kinds[int(digits(i, 9, 1)[0]-'0')%len(kinds)]
}

// digits is a deterministic pseudo-random run of n digits for i.
func digits(i, salt, n int) string {
	x := uint64(i)*0x9e3779b97f4a7c15 + uint64(salt)*0xbf58476d1ce4e5b9
	out := make([]byte, n)
	for k := range out {
		x ^= x >> 31
		x *= 0x94d049bb133111eb
		x ^= x >> 29
		out[k] = byte('0' + x%10)
	}
	return string(out)
}

// Generate writes a pair of CSV exports of n persons with a known answer:
// of every ten persons, six are in both systems (one with another phone
// online, one with another house number, one without a birth date online;
// these three came from online, the rest from offline), two only offline
// and two only online. Deterministic in n.
func Generate(n int, offline, online io.Writer) (Truth, error) {
	truth := Truth{Links: map[string]string{}, Differences: map[string][]string{}}
	header := []string{"record_id", "reference_source", "given_name", "family_name", "email", "phone", "address_line1", "locality", "postcode", "country", "date_of_birth"}
	off, on := csv.NewWriter(offline), csv.NewWriter(online)
	if err := off.Write(header); err != nil {
		return truth, err
	}
	if err := on.Write(header); err != nil {
		return truth, err
	}
	for i := range n {
		given := genGiven[i%len(genGiven)]
		family := familyName(i)
		email := fmt.Sprintf("%s.%s.%d@mailbox.org", given, family, i)
		phone := "+614" + "1" + digits(i, 1, 7)
		// Addresses spread by hash, so neighbours in the sequence are not
		// neighbours in the street (the matcher rightly suspects those).
		line1 := fmt.Sprintf("%s %s", strings.TrimLeft(digits(i, 3, 3), "0")+"1", street(i))
		town := genTown[int(digits(i, 5, 1)[0]-'0')%len(genTown)]
		postcode := "3" + digits(i, 6, 3)
		// By hash: a date cycling with i would give every 420th person the
		// same first name and birthday.
		d := digits(i, 11, 6)
		dob := fmt.Sprintf("19%02d-%02d-%02d", 40+int(d[0]-'0')*6+int(d[1]-'0')%6, 1+(int(d[2]-'0')*10+int(d[3]-'0'))%12, 1+(int(d[4]-'0')*10+int(d[5]-'0'))%28)
		offID, onID := fmt.Sprintf("OFF-%07d", i), fmt.Sprintf("web-%07d", i)
		// Linked contacts with differences came from online (so the
		// default rules' online scope takes them), the rest from offline.
		ref := "offline"
		if k := i % 10; k >= 1 && k <= 3 {
			ref = "online"
		}
		offRow := []string{offID, ref, given, family, email, phone, line1, town, postcode, "AU", dob}
		onRow := []string{onID, "", given, family, email, phone, line1, town, postcode, "AU", dob}
		switch kind := i % 10; {
		case kind <= 5:
			switch kind {
			case 1:
				onRow[5] = "+614" + "2" + digits(i, 2, 7)
				truth.Differences[onID] = []string{"phone"}
			case 2:
				onRow[6] = "9" + line1
				truth.Differences[onID] = []string{"address_line1"}
			case 3:
				onRow[10] = ""
				truth.Differences[onID] = []string{"date_of_birth"}
			}
			truth.Links[onID] = offID
			if err := off.Write(offRow); err != nil {
				return truth, err
			}
			if err := on.Write(onRow); err != nil {
				return truth, err
			}
		case kind <= 7:
			truth.OfflineOnly = append(truth.OfflineOnly, offID)
			if err := off.Write(offRow); err != nil {
				return truth, err
			}
		default:
			truth.OnlineOnly = append(truth.OnlineOnly, onID)
			if err := on.Write(onRow); err != nil {
				return truth, err
			}
		}
	}
	off.Flush()
	on.Flush()
	if err := off.Error(); err != nil {
		return truth, err
	}
	return truth, on.Error()
}
