package matcheval

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/contactsync/contactsync/pkg/cli"
)

// explainMain runs match explain as contactsync would and returns its exit code.
func explainMain(args []string, stdout, stderr io.Writer) int {
	return cli.Execute(context.Background(), ExplainCommand(), args, nil, stdout, stderr)
}

func runExplain(t *testing.T, wantCode int, args ...string) (stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	if code := explainMain(args, &out, &errOut); code != wantCode {
		t.Fatalf("explain %v exited %d, want %d\nstdout: %s\nstderr: %s", args, code, wantCode, out.String(), errOut.String())
	}
	return out.String(), errOut.String()
}

func TestExplainJSON(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		want []string
	}{
		{
			name: "same person with a nickname",
			a:    `{"given_name":"Ann","family_name":"Lee","email":"ann.lee@lee-family.net","date_of_birth":"1980-04-12"}`,
			b:    `{"given_name":"Anne","family_name":"Lee","email":"Ann.Lee@lee-family.net","date_of_birth":"12/04/1980"}`,
			want: []string{`a: given_name="ann" family_name="lee" date_of_birth="19800412" email="ann.lee@lee-family.net"`,
				`b: given_name="anne"`, "blocking: shared keys nm", "email ", "exact", "date_of_birth", "decision: linked (match)",
				"explanation: linked(match)", "probability: 1.0", "street         null      0 (missing in both)",
				"evidence:", "given names are nicknames of one name"},
		},
		{
			name: "household members in words",
			a:    `{"given_name":"Melissa","family_name":"Rodriguez","date_of_birth":"1965-04-12","address_line1":"14 Acacia Avenue","locality":"Bristol","postcode":"BS1 4DJ","country":"GB"}`,
			b:    `{"given_name":"Elizabeth","family_name":"Rodriguez","date_of_birth":"1944-03-02","address_line1":"14 Acacia Avenue","locality":"Bristol","postcode":"BS1 4DJ","country":"GB"}`,
			want: []string{"decision: new (household)", "the whole address agrees", "different given names",
				"ruled out: a member of the same household", "household=b"},
		},
		{
			name: "a move in words",
			a:    `{"given_name":"Mel","family_name":"Rodriguez","date_of_birth":"1965-04-12","address_line1":"3 King St","locality":"Leeds","postcode":"LS2 7EW","country":"GB"}`,
			b:    `{"given_name":"Melissa","family_name":"Rodriguez","date_of_birth":"1965-04-12","address_line1":"14 Acacia Avenue","locality":"Bristol","postcode":"BS1 4DJ","country":"GB"}`,
			want: []string{"decision: linked (match)", "another address", "moved:", " moved"},
		},
		{
			name: "swapped names count once",
			a:    `{"given_name":"Ann","family_name":"Lee","date_of_birth":"1980-04-12"}`,
			b:    `{"given_name":"Lee","family_name":"Ann","date_of_birth":"1980-04-12","email":"ann@lee.net"}`,
			want: []string{"given_name     swapped", "family_name    null     0 (counted by another comparison)",
				"email          null     0 (missing in a)"},
		},
		{
			name: "placeholders are dropped",
			a:    `{"given_name":"Unknown","date_of_birth":"1900-01-01"}`,
			b:    `{"given_name":"Ann","family_name":"Lee","date_of_birth":"1900-01-01"}`,
			want: []string{"a: (nothing to compare)", "blocking: no shared key"},
		},
		{
			name: "strangers sharing an office phone",
			a:    `{"given_name":"Ann","family_name":"Lee","phone":"+61 2 9374 4000","country":"AU"}`,
			b:    `{"given_name":"Boris","family_name":"Okafor","phone":"+61293744000"}`,
			want: []string{"blocking: shared keys tel", "phone", "decision: new (names_disagree)"},
		},
		{
			name: "no shared key",
			a:    `{"given_name":"Ann","family_name":"Lee"}`,
			b:    `{"given_name":"Chen","family_name":"Moreau"}`,
			want: []string{"blocking: no shared key", "would never compare", "a would be new"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _ := runExplain(t, 0, "--a", tt.a, "--b", tt.b)
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestExplainFEBRL(t *testing.T) {
	dir := febrlDir(t)
	files := filepath.Join(dir, "dataset4a.csv") + "," + filepath.Join(dir, "dataset4b.csv")
	out, _ := runExplain(t, 0, "--febrl", files, "--ids", "rec-1070-org,rec-1070-dup-0")
	for _, w := range []string{"a: rec-1070-org", "b: rec-1070-dup-0", "date_of_birth  exact", "prior", "total", "decision: linked"} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	_, errOut := runExplain(t, 1, "--febrl", files, "--ids", "rec-1070-org,rec-999999-org")
	if !strings.Contains(errOut, "rec-999999-org") {
		t.Errorf("missing id not reported: %s", errOut)
	}
}

func TestExplainUsage(t *testing.T) {
	runExplain(t, 2)
	runExplain(t, 2, "--a", `{}`)
	runExplain(t, 2, "--a", `{}`, "--b", `{}`, "--ids", "x,y")
	runExplain(t, 0, "-h")
	_, errOut := runExplain(t, 1, "--a", `{"nickname":"Bob"}`, "--b", `{}`)
	if !strings.Contains(errOut, `unknown field "nickname"`) {
		t.Errorf("unknown field not reported: %s", errOut)
	}
	runExplain(t, 1, "--a", `not json`, "--b", `{}`)
	runExplain(t, 1, "--a", `{}`, "--b", `{}`, "--model", "/nonexistent/model.json")
}
