package normalize

import (
	"strings"
	"testing"
)

// Email errors end up in kick-out error texts, which are shown to reviewers
// and logged: they must say what is wrong without quoting the address (PII).
func TestEmailErrorsDoNotQuoteTheAddress(t *testing.T) {
	tests := []struct {
		in string
		// secrets are the parts of the input that must not appear.
		secrets []string
	}{
		{"janedoe@xn--secretlabel.org", []string{"janedoe", "xn--secretlabel", "secretlabel"}},
		{"janedoe@secret\u200dlabel.org", []string{"janedoe", "secret", "label"}},
		{"janedoe@secret\u0600label.org", []string{"janedoe", "secret", "label"}}, // bidi rule
		{"janedoe@secret_label.org", []string{"janedoe", "secret", "label"}},
		{"janedoe@xn--a.secretdomain.org", []string{"janedoe", "xn--a", "secretdomain"}},
		{"janedoe@" + strings.Repeat("secretlabel", 7) + ".org", []string{"janedoe", "secretlabel"}},
		{"janedoe@secretdomain", []string{"janedoe", "secretdomain"}},
		{"jane doe@secretdomain.org", []string{"jane", "doe", "secretdomain"}},
		{"janedoe", []string{"janedoe"}},
	}
	for _, tt := range tests {
		_, err := Email(tt.in)
		if err == nil {
			t.Errorf("Email(%q): want an error", tt.in)
			continue
		}
		for _, s := range tt.secrets {
			if strings.Contains(strings.ToLower(err.Error()), strings.ToLower(s)) {
				t.Errorf("Email(%q) error %q quotes %q from the address", tt.in, err, s)
			}
		}
	}
}
