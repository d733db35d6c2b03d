package wire

import "github.com/emersion/go-imap/v2"

// seqNumber reads seq-number = nz-number / "*"; "*" is returned as 0, the
// convention of imap.SeqSet and imap.UIDSet.
func (r *Reader) seqNumber() uint32 {
	if r.consume('*') {
		return 0
	}
	if !isDigit(r.peek()) {
		r.fail("Invalid sequence set")
	}
	n := r.number()
	if n == 0 {
		r.fail("Invalid sequence number 0")
	}
	return n
}

// seqRanges reads sequence-set = (seq-number / seq-range) *("," ...) and
// calls add with each range, normalised so Start <= Stop, with "n:*" as
// {n, 0} and "*" as {0, 0}. The ranges are kept as sent (not merged) so
// parsing stays linear; imap.SeqSet methods accept that form.
func (r *Reader) seqRanges(add func(start, stop uint32)) {
	for n := 0; ; n++ {
		if n >= r.opts.MaxItems {
			r.fail("Sequence set too long")
		}
		a := r.seqNumber()
		b := a
		if r.consume(':') {
			b = r.seqNumber()
		}
		switch {
		case a == 0 && b != 0:
			a, b = b, 0
		case b != 0 && a > b:
			a, b = b, a
		}
		add(a, b)
		if !r.consume(',') {
			return
		}
	}
}

// seqSet reads a sequence set of message sequence numbers, or "$" (RFC
// 5182 SEARCHRES), which is returned as imap.SearchRes().
func (r *Reader) seqSet() imap.NumSet {
	if r.consume('$') {
		return imap.SearchRes()
	}
	var s imap.SeqSet
	r.seqRanges(func(a, b uint32) { s = append(s, imap.SeqRange{Start: a, Stop: b}) })
	return s
}

// uidSet reads a sequence set of UIDs, or "$".
func (r *Reader) uidSet() imap.NumSet {
	if r.consume('$') {
		return imap.SearchRes()
	}
	return r.uidSetNoRes()
}

func (r *Reader) uidSetNoRes() imap.UIDSet {
	var s imap.UIDSet
	r.seqRanges(func(a, b uint32) { s = append(s, imap.UIDRange{Start: imap.UID(a), Stop: imap.UID(b)}) })
	return s
}

// numSet reads a sequence set interpreted as UIDs when uid is set.
func (r *Reader) numSet(uid bool) imap.NumSet {
	if uid {
		return r.uidSet()
	}
	return r.seqSet()
}
