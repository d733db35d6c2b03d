package msgauth

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/emersion/go-msgauth/dkim"
)

// DKIMResult is the result of one DKIM signature (RFC 8601 2.7.1).
type DKIMResult string

// The DKIM results. DKIMNone is only written in Authentication-Results, for a
// message with no signature.
const (
	DKIMPass      DKIMResult = "pass"
	DKIMFail      DKIMResult = "fail"
	DKIMNeutral   DKIMResult = "neutral"
	DKIMTempError DKIMResult = "temperror"
	DKIMPermError DKIMResult = "permerror"
	DKIMNone      DKIMResult = "none"
)

// DKIMOutcome is the check of one DKIM-Signature field.
type DKIMOutcome struct {
	Domain   string // d=, as written in the signature
	Selector string // s=
	Result   DKIMResult
	Reason   string // why it did not pass
}

const (
	// dkimMaxSignatures bounds the signatures checked per message, each of
	// which costs a lookup and a hash of the body; the rest are reported as
	// one permerror.
	dkimMaxSignatures = 8
	// dkimMaxKeyBytes bounds a public key (the decoded p= tag): an RSA-4096
	// key in SubjectPublicKeyInfo form is 550 bytes. go-msgauth sets no upper
	// limit, and verifying with a huge key costs time.
	dkimMaxKeyBytes = 600
	// dkimMaxFoldWork and dkimMaxPickWork bound what go-msgauth spends
	// reading the header (see dkimTooCostly): about half a second each.
	// A header of a thousand recipients in To, or of 1 MiB with a
	// hundred signed names, stays well below.
	dkimMaxFoldWork = 1 << 30
	dkimMaxPickWork = 1 << 27
	// dkimMaxEmptyRun bounds a run of empty lines in the body, in bytes:
	// 32768 empty lines, which no real message has.
	dkimMaxEmptyRun = 64 << 10
)

func (v *Verifier) dkimCheck(ctx context.Context, msg []byte, fields []verifyField, end int, hasBody bool) (outs []DKIMOutcome) {
	unchecked := 0
	for _, f := range fields {
		if !bytes.EqualFold(f.name, []byte("DKIM-Signature")) {
			continue
		}
		if len(outs) == dkimMaxSignatures {
			unchecked++
			continue
		}
		tags := dkimTags(verifyUnfold(f.value(msg)))
		outs = append(outs, DKIMOutcome{Domain: tags["d"], Selector: tags["s"]})
	}
	if len(outs) == 0 {
		return nil
	}
	// The signatures not checked are one outcome, not one each: the
	// verdict, its header and its summary stay bounded.
	defer func() {
		if unchecked > 0 {
			outs = append(outs, DKIMOutcome{Result: DKIMPermError,
				Reason: fmt.Sprintf("%d more signatures not checked", unchecked)})
		}
	}()
	if dkimTooCostly(msg) {
		for i := range outs {
			outs[i].Result, outs[i].Reason = DKIMPermError, "message too costly to verify"
		}
		return outs
	}
	if !hasBody && end == len(msg) {
		// go-msgauth needs the empty line that ends the header; a message
		// without a body is canonicalised as having an empty one (RFC 6376
		// 3.4.3, 3.4.4).
		m := make([]byte, 0, len(msg)+4)
		m = append(m, msg[:end]...)
		if end > 0 && msg[end-1] != '\n' {
			m = append(m, "\r\n"...)
		}
		msg = append(m, "\r\n"...)
	}
	lookup := func(name string) ([]string, error) {
		txts, err := v.res.LookupTXT(ctx, name)
		if err != nil {
			return nil, err
		}
		for _, t := range txts {
			if n := base64.StdEncoding.DecodedLen(len(strings.Map(dkimKeepBase64, dkimTags(t)["p"]))); n > dkimMaxKeyBytes {
				return nil, &net.DNSError{Err: "key longer than RSA-4096", Name: name}
			}
		}
		return txts, nil
	}
	verifs, err := dkim.VerifyWithOptions(bytes.NewReader(msg), &dkim.VerifyOptions{
		LookupTXT: lookup, MaxVerifications: dkimMaxSignatures,
	})
	if err != nil && !errors.Is(err, dkim.ErrTooManySignatures) {
		// Reading a message in memory fails only on a header go-msgauth
		// cannot parse; nothing was verified.
		for i := range outs {
			outs[i].Result, outs[i].Reason = DKIMPermError, dkimReason(err)
		}
		return outs
	}
	for i := range outs {
		if i >= len(verifs) {
			outs[i].Result, outs[i].Reason = DKIMPermError, "too many signatures"
			continue
		}
		e := verifs[i].Err
		switch {
		case e == nil:
			outs[i].Result = DKIMPass
		case dkim.IsTempFail(e):
			outs[i].Result = DKIMTempError
		case dkim.IsPermFail(e):
			outs[i].Result = DKIMPermError
		default:
			outs[i].Result = DKIMFail
		}
		if e != nil {
			outs[i].Reason = dkimReason(e)
		}
		// go-msgauth parses the header on its own: the d= it verified is
		// the one alignment must use, whatever this package read.
		if verifs[i].Domain != "" {
			outs[i].Domain = verifs[i].Domain
		}
	}
	return outs
}

// dkimTooCostly reports whether go-msgauth would spend too long on msg.
// It reads all of the header: it joins a folded field by appending
// each line to the lines before (the lines times the field's size), and for
// each name in the h= of each signature it verifies it scans the fields
// (the names times the header's size). A header built for either costs
// minutes of CPU in a message well under the size limit.
func dkimTooCostly(msg []byte) bool {
	var fold, names, sigs, i int
	for i < len(msg) && msg[i] != '\n' && !(msg[i] == '\r' && i+1 < len(msg) && msg[i+1] == '\n') {
		start, lines := i, 1
		i = verifyLineEnd(msg, i)
		for i < len(msg) && (msg[i] == ' ' || msg[i] == '\t') {
			i = verifyLineEnd(msg, i)
			lines++
		}
		fold += lines * (i - start)
		f := msg[start:i]
		if c := bytes.IndexByte(f, ':'); c >= 0 && sigs < dkimMaxSignatures &&
			bytes.EqualFold(bytes.TrimSpace(f[:c]), []byte("DKIM-Signature")) {
			sigs++
			names += strings.Count(dkimTags(verifyUnfold(f[c+1:]))["h"], ":") + 1
		}
	}
	if fold > dkimMaxFoldWork || names*i > dkimMaxPickWork {
		return true
	}
	// Its simple body canonicalization holds empty lines back until a
	// line with text comes, copying and rescanning all it holds on every
	// write; with several signatures the body comes through a pipe in
	// small writes, and a run of empty lines costs its length squared.
	run := 0
	for _, c := range msg[i:] {
		if c != '\r' && c != '\n' {
			run = 0
		} else if run++; run > dkimMaxEmptyRun {
			return true
		}
	}
	return false
}

// dkimTags parses a tag=value list (RFC 6376 3.2) leniently, for reporting:
// white space is removed from values, malformed parts skipped.
func dkimTags(s string) map[string]string {
	tags := map[string]string{}
	for _, part := range strings.Split(s, ";") {
		k, val, ok := strings.Cut(part, "=")
		if !ok {
			continue
		}
		tags[strings.TrimSpace(k)] = strings.Map(dkimDropSpace, val)
	}
	return tags
}

func dkimDropSpace(r rune) rune {
	if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
		return -1
	}
	return r
}

func dkimKeepBase64(r rune) rune {
	if r == '=' || r == '+' || r == '/' || (r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') {
		return r
	}
	return -1
}

func dkimReason(err error) string {
	return strings.TrimPrefix(err.Error(), "dkim: ")
}
