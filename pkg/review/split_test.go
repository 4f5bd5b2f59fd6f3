package review

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestPlanSplit(t *testing.T) {
	members := []string{"offline/OFF-1", "online/w1", "online/w2"}
	tests := []struct {
		name          string
		members       []string
		chosen        []string
		moved, kept   []string
		wantErrPrefix string
	}{
		{"one record off", members, []string{"online/w2"}, []string{"online/w2"}, []string{"offline/OFF-1", "online/w1"}, ""},
		{"two, repeated, out of order", members, []string{"online/w2", "online/w1", "online/w2"},
			[]string{"online/w1", "online/w2"}, []string{"offline/OFF-1"}, ""},
		{"nothing chosen", members, nil, nil, nil, "choose the records"},
		{"all chosen", members, members, nil, nil, "choose some of the records, not all"},
		{"not a member", members, []string{"online/w9"}, nil, nil, "record online/w9 is not one of"},
		{"no members", nil, []string{"online/w1"}, nil, nil, "person p-1 has no records"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := PlanSplit("p-1", tt.members, tt.chosen)
			if tt.wantErrPrefix != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErrPrefix) || !errors.Is(err, ErrInvalid) {
					t.Fatalf("err %v, want %q…", err, tt.wantErrPrefix)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(p.Moved, tt.moved) || !reflect.DeepEqual(p.Kept, tt.kept) {
				t.Errorf("moved %v kept %v", p.Moved, p.Kept)
			}
			if p.NewPersonID == "p-1" || !strings.HasPrefix(p.NewPersonID, "p-") || len(p.NewPersonID) != 26 {
				t.Errorf("new person %q", p.NewPersonID)
			}
		})
	}
	a, _ := PlanSplit("p-1", members, []string{"online/w1", "online/w2"})
	b, _ := PlanSplit("p-1", members, []string{"online/w2", "online/w1"})
	c, _ := PlanSplit("p-1", members, []string{"online/w2"})
	if a.NewPersonID != b.NewPersonID || a.NewPersonID == c.NewPersonID {
		t.Errorf("new person ids: %s %s %s (same records, same id; others, another)", a.NewPersonID, b.NewPersonID, c.NewPersonID)
	}
}
