package wire

import (
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
)

// Search is SEARCH / UID SEARCH (RFC 9051 section 6.4.4) with ESEARCH
// return options (RFC 4731, RFC 5182 SAVE).
type Search struct {
	Base
	UID bool
	// Charset is upper case, "" when absent. The parser takes strings as
	// bytes; the session answers NO [BADCHARSET (UTF-8 US-ASCII)] for a
	// charset it does not know (RFC 9051 section 6.4.4).
	Charset  string
	Return   *imap.SearchOptions // nil without RETURN; RETURN () means ALL
	Criteria SearchCriteria
	ReturnExt
}

// ReturnExt holds the RETURN options of RFC 5267 and RFC 9394 that
// imap.SearchOptions has no field for.
type ReturnExt struct {
	Update  bool     // UPDATE: keep the client told of changes (RFC 5267 4.3)
	Context bool     // CONTEXT: a hint that UPDATE or PARTIAL may follow
	Partial *Partial // PARTIAL range (RFC 9394), nil when absent
}

// Partial is a PARTIAL range: 1-based positions in the result, both
// positive, or both negative to count from the end (-1 is the last).
type Partial struct {
	First, Last int32
}

// SearchCriteria is imap.SearchCriteria plus the keys that type has no
// field for. The embedded value's own Not and Or are never set: this
// struct's Not and Or, which can hold the extra keys, are used instead.
//
// Mappings: ON d is Since d and Before d+1 day (likewise SENTON and
// SAVEDON, RFC 8514); RECENT, NEW and OLD use the flag \Recent; SMALLER 0 (which
// imap.SearchCriteria cannot say) is NOT ALL; "$" (RFC 5182) is
// imap.SearchRes() in UID; FROM, TO, CC, BCC and SUBJECT are Header
// entries with those names.
type SearchCriteria struct {
	imap.SearchCriteria

	Not []SearchCriteria
	Or  [][2]SearchCriteria

	Older, Younger uint32 // RFC 5032 WITHIN, seconds; 0 when absent

	// RFC 8514 SAVEDATE
	SaveDateSince, SaveDateBefore time.Time
	SaveDateSupported             bool

	EmailID, ThreadID []string // RFC 8474 OBJECTID
}

// IMAP returns the criteria as imap.SearchCriteria, or false if they use a
// key that type cannot hold.
func (c *SearchCriteria) IMAP() (imap.SearchCriteria, bool) {
	if c.Older != 0 || c.Younger != 0 || !c.SaveDateSince.IsZero() || !c.SaveDateBefore.IsZero() ||
		c.SaveDateSupported || len(c.EmailID) > 0 || len(c.ThreadID) > 0 {
		return imap.SearchCriteria{}, false
	}
	out := c.SearchCriteria
	out.Not, out.Or = nil, nil
	for i := range c.Not {
		n, ok := c.Not[i].IMAP()
		if !ok {
			return imap.SearchCriteria{}, false
		}
		out.Not = append(out.Not, n)
	}
	for i := range c.Or {
		a, ok1 := c.Or[i][0].IMAP()
		b, ok2 := c.Or[i][1].IMAP()
		if !ok1 || !ok2 {
			return imap.SearchCriteria{}, false
		}
		out.Or = append(out.Or, [2]imap.SearchCriteria{a, b})
	}
	return out, true
}

func since(t, d time.Time) time.Time {
	if t.IsZero() || d.After(t) {
		return d
	}
	return t
}

func before(t, d time.Time) time.Time {
	if t.IsZero() || d.Before(t) {
		return d
	}
	return t
}

func (r *Reader) parseSearch(b Base, uid bool) Command {
	c := &Search{Base: b, UID: uid}
	r.sp()
	if r.peekKeyword("RETURN") {
		r.sp()
		c.Return = r.searchReturn(true, &c.ReturnExt)
		r.sp()
	}
	if r.peekKeyword("CHARSET") {
		r.sp()
		c.Charset = r.charset()
		r.sp()
	}
	r.searchProgram(&c.Criteria)
	return c
}

// peekKeyword consumes kw (case-insensitive) if it is the next atom.
func (r *Reader) peekKeyword(kw string) bool {
	end := r.pos + len(kw)
	if end > len(r.line) || !strings.EqualFold(string(r.line[r.pos:end]), kw) {
		return false
	}
	if end < len(r.line) && isAtomChar(r.line[end]) {
		return false
	}
	r.pos = end
	return true
}

// charset = atom / quoted; returned in upper case.
func (r *Reader) charset() string {
	if r.peek() == '"' {
		return strings.ToUpper(r.quoted())
	}
	return r.keyword()
}

// searchReturn reads "(" [search-return-opt *(SP search-return-opt)] ")".
func (r *Reader) searchReturn(save bool, ext *ReturnExt) *imap.SearchOptions {
	o := &imap.SearchOptions{}
	r.list(true, func() {
		switch r.keyword() {
		case "UPDATE":
			ext.Update = true
		case "CONTEXT":
			ext.Context = true
		case "PARTIAL":
			r.sp()
			ext.Partial = r.partialRange()
		case "MIN":
			o.ReturnMin = true
		case "MAX":
			o.ReturnMax = true
		case "ALL":
			o.ReturnAll = true
		case "COUNT":
			o.ReturnCount = true
		case "SAVE":
			if !save {
				r.fail("SAVE not allowed here")
			}
			o.ReturnSave = true
		default:
			r.fail("Unknown RETURN option")
		}
	})
	if ext.Partial != nil && o.ReturnAll {
		r.fail("PARTIAL and ALL together") // RFC 9394 section 3
	}
	if !o.ReturnMin && !o.ReturnMax && !o.ReturnAll && !o.ReturnCount && !o.ReturnSave && ext.Partial == nil {
		o.ReturnAll = true // RFC 4731 section 3.1
	}
	return o
}

// partialRange reads partial-range = partial-range-first /
// partial-range-last (RFC 9394): "n:m" with both positive, or "-n:-m".
func (r *Reader) partialRange() *Partial {
	num := func() int32 {
		neg := r.consume('-')
		n := r.nzNumber()
		if n > 1<<31-1 {
			r.fail("PARTIAL range out of bounds")
		}
		if neg {
			return -int32(n)
		}
		return int32(n)
	}
	p := &Partial{First: num()}
	r.expect(':')
	p.Last = num()
	if (p.First < 0) != (p.Last < 0) {
		r.fail("PARTIAL range mixes positive and negative")
	}
	return p
}

// searchProgram reads search-key *(SP search-key), ANDed into c.
func (r *Reader) searchProgram(c *SearchCriteria) {
	for n := 0; ; n++ {
		if n >= r.opts.MaxItems {
			r.fail("Too many search keys")
		}
		r.searchKey(c)
		if !r.consume(' ') {
			return
		}
	}
}

var headerKeys = map[string]string{"FROM": "From", "TO": "To", "CC": "Cc", "BCC": "Bcc", "SUBJECT": "Subject"}

var flagKeys = map[string]imap.Flag{
	"ANSWERED": imap.FlagAnswered, "DELETED": imap.FlagDeleted, "DRAFT": imap.FlagDraft,
	"FLAGGED": imap.FlagFlagged, "SEEN": imap.FlagSeen, "RECENT": "\\Recent",
}

// searchKey reads one search-key and ANDs it into c.
func (r *Reader) searchKey(c *SearchCriteria) {
	switch p := r.peek(); {
	case p == '(':
		r.enter()
		r.pos++
		r.searchProgram(c)
		r.expect(')')
		r.leave()
		return
	case p == '$':
		r.pos++
		c.UID = append(c.UID, imap.SearchRes())
		return
	case p == '*' || isDigit(p):
		var s imap.SeqSet
		r.seqRanges(func(a, b uint32) { s = append(s, imap.SeqRange{Start: a, Stop: b}) })
		c.SeqNum = append(c.SeqNum, s)
		return
	}
	key := r.keyword()
	if h, ok := headerKeys[key]; ok {
		r.sp()
		c.Header = append(c.Header, imap.SearchCriteriaHeaderField{Key: h, Value: r.astring()})
		return
	}
	if f, ok := flagKeys[key]; ok {
		c.Flag = append(c.Flag, f)
		return
	}
	if strings.HasPrefix(key, "UN") {
		if f, ok := flagKeys[key[2:]]; ok && key != "UNRECENT" {
			c.NotFlag = append(c.NotFlag, f)
			return
		}
	}
	switch key {
	case "ALL":
	case "NEW":
		c.Flag = append(c.Flag, "\\Recent")
		c.NotFlag = append(c.NotFlag, imap.FlagSeen)
	case "OLD":
		c.NotFlag = append(c.NotFlag, "\\Recent")
	case "KEYWORD", "UNKEYWORD":
		r.sp()
		f := imap.Flag(r.atom())
		if key == "KEYWORD" {
			c.Flag = append(c.Flag, f)
		} else {
			c.NotFlag = append(c.NotFlag, f)
		}
	case "HEADER":
		r.sp()
		k := r.astring()
		r.sp()
		c.Header = append(c.Header, imap.SearchCriteriaHeaderField{Key: k, Value: r.astring()})
	case "BODY":
		r.sp()
		c.Body = append(c.Body, r.astring())
	case "TEXT":
		r.sp()
		c.Text = append(c.Text, r.astring())
	case "BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE", "SAVEDBEFORE", "SAVEDON", "SAVEDSINCE":
		r.sp()
		d := r.date()
		sinceP, beforeP := &c.Since, &c.Before
		if strings.HasPrefix(key, "SENT") {
			sinceP, beforeP = &c.SentSince, &c.SentBefore
		} else if strings.HasPrefix(key, "SAVED") {
			sinceP, beforeP = &c.SaveDateSince, &c.SaveDateBefore
		}
		switch {
		case strings.HasSuffix(key, "BEFORE"):
			*beforeP = before(*beforeP, d)
		case strings.HasSuffix(key, "SINCE"):
			*sinceP = since(*sinceP, d)
		default:
			*sinceP = since(*sinceP, d)
			*beforeP = before(*beforeP, d.AddDate(0, 0, 1))
		}
	case "SAVEDATESUPPORTED":
		c.SaveDateSupported = true
	case "LARGER":
		r.sp()
		if n := r.number64(); n > c.Larger {
			c.Larger = n
		}
	case "SMALLER":
		r.sp()
		n := r.number64()
		if n == 0 {
			c.Not = append(c.Not, SearchCriteria{})
		} else if c.Smaller == 0 || n < c.Smaller {
			c.Smaller = n
		}
	case "UID":
		r.sp()
		c.UID = append(c.UID, r.uidSet().(imap.UIDSet))
	case "NOT":
		r.sp()
		r.enter()
		var n SearchCriteria
		r.searchKey(&n)
		r.leave()
		c.Not = append(c.Not, n)
	case "OR":
		r.enter()
		var o [2]SearchCriteria
		r.sp()
		r.searchKey(&o[0])
		r.sp()
		r.searchKey(&o[1])
		r.leave()
		c.Or = append(c.Or, o)
	case "MODSEQ":
		r.sp()
		m := &imap.SearchCriteriaModSeq{}
		if r.peek() == '"' {
			// RFC 7162 section 3.1.5: entry-name entry-type-req.
			m.MetadataName = r.quoted()
			if !strings.HasPrefix(strings.ToLower(m.MetadataName), "/flags/") {
				r.fail("Invalid MODSEQ entry name")
			}
			r.sp()
			switch t := strings.ToLower(r.atom()); t {
			case "priv", "shared", "all":
				m.MetadataType = imap.SearchCriteriaMetadataType(t)
			default:
				r.fail("Invalid MODSEQ entry type")
			}
			r.sp()
		}
		m.ModSeq = r.modSeq(true)
		if c.ModSeq == nil || m.ModSeq > c.ModSeq.ModSeq {
			c.ModSeq = m
		}
	case "OLDER", "YOUNGER":
		r.sp()
		n := r.nzNumber()
		if key == "OLDER" {
			c.Older = max(c.Older, n)
		} else if c.Younger == 0 || n < c.Younger {
			c.Younger = n
		}
	case "EMAILID", "THREADID":
		r.sp()
		id := r.objectID()
		if key == "EMAILID" {
			c.EmailID = append(c.EmailID, id)
		} else {
			c.ThreadID = append(c.ThreadID, id)
		}
	case "FUZZY":
		r.fail("FUZZY search not supported")
	default:
		r.fail("Unknown search key")
	}
}

// objectID reads objectid = 1*255(ALPHA / DIGIT / "_" / "-") (RFC 8474).
func (r *Reader) objectID() string {
	b := r.run(func(c byte) bool {
		return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || isDigit(c) || c == '_' || c == '-'
	})
	if len(b) == 0 || len(b) > 255 {
		r.fail("Invalid object id")
	}
	return string(b)
}

// Sort is SORT / UID SORT (RFC 5256), with ESORT return options (RFC 5267).
type Sort struct {
	Base
	UID    bool
	Return *imap.SearchOptions // nil without RETURN
	ReturnExt
	Keys     []SortKey
	Charset  string
	Criteria SearchCriteria
}

// SortKey is one sort-criterion: ARRIVAL, CC, DATE, FROM, SIZE, SUBJECT,
// TO, DISPLAYFROM, DISPLAYTO (RFC 5957).
type SortKey struct {
	Key     string
	Reverse bool
}

// Thread is THREAD / UID THREAD (RFC 5256); Algorithm is upper case
// (ORDEREDSUBJECT, REFERENCES, ...), not checked against a list.
type Thread struct {
	Base
	UID       bool
	Algorithm string
	Charset   string
	Criteria  SearchCriteria
}

func (r *Reader) parseSort(b Base, uid bool) Command {
	c := &Sort{Base: b, UID: uid}
	r.sp()
	if r.peekKeyword("RETURN") {
		r.sp()
		c.Return = r.searchReturn(false, &c.ReturnExt)
		r.sp()
	}
	r.list(false, func() {
		k := SortKey{}
		if r.peekKeyword("REVERSE") {
			k.Reverse = true
			r.sp()
		}
		switch k.Key = r.keyword(); k.Key {
		case "ARRIVAL", "CC", "DATE", "FROM", "SIZE", "SUBJECT", "TO", "DISPLAYFROM", "DISPLAYTO":
		default:
			r.fail("Unknown sort key")
		}
		c.Keys = append(c.Keys, k)
	})
	r.sp()
	c.Charset = r.charset()
	r.sp()
	r.searchProgram(&c.Criteria)
	return c
}

func (r *Reader) parseThread(b Base, uid bool) Command {
	c := &Thread{Base: b, UID: uid}
	r.sp()
	c.Algorithm = r.keyword()
	r.sp()
	c.Charset = r.charset()
	r.sp()
	r.searchProgram(&c.Criteria)
	return c
}
