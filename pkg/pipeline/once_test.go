package pipeline_test

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/contactsync/contactsync/pkg/pipeline"
)

func TestPlanOnce(t *testing.T) {
	stored := map[string][]byte{"done": []byte("memo")}
	tests := []struct {
		name      string
		refs      []string
		reads     [][]string // what read is asked, per call
		memos     []string
		first     []int
		fresh     []bool
		copies    []bool
		remembers []bool
	}{
		{name: "empty batch", refs: nil, memos: []string{}, first: []int{}, fresh: []bool{}, copies: []bool{}, remembers: []bool{}},
		{name: "fresh events", refs: []string{"a", "b"}, reads: [][]string{{"a", "b"}},
			memos: []string{"", ""}, first: []int{0, 1}, fresh: []bool{true, true}, copies: []bool{false, false}, remembers: []bool{false, false}},
		{name: "remembered event and its copy", refs: []string{"done", "a", "done"}, reads: [][]string{{"done", "a"}},
			memos: []string{"memo", "", "memo"}, first: []int{0, 1, 0}, fresh: []bool{false, true, false},
			copies: []bool{false, false, true}, remembers: []bool{true, false, true}},
		{name: "copy of a fresh event", refs: []string{"a", "b", "a"}, reads: [][]string{{"a", "b"}},
			memos: []string{"", "", ""}, first: []int{0, 1, 0}, fresh: []bool{true, true, false},
			copies: []bool{false, false, true}, remembers: []bool{false, false, false}},
		{name: "unidentified items are neither read nor merged", refs: []string{"", "", "a"}, reads: [][]string{{"a"}},
			memos: []string{"", "", ""}, first: []int{0, 1, 2}, fresh: []bool{true, true, true},
			copies: []bool{false, false, false}, remembers: []bool{false, false, false}},
		{name: "nothing identified: no read", refs: []string{"", ""},
			memos: []string{"", ""}, first: []int{0, 1}, fresh: []bool{true, true}, copies: []bool{false, false}, remembers: []bool{false, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var reads [][]string
			read := func(_ context.Context, refs []string) ([][]byte, error) {
				reads = append(reads, refs)
				out := make([][]byte, len(refs))
				for i, r := range refs {
					out[i] = stored[r]
				}
				return out, nil
			}
			o, err := pipeline.PlanOnce(context.Background(), tt.refs, func(s string) bool { return s != "" }, read)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(reads, tt.reads) {
				t.Errorf("reads %q, want %q", reads, tt.reads)
			}
			memos := make([]string, len(tt.refs))
			fresh, copies, remembers := make([]bool, len(tt.refs)), make([]bool, len(tt.refs)), make([]bool, len(tt.refs))
			for i := range tt.refs {
				memos[i], fresh[i], copies[i], remembers[i] = string(o.Memos[i]), o.Fresh(i), o.Copy(i), o.Remembered(i)
			}
			if !reflect.DeepEqual(memos, tt.memos) || !reflect.DeepEqual(o.First, tt.first) || !reflect.DeepEqual(fresh, tt.fresh) ||
				!reflect.DeepEqual(copies, tt.copies) || !reflect.DeepEqual(remembers, tt.remembers) {
				t.Errorf("memos %q first %v fresh %v copies %v remembered %v;\nwant %q %v %v %v %v",
					memos, o.First, fresh, copies, remembers, tt.memos, tt.first, tt.fresh, tt.copies, tt.remembers)
			}
		})
	}
}

func TestPlanOnceErrors(t *testing.T) {
	down := errors.New("store down")
	all := func(string) bool { return true }
	if _, err := pipeline.PlanOnce(context.Background(), []string{"a"}, all,
		func(context.Context, []string) ([][]byte, error) { return nil, down }); !errors.Is(err, down) {
		t.Errorf("failing read: %v", err)
	}
	if _, err := pipeline.PlanOnce(context.Background(), []string{"a", "b"}, all,
		func(context.Context, []string) ([][]byte, error) { return make([][]byte, 1), nil }); err == nil {
		t.Error("a short answer was taken")
	}
}
