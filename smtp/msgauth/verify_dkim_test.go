package msgauth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"
)

func TestDKIM(t *testing.T) {
	t.Parallel()
	f := newVerifyFixture(t)
	ed, rs, other := newEd25519Key(t), newRSAKey(t), newEd25519Key(t)
	f.dns.SetTXT("ed._domainkey.example.org", ed.record)
	f.dns.SetTXT("rsa._domainkey.example.org", rs.record)
	f.dns.SetTXT("revoked._domainkey.example.org", "v=DKIM1; k=ed25519; p=")
	f.dns.ServFail("down._domainkey.example.org")
	// An RSA key of 8192 bits: 1062 bytes, too costly to verify with.
	f.dns.SetTXT("huge._domainkey.example.org", "v=DKIM1; k=rsa; p="+base64.StdEncoding.EncodeToString(make([]byte, 1062)))
	f.dns.SetTXT("garbage._domainkey.example.org", "v=DKIM1; k=rsa; p=!!!notbase64")
	base := verifyMessage("alice@example.org")

	replace := func(msg []byte, old, new string) []byte {
		if !bytes.Contains(msg, []byte(old)) {
			t.Fatalf("%q not in message", old)
		}
		return bytes.Replace(msg, []byte(old), []byte(new), 1)
	}
	for _, tc := range []struct {
		name   string
		msg    []byte
		want   []DKIMResult
		reason string
	}{
		{"unsigned", base, nil, ""},
		{"ed25519", ed.sign(t, base, "example.org", "ed"), []DKIMResult{DKIMPass}, ""},
		{"rsa", rs.sign(t, base, "example.org", "rsa"), []DKIMResult{DKIMPass}, ""},
		{"bad body hash", replace(ed.sign(t, base, "example.org", "ed"), "hungry", "thirsty"), []DKIMResult{DKIMFail}, "body hash"},
		{"bad signature", replace(ed.sign(t, base, "example.org", "ed"), "Subject: dinner", "Subject: lunch"), []DKIMResult{DKIMFail}, "signature did not verify"},
		{"wrong key", other.sign(t, base, "example.org", "ed"), []DKIMResult{DKIMFail}, "signature did not verify"},
		{"missing key", ed.sign(t, base, "example.org", "nokey"), []DKIMResult{DKIMPermError}, "no key"},
		{"revoked key", ed.sign(t, base, "example.org", "revoked"), []DKIMResult{DKIMPermError}, "revoked"},
		{"key lookup fails", ed.sign(t, base, "example.org", "down"), []DKIMResult{DKIMTempError}, "unavailable"},
		{"oversized key", rs.sign(t, base, "example.org", "huge"), []DKIMResult{DKIMPermError}, "longer than RSA-4096"},
		{"garbage key", rs.sign(t, base, "example.org", "garbage"), []DKIMResult{DKIMPermError}, "key syntax"},
		{"one good one bad", ed.sign(t, other.sign(t, base, "example.org", "ed"), "example.org", "ed"), []DKIMResult{DKIMPass, DKIMFail}, ""},
		{"malformed header", append([]byte("DKIM-Signature: garbage\r\n"), base...), []DKIMResult{DKIMPermError}, "malformed"},
		{"missing tags", append([]byte("DKIM-Signature: v=1; d=example.org; s=ed\r\n"), base...), []DKIMResult{DKIMPermError}, "missing required tag"},
		// RFC 6376 5.4: a signed header that is absent contributes nothing,
		// and adding it afterwards breaks the signature.
		{"signed absent header", ed.sign(t, base, "example.org", "ed", "From", "Subject", "Reply-To"), []DKIMResult{DKIMPass}, ""},
		{"absent header added", replace(ed.sign(t, base, "example.org", "ed", "From", "Subject", "Reply-To"), "Subject: dinner\r\n", "Subject: dinner\r\nReply-To: evil@example.net\r\n"), []DKIMResult{DKIMFail}, "signature did not verify"},
		{"no body separator", ed.sign(t, []byte("From: alice@example.org\r\nSubject: x\r\n\r\n"), "example.org", "ed"), []DKIMResult{DKIMPass}, ""},
		// Past the parsing limit the header is left to go-msgauth whole.
		{"header past the limit", ed.sign(t, verifyMessage("alice@example.org", strings.Repeat("X-Pad: "+strings.Repeat("a", 1000)+"\r\n", verifyMaxHeaderBytes/1000)), "example.org", "ed"), []DKIMResult{DKIMPass}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := tc.msg
			if tc.name == "no body separator" {
				// dkim.Sign adds the empty line; a message may arrive without it.
				msg = bytes.TrimSuffix(msg, []byte("\r\n"))
			}
			fields, end, hasBody := verifyHeader(msg, verifyMaxHeaderBytes)
			got := f.v.dkimCheck(context.Background(), msg, fields, end, hasBody)
			if len(got) != len(tc.want) {
				t.Fatalf("got %+v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i].Result != tc.want[i] || got[i].Domain != "example.org" && tc.name != "malformed header" {
					t.Errorf("signature %d = %+v, want %s", i, got[i], tc.want[i])
				}
			}
			if tc.reason != "" && !strings.Contains(got[len(got)-1].Reason, tc.reason) {
				t.Errorf("reason %q, want it to say %q", got[len(got)-1].Reason, tc.reason)
			}
		})
	}
}

// TestDKIMHeaderTooCostly: go-msgauth joins a folded field line by line
// (quadratic in its lines) and scans every field for every name in h=; a
// header built for that must not cost seconds of CPU per message. The
// signatures name a real key, so that go-msgauth would go on to hash.
func TestDKIMHeaderTooCostly(t *testing.T) {
	t.Parallel()
	f := newVerifyFixture(t)
	ed := newEd25519Key(t)
	f.dns.SetTXT("ed._domainkey.example.org", ed.record)

	// One field folded over 20000 lines: 80 KB.
	folded := append([]byte(costlySignature("from")), verifyMessage("alice@example.org", "X-Pad: a\r\n"+strings.Repeat(" a\r\n", 20000)+" a")...)
	// 6000 fields, and h= naming each: 60 KB.
	many := append([]byte(costlySignature("from"+strings.Repeat(":x", 6000))), verifyMessage("alice@example.org", strings.TrimSuffix(strings.Repeat("X: a\r\n", 6000), "\r\n"))...)

	for name, msg := range map[string][]byte{"folded": folded, "many names": many} {
		got := f.v.Verify(context.Background(), verifyClientIP, "h.example", "a@evil.example", msg).DKIM
		if len(got) != 1 || got[0].Result != DKIMPermError || !strings.Contains(got[0].Reason, "too costly") {
			t.Errorf("%s: DKIM = %+v, want one permerror (too costly)", name, got)
		}
	}
}

// costlySignature is a DKIM-Signature field by the key ed of example.org
// over the header fields h, with the body hash of verifyMessage and a
// signature that does not verify: go-msgauth looks the key up, hashes the
// body, then the header.
func costlySignature(h string) string {
	bh := sha256.Sum256([]byte("Hi.\r\n\r\nAre you hungry yet?\r\n"))
	return "DKIM-Signature: v=1; a=ed25519-sha256; d=example.org; s=ed; c=simple/simple;\r\n h=" + h +
		";\r\n bh=" + base64.StdEncoding.EncodeToString(bh[:]) + "; b=AAAA\r\n"
}

// TestDKIMManySignaturesBounded: the signatures past dkimMaxSignatures are
// not checked, and must not make the verdict grow with them either: a
// header of 60 000 empty DKIM-Signature fields (1 MiB) made a 2.7 MB
// Authentication-Results field and a Summary of 580 KB that took seconds
// to build.
func TestDKIMManySignaturesBounded(t *testing.T) {
	t.Parallel()
	f := newVerifyFixture(t)
	ed := newEd25519Key(t)
	f.dns.SetTXT("ed._domainkey.example.org", ed.record)
	msg := ed.sign(t, verifyMessage("alice@example.org", strings.TrimSuffix(strings.Repeat("DKIM-Signature: x\r\n", 1000), "\r\n")), "example.org", "ed")
	v := f.v.Verify(context.Background(), verifyClientIP, "h.example", "a@evil.example", msg)
	if len(v.DKIM) != dkimMaxSignatures+1 {
		t.Fatalf("%d DKIM outcomes, want %d", len(v.DKIM), dkimMaxSignatures+1)
	}
	if v.DKIM[0].Result != DKIMPass {
		t.Errorf("first signature: %+v, want pass", v.DKIM[0])
	}
	if last := v.DKIM[dkimMaxSignatures]; last.Result != DKIMPermError || !strings.Contains(last.Reason, "993 more") {
		t.Errorf("last outcome %+v, want permerror for the 993 others", last)
	}
	if n := len(v.Header()); n > 2048 {
		t.Errorf("Authentication-Results of %d bytes", n)
	}
}

// TestDKIMBodyTooCostly: go-msgauth's simple body canonicalization copies
// and rescans the empty lines it holds back on every write it gets, which
// with two signatures or more (fed through a pipe) is quadratic in a run
// of empty lines: 4 MB of them took 1.7 s, 25 MB minutes.
func TestDKIMBodyTooCostly(t *testing.T) {
	t.Parallel()
	f := newVerifyFixture(t)
	ed := newEd25519Key(t)
	f.dns.SetTXT("ed._domainkey.example.org", ed.record)
	sig := costlySignature("from")
	msg := append([]byte(sig+sig), verifyMessage("alice@example.org")...)
	msg = append(msg, strings.Repeat("\r\n", 1<<20)+"Bye.\r\n"...)
	got := f.v.Verify(context.Background(), verifyClientIP, "h.example", "a@evil.example", msg).DKIM
	if len(got) != 2 || got[0].Result != DKIMPermError || !strings.Contains(got[0].Reason, "too costly") {
		t.Errorf("DKIM = %+v, want two permerrors (too costly)", got)
	}
}
