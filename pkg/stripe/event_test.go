package stripe

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/contactsync/contactsync/pkg/decode"
)

func TestDecimalAmount(t *testing.T) {
	for _, tc := range []struct {
		minor    int64
		currency string
		want     string
	}{
		{2550, "usd", "25.50"}, {5, "eur", "0.05"}, {100, "GBP", "1.00"},
		{500, "jpy", "500"}, {1, "KRW", "1"}, {1200, "mga", "1200"},
		{5125, "kwd", "5.125"}, {10, "bhd", "0.010"}, {1, "omr", "0.001"},
		{-2550, "usd", "-25.50"},
	} {
		if got := DecimalAmount(tc.minor, tc.currency); got != tc.want {
			t.Errorf("DecimalAmount(%d, %s) = %s, want %s", tc.minor, tc.currency, got, tc.want)
		}
	}
}

func TestSplitName(t *testing.T) {
	for _, tc := range []struct {
		name          string
		md            map[string]string
		given, family string
	}{
		{"Anna Adams", nil, "Anna", "Adams"},
		{"  Anna   Maria  Adams ", nil, "Anna Maria", "Adams"},
		{"Cher", nil, "", "Cher"},
		{"", nil, "", ""},
		{"Anna van der Berg", map[string]string{MetaGivenName: "Anna", MetaFamilyName: "van der Berg"}, "Anna", "van der Berg"},
		{"Anna", map[string]string{MetaGivenName: "Anna"}, "Anna", ""},
		// The name was edited in Stripe since the sync wrote the metadata.
		{"Anna Smith", map[string]string{MetaGivenName: "Anna", MetaFamilyName: "van der Berg"}, "Anna", "Smith"},
	} {
		g, f := SplitName(tc.name, tc.md)
		if g != tc.given || f != tc.family {
			t.Errorf("SplitName(%q) = %q, %q; want %q, %q", tc.name, g, f, tc.given, tc.family)
		}
	}
}

// event builds a Stripe event around data.object.
func event(typ, object string) []byte {
	return []byte(`{"id":"evt_t","object":"event","created":1764765600,"type":"` + typ + `","request":{"id":null,"idempotency_key":null},"data":{"object":` + object + `}}`)
}

// TestMapRejections: every event the mapping cannot read is an ErrEvent
// whose message names the field and never quotes a value.
func TestMapRejections(t *testing.T) {
	const secretValue = "SECRETVALUE"
	cus := `{"id":"cus_1","object":"customer","name":"A B"}`
	pi := func(fields string) string {
		return `{"id":"pi_1","object":"payment_intent","amount":100,"currency":"usd","customer":"cus_1"` + fields + `}`
	}
	for _, tc := range []struct {
		name, body, mention string
	}{
		{"not UTF-8", "{\"id\":\"evt_\xff\"}", "UTF-8"},
		{"not JSON", `{"id":`, "not a Stripe event"},
		{"array", `[1]`, "not a Stripe event"},
		{"not an event object", `{"id":"evt_1","object":"` + secretValue + `","created":1,"type":"customer.created"}`, "object"},
		{"no id", `{"object":"event","created":1,"type":"customer.created"}`, "id"},
		{"id with a control character", `{"id":"evt_\u0001","object":"event","created":1,"type":"customer.created"}`, "id"},
		{"id too long", `{"id":"` + strings.Repeat("e", 300) + `","object":"event","created":1,"type":"customer.created"}`, "id"},
		{"no created", `{"id":"evt_1","object":"event","type":"customer.created","data":{"object":` + cus + `}}`, "created"},
		{"created of the wrong type", `{"id":"evt_1","object":"event","created":"` + secretValue + `","type":"customer.created"}`, "created"},
		{"no data.object", `{"id":"evt_1","object":"event","created":1,"type":"customer.created"}`, "data.object"},
		{"data.object not an object", string(event("customer.created", `"`+secretValue+`"`)), "data.object"},
		{"customer of the wrong object", string(event("customer.updated", `{"id":"cus_1","object":"charge"}`)), "customer"},
		{"customer without id", string(event("customer.created", `{"object":"customer","name":"`+secretValue+`"}`)), "data.object.id"},
		{"customer name not a string", string(event("customer.created", `{"id":"cus_1","object":"customer","name":7}`)), "name"},
		{"payment intent of the wrong object", string(event("payment_intent.succeeded", `{"id":"pi_1","object":"customer"}`)), "payment_intent"},
		{"payment intent without currency", string(event("payment_intent.succeeded", `{"id":"pi_1","object":"payment_intent","amount":100,"customer":"cus_1"}`)), "currency"},
		{"payment intent with a bad currency", string(event("payment_intent.succeeded", pi(`,"currency":"u$d"`))), "currency"},
		{"payment intent with a zero amount", string(event("payment_intent.succeeded", pi(`,"amount":0`))), "amount"},
		{"payment intent with a negative amount", string(event("payment_intent.succeeded", pi(`,"amount":-5`))), "amount"},
		{"payment intent with a fractional amount", string(event("payment_intent.succeeded", pi(`,"amount":1.5`))), "amount"},
		{"payment intent with a huge amount", string(event("payment_intent.succeeded", pi(`,"amount":9007199254740993`))), "amount"},
		{"customer reference of the wrong type", string(event("payment_intent.succeeded", pi(`,"customer":7`))), "customer"},
		{"expanded customer without id", string(event("payment_intent.succeeded", pi(`,"customer":{"object":"customer"}`))), "customer"},
		{"charge of the wrong object", string(event("charge.succeeded", `{"id":"ch_1","object":"refund"}`)), "charge"},
		{"charge with a bad payment intent", string(event("charge.succeeded", `{"id":"ch_1","object":"charge","amount":100,"currency":"usd","payment_intent":[1]}`)), "payment_intent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Map([]byte(tc.body), Options{System: "stripe"})
			if !errors.Is(err, ErrEvent) {
				t.Fatalf("Map = %v, want ErrEvent", err)
			}
			if !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("error %q does not name %q", err, tc.mention)
			}
			if strings.Contains(err.Error(), secretValue) {
				t.Errorf("error quotes the value: %q", err)
			}
		})
	}
}

func TestMapIgnored(t *testing.T) {
	for _, body := range [][]byte{
		event("customer.deleted", `{"id":"cus_1","object":"customer","deleted":true}`),
		event("invoice.paid", `{"id":"in_1","object":"invoice"}`),
		event("payment_intent.succeeded", `{"id":"pi_1","object":"payment_intent","amount":100,"currency":"usd","customer":null}`),
		event("charge.succeeded", `{"id":"ch_1","object":"charge","amount":100,"currency":"usd","customer":"cus_1","payment_intent":"pi_1"}`),
	} {
		m, err := Map(body, Options{})
		if err != nil || m.Ignored == "" || m.Event != nil || m.EventID != "evt_t" {
			t.Errorf("Map(%s) = %+v, %v; want ignored", body, m, err)
		}
	}
}

// TestMapCustomerName: a name is supplied when the customer is created,
// when it changed, or when the sync's metadata says how it splits; an
// unchanged name is not guessed anew on every update.
func TestMapCustomerName(t *testing.T) {
	for _, tc := range []struct {
		name, typ, customer, previous string
		want                          map[string]any // first_name, last_name; absent = not supplied
	}{
		{"created", TypeCustomerCreated, `"name":"Anna van der Berg"`, ``, map[string]any{"first_name": "Anna van der", "last_name": "Berg"}},
		{"updated, name changed", TypeCustomerUpdated, `"name":"Anna Baker"`, `"name":"Anna Adams"`, map[string]any{"first_name": "Anna", "last_name": "Baker"}},
		{"updated, name unchanged", TypeCustomerUpdated, `"name":"Anna van der Berg","email":"a@example.org"`, `"email":"b@example.org"`, map[string]any{}},
		{"updated, name unchanged, split known", TypeCustomerUpdated, `"name":"Anna van der Berg","metadata":{"given_name":"Anna","family_name":"van der Berg"}`, `"email":null`, map[string]any{"first_name": "Anna", "last_name": "van der Berg"}},
		{"updated, name removed", TypeCustomerUpdated, `"name":null`, `"name":"Anna Adams"`, map[string]any{"first_name": nil, "last_name": nil}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := `{"id":"evt_1","object":"event","created":1764765600,"type":"` + tc.typ + `","data":{"object":{"id":"cus_1","object":"customer",` +
				tc.customer + `},"previous_attributes":{` + tc.previous + `}}}`
			m, err := Map([]byte(body), Options{System: "stripe"})
			if err != nil {
				t.Fatal(err)
			}
			var ev struct{ Contact map[string]any }
			if err := json.Unmarshal(m.Event, &ev); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"first_name", "last_name"} {
				want, supplied := tc.want[k]
				got, present := ev.Contact[k]
				if present != supplied || got != want {
					t.Errorf("%s = %v (present %v), want %v (present %v)", k, got, present, want, supplied)
				}
			}
		})
	}
}

func TestMapOrigin(t *testing.T) {
	cus := `{"id":"cus_1","object":"customer","name":"A B"}`
	for _, tc := range []struct{ request, want string }{
		{`{"id":"req_1","idempotency_key":"contactsync-e1"}`, "sync"},
		{`{"id":"req_1","idempotency_key":"other-e1"}`, "api"},
		{`{"id":null,"idempotency_key":null}`, "api"},
		{`"req_1"`, "api"}, // API versions before 2017-05-25
		{`null`, "api"},
	} {
		body := `{"id":"evt_1","object":"event","created":1764765600,"type":"customer.created","request":` + tc.request + `,"data":{"object":` + cus + `}}`
		m, err := Map([]byte(body), Options{System: "stripe"})
		if err != nil {
			t.Fatal(err)
		}
		var ev struct{ Origin string }
		_ = json.Unmarshal(m.Event, &ev)
		if ev.Origin != tc.want {
			t.Errorf("request %s: origin %q, want %q", tc.request, ev.Origin, tc.want)
		}
	}
}

// FuzzMap: the mapper never panics; whatever it maps, ingest reads (or
// kicks out with a reason, never a crash), and it is keyed by the contact.
func FuzzMap(f *testing.F) {
	paths, _ := os.ReadDir("testdata/events")
	for _, p := range paths {
		if strings.HasSuffix(p.Name(), ".json") {
			b, err := os.ReadFile("testdata/events/" + p.Name())
			if err == nil {
				f.Add(b)
			}
		}
	}
	f.Add(event("customer.updated", `{"id":"cus_1","object":"customer","name":null,"address":{"line1":null}}`))
	online, err := decode.NewOnline(decode.OnlineConfig{System: "stripe"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := Map(body, Options{System: "stripe"})
		if err != nil {
			if !errors.Is(err, ErrEvent) {
				t.Fatalf("error without a reason: %v", err)
			}
			return
		}
		if m.Ignored != "" {
			if m.Event != nil {
				t.Fatal("an ignored event with an online event")
			}
			return
		}
		if m.ContactID == "" || m.EventID == "" {
			t.Fatalf("mapped without contact or event id: %+v", m)
		}
		if _, err := online.Decode(nil, m.Event); err != nil {
			var ko *decode.Error
			if !errors.As(err, &ko) {
				t.Fatalf("ingest fails without a kick-out reason: %v", err)
			}
		}
	})
}
