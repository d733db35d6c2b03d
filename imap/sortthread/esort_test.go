package sortthread

import (
	"slices"
	"testing"
)

func TestAppendOrderedSet(t *testing.T) {
	t.Parallel()
	tests := []struct {
		nums []uint32
		want string
	}{
		{nil, ""},
		{[]uint32{7}, "7"},
		{[]uint32{1, 2, 3, 5}, "1:3,5"},
		{[]uint32{5, 4, 3}, "5,4,3"}, // descending: "5:3" would lose the order
		{[]uint32{3, 1, 2, 9, 10, 11, 4}, "3,1:2,9:11,4"},
		{[]uint32{4294967294, 4294967295, 1}, "4294967294:4294967295,1"},
		{[]uint32{4294967295, 0}, "4294967295,0"}, // no wrap-around run
	}
	for _, tt := range tests {
		if got := string(AppendOrderedSet(nil, tt.nums)); got != tt.want {
			t.Errorf("AppendOrderedSet(%v) = %q, want %q", tt.nums, got, tt.want)
		}
	}
}

func TestPartialRangeSlice(t *testing.T) {
	t.Parallel()
	nums := []uint32{50, 40, 30, 20, 10}
	tests := []struct {
		r    PartialRange
		want []uint32
	}{
		{PartialRange{1, 2}, []uint32{50, 40}},
		{PartialRange{2, 1}, []uint32{50, 40}}, // either way round
		{PartialRange{4, 100}, []uint32{20, 10}},
		{PartialRange{6, 9}, nil},
		{PartialRange{-1, -2}, []uint32{20, 10}}, // the last two
		{PartialRange{-2, -1}, []uint32{20, 10}},
		{PartialRange{-5, -9}, []uint32{50}},
		{PartialRange{-6, -9}, nil},
		{PartialRange{0, 3}, nil},
		{PartialRange{-1, 3}, nil},
	}
	for _, tt := range tests {
		if got := tt.r.Slice(nums); !slices.Equal(got, tt.want) {
			t.Errorf("%v.Slice = %v, want %v", tt.r, got, tt.want)
		}
	}
}

func TestAppendESortData(t *testing.T) {
	t.Parallel()
	sorted := []uint32{5, 3, 4, 1, 2} // a result in sort order
	tests := []struct {
		nums []uint32
		ret  ESortReturn
		want string
	}{
		{sorted, ESortReturn{}, "ALL 5,3:4,1:2"}, // RETURN () is ALL
		{sorted, ESortReturn{Min: true, Max: true}, "MIN 5 MAX 2"},
		{sorted, ESortReturn{Min: true, Max: true, All: true, Count: true}, "MIN 5 MAX 2 COUNT 5 ALL 5,3:4,1:2"},
		{sorted, ESortReturn{Count: true}, "COUNT 5"},
		{sorted, ESortReturn{Partial: &PartialRange{2, 3}}, "PARTIAL (2:3 3:4)"},
		{sorted, ESortReturn{Count: true, Partial: &PartialRange{-1, -2}}, "COUNT 5 PARTIAL (-1:-2 1:2)"},
		{sorted, ESortReturn{Partial: &PartialRange{10, 20}}, "PARTIAL (10:20 NIL)"},
		{sorted, ESortReturn{Partial: &PartialRange{3, 2}}, "PARTIAL (2:3 3:4)"},     // echoed smaller first
		{sorted, ESortReturn{Partial: &PartialRange{-2, -1}}, "PARTIAL (-1:-2 1:2)"}, // smaller magnitude first
		{nil, ESortReturn{Min: true, Max: true, All: true, Count: true}, "COUNT 0"},
		{nil, ESortReturn{}, ""},
		{nil, ESortReturn{Partial: &PartialRange{1, 10}}, "PARTIAL (1:10 NIL)"},
	}
	for _, tt := range tests {
		if got := string(AppendESortData(nil, tt.nums, tt.ret)); got != tt.want {
			t.Errorf("AppendESortData(%v, %+v) = %q, want %q", tt.nums, tt.ret, got, tt.want)
		}
	}
	// It appends: what dst held stays in front.
	if got := string(AppendESortData([]byte(`* ESEARCH (TAG "A1") UID `), []uint32{9}, ESortReturn{Min: true})); got != `* ESEARCH (TAG "A1") UID MIN 9` {
		t.Errorf("appended after a prefix: %q", got)
	}
}
