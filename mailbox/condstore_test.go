package mailbox

import (
	"slices"
	"testing"
)

func TestUIDSetWithout(t *testing.T) {
	for _, tc := range []struct {
		set  UIDSet
		drop []uint32
		want UIDSet
	}{
		{uidSpan(1, 10), nil, uidSpan(1, 10)},
		{uidSpan(1, 10), []uint32{1}, uidSpan(2, 10)},
		{uidSpan(1, 10), []uint32{10}, uidSpan(1, 9)},
		{uidSpan(1, 10), []uint32{3, 4, 7}, UIDSet{uidRange(1, 2), uidRange(5, 6), uidRange(8, 10)}},
		{UIDSet{uidRange(1, 1), uidRange(5, 6)}, []uint32{1, 6}, UIDSet{uidRange(5, 5)}},
		{UIDSet{uidRange(1, 1)}, []uint32{1}, nil},
		{UIDSet{uidRange(4, 4294967295)}, []uint32{4294967295}, UIDSet{uidRange(4, 4294967294)}},
		{UIDSet{uidRange(2, 3), uidRange(8, 9)}, []uint32{1, 5, 10}, UIDSet{uidRange(2, 3), uidRange(8, 9)}},
	} {
		// Brute force: every UID of the set not dropped.
		var want UIDSet
		for _, r := range tc.set {
			for u := uint64(r.Start); u <= uint64(r.Stop) && u < uint64(r.Start)+100; u++ {
				if !slices.Contains(tc.drop, uint32(u)) {
					want = append(want, uidRange(uint32(u), uint32(u)))
				}
			}
		}
		got := tc.set.Without(tc.drop)
		if !slices.Equal(got, tc.want) {
			t.Errorf("%v without %v = %v, want %v", tc.set, tc.drop, got, tc.want)
		}
		if tc.set[len(tc.set)-1].Stop < 1000 {
			var flat UIDSet
			for _, r := range got {
				for u := r.Start; u <= r.Stop; u++ {
					flat = append(flat, uidRange(u, u))
				}
			}
			if !slices.Equal(flat, want) {
				t.Errorf("%v without %v = %v, brute force %v", tc.set, tc.drop, got, want)
			}
		}
	}
}

func uidRange(lo, hi uint32) UIDRange { return UIDRange{Start: lo, Stop: hi} }
