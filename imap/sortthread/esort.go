package sortthread

import (
	"strconv"
)

// AppendOrderedSet appends nums as a sequence-set that keeps their order, as
// ESORT's ALL and PARTIAL return data must (RFC 5267 section 3.2): a run of
// consecutive ascending numbers becomes "a:b", every other number stands
// alone. A descending run such as 5,4,3 is written out number by number,
// because "5:3" means the same set as "3:5" to a reader of sequence-sets and
// would lose the order. An empty nums appends nothing.
func AppendOrderedSet(dst []byte, nums []uint32) []byte {
	for i := 0; i < len(nums); {
		j := i
		for j+1 < len(nums) && nums[j] != ^uint32(0) && nums[j+1] == nums[j]+1 {
			j++
		}
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = strconv.AppendUint(dst, uint64(nums[i]), 10)
		if j > i {
			dst = append(dst, ':')
			dst = strconv.AppendUint(dst, uint64(nums[j]), 10)
		}
		i = j + 1
	}
	return dst
}

// PartialRange is the range of a PARTIAL return option (RFC 5267 section
// 4.4, generalised by RFC 9394 section 3): 1-based positions in the result
// in sort order, both positive, or both negative to count from
// the end (-1 is the last result, "-1:-10" asks for the last ten). Either
// bound may come first.
type PartialRange struct {
	First, Last int32
}

// Slice returns the part of nums the range selects; nil when it selects
// nothing, and for a malformed range (zero, or mixed signs).
func (p PartialRange) Slice(nums []uint32) []uint32 {
	n := int64(len(nums))
	a, b := int64(min(p.First, p.Last)), int64(max(p.First, p.Last))
	var lo, hi int64 // a half-open range of indices
	switch {
	case a > 0:
		lo, hi = a-1, b
	case b < 0:
		// -1 is the last index, n-1.
		lo, hi = n+a, n+b+1
	default:
		return nil
	}
	lo, hi = max(lo, 0), min(hi, n)
	if lo >= hi {
		return nil
	}
	return nums[lo:hi]
}

// ESortReturn lists the result options of a SORT ... RETURN (...) (RFC 5267
// section 3.1). The zero value, an empty RETURN (), means ALL alone (RFC
// 4731 section 3.1).
type ESortReturn struct {
	Min, Max, All, Count bool
	// Partial is the PARTIAL range, or nil.
	Partial *PartialRange
}

// AppendESortData appends the search-return-data of an ESEARCH response for
// nums, the SORT result already in sort order (RFC 5267 section 3.2, RFC
// 4731 section 3.1): "MIN a MAX b COUNT n ALL set PARTIAL (r set)", the items
// asked for, in this order, separated by single spaces and with no leading
// space; the caller writes `* ESEARCH (TAG "...")` and " UID" before it. MIN
// and MAX are the first and last message in sort order, not the smallest and
// largest numbers. With no result MIN, MAX and ALL are left out, COUNT is 0,
// and PARTIAL's set is NIL (RFC 9394 section 3.1). It may append nothing.
func AppendESortData(dst []byte, nums []uint32, ret ESortReturn) []byte {
	if ret == (ESortReturn{}) {
		ret.All = true
	}
	start := len(dst)
	item := func(name string) {
		if len(dst) > start {
			dst = append(dst, ' ')
		}
		dst = append(dst, name...)
		dst = append(dst, ' ')
	}
	if len(nums) > 0 && ret.Min {
		item("MIN")
		dst = strconv.AppendUint(dst, uint64(nums[0]), 10)
	}
	if len(nums) > 0 && ret.Max {
		item("MAX")
		dst = strconv.AppendUint(dst, uint64(nums[len(nums)-1]), 10)
	}
	if ret.Count {
		item("COUNT")
		dst = strconv.AppendInt(dst, int64(len(nums)), 10)
	}
	if len(nums) > 0 && ret.All {
		item("ALL")
		dst = AppendOrderedSet(dst, nums)
	}
	if p := ret.Partial; p != nil {
		item("PARTIAL")
		// The range comes back with its smaller magnitude first, "4:2"
		// as "2:4" (Dovecot does the same; imaptest's sort-partial
		// expects it).
		a, b := p.First, p.Last
		if abs(a) > abs(b) {
			a, b = b, a
		}
		dst = append(dst, '(')
		dst = strconv.AppendInt(dst, int64(a), 10)
		dst = append(dst, ':')
		dst = strconv.AppendInt(dst, int64(b), 10)
		dst = append(dst, ' ')
		if part := p.Slice(nums); len(part) > 0 {
			dst = AppendOrderedSet(dst, part)
		} else {
			dst = append(dst, "NIL"...)
		}
		dst = append(dst, ')')
	}
	return dst
}

func abs(v int32) int64 {
	if v < 0 {
		return -int64(v)
	}
	return int64(v)
}
