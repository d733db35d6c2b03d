package relay

import (
	"bufio"
	"bytes"
	"io"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message"
)

// The notice is a well-formed RFC 3464 report that a MIME parser reads
// part by part.
func TestDSNStructure(t *testing.T) {
	t.Parallel()
	orig := "Return-Path: <alice@example.org>\r\nFrom: Alice <alice@example.org>\r\nSubject: Hi\r\n" +
		"Message-ID: <orig@example.org>\r\n\r\nsecret body\r\n"
	d := &dsn{Hostname: "mx.example.org", To: "alice@example.org", Arrival: t0, Date: t0.Add(time.Hour),
		Original: []byte(orig), Recipients: []dsnRecipient{
			{Recipient: "bob@remote.test", Action: actionFailed, LastAttempt: t0.Add(time.Hour),
				Reply: reply{code: 550, status: "5.1.1", text: "No such user", remote: "mx.remote.test"}},
			{Recipient: "carol@remote.test", Action: actionFailed, LastAttempt: t0.Add(time.Hour),
				Reply:   reply{text: "connection refused", temporary: true, status: "4.4.7", remote: "mx.remote.test"},
				Expired: "gave up after 9 attempts over 1h0m0s"},
		}}
	raw := d.build()
	e, err := message.Read(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	mt, params, _ := e.Header.ContentType()
	if mt != "multipart/report" || params["report-type"] != "delivery-status" {
		t.Fatalf("content type %s %v", mt, params)
	}
	if got := e.Header.Get("Auto-Submitted"); got != "auto-replied" {
		t.Errorf("Auto-Submitted %q", got)
	}
	if got := e.Header.Get("References"); got != "<orig@example.org>" {
		t.Errorf("References %q", got)
	}
	mr := e.MultipartReader()
	var types []string
	var bodies []string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		typ, _, _ := p.Header.ContentType()
		types = append(types, typ)
		b, _ := io.ReadAll(p.Body)
		bodies = append(bodies, string(b))
	}
	if strings.Join(types, " ") != "text/plain message/delivery-status text/rfc822-headers" {
		t.Fatalf("parts %v", types)
	}
	wantContains(t, "human part", bodies[0], "<bob@remote.test>: host mx.remote.test said: 550 5.1.1 No such user",
		"<carol@remote.test>: gave up after 9 attempts over 1h0m0s; the last attempt: connection refused")

	// The delivery-status body is groups of header fields (RFC 3464
	// section 2.1): one per message, then one per recipient.
	r := textproto.NewReader(bufio.NewReader(strings.NewReader(bodies[1])))
	var groups []textproto.MIMEHeader
	for {
		h, err := r.ReadMIMEHeader()
		if len(h) > 0 {
			groups = append(groups, h)
		}
		if err != nil {
			break
		}
	}
	if len(groups) != 3 {
		t.Fatalf("%d field groups:\n%s", len(groups), bodies[1])
	}
	if groups[0].Get("Reporting-Mta") != "dns; mx.example.org" || groups[0].Get("Arrival-Date") == "" {
		t.Errorf("per-message fields %v", groups[0])
	}
	bob, carol := groups[1], groups[2]
	for k, v := range map[string]string{"Final-Recipient": "rfc822; bob@remote.test", "Action": "failed", "Status": "5.1.1",
		"Remote-Mta": "dns; mx.remote.test", "Diagnostic-Code": "smtp; 550 5.1.1 No such user"} {
		if bob.Get(k) != v {
			t.Errorf("bob %s = %q, want %q", k, bob.Get(k), v)
		}
	}
	if carol.Get("Status") != "4.4.7" || carol.Get("Diagnostic-Code") != "" {
		t.Errorf("carol %v", carol)
	}
	if !strings.HasPrefix(bodies[2], "Return-Path: <alice@example.org>\r\nFrom: Alice") || strings.Contains(bodies[2], "secret body") {
		t.Errorf("original header part:\n%s", bodies[2])
	}
}

func TestStripReturnPath(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"Return-Path: <a@b>\r\nFrom: x\r\n\r\nbody":              "From: x\r\n\r\nbody",
		"return-path:\r\n <a@b>\r\nFrom: x\r\n\r\nbody":          "From: x\r\n\r\nbody",
		"From: x\r\nReturn-Path: <a@b>\r\n\r\nbody":              "From: x\r\nReturn-Path: <a@b>\r\n\r\nbody",
		"Return-Path: <a@b>":                                     "Return-Path: <a@b>",
		"Return-Path: <a@b>\r\n":                                 "",
		"Return-Pathology: yes\r\n\r\n":                          "Return-Pathology: yes\r\n\r\n",
		"Received: from x\r\nReturn-Path: <a@b>\r\n\r\nbody\r\n": "Received: from x\r\nReturn-Path: <a@b>\r\n\r\nbody\r\n",
	} {
		if got := string(stripReturnPath([]byte(in))); got != want {
			t.Errorf("stripReturnPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// The delivery-status part stays ASCII: non-ASCII addresses are written
// as utf-8 addresses with \x{HEX} (RFC 6533 3); ENVID and ORCPT are
// reported (RFC 3464 2.2.1, 2.3.1); RET=FULL attaches the whole message
// to a failure notice only.
func TestDSNReportFields(t *testing.T) {
	t.Parallel()
	orig := "From: a@example.org\r\nSubject: s\r\n\r\nthe body\r\n"
	d := &dsn{Hostname: "mx.example.org", To: "a@example.org", Date: t0, EnvID: "id 7", Original: []byte(orig), Full: true,
		Recipients: []dsnRecipient{
			{Recipient: "jörg@x.test", ORcpt: "utf-8;jörg@x.test", Action: actionFailed, Reply: reply{code: 550, text: "no"}},
			{Recipient: "bob@x.test", ORcpt: "rfc822;Bob@x.test", Action: actionRelayed, Reply: reply{code: 250, text: "ok", remote: "mx.x.test"}},
		}}
	raw := string(d.build())
	for _, want := range []string{"Original-Envelope-Id: id 7\r\n",
		"Original-Recipient: utf-8; j\\x{F6}rg@x.test\r\nFinal-Recipient: utf-8; j\\x{F6}rg@x.test\r\nAction: failed\r\nStatus: 5.0.0\r\n",
		"Original-Recipient: rfc822; Bob@x.test\r\nFinal-Recipient: rfc822; bob@x.test\r\nAction: relayed\r\nStatus: 2.0.0\r\n",
		"Content-Type: message/rfc822\r\n\r\nFrom: a@example.org\r\nSubject: s\r\n\r\nthe body\r\n"} {
		if !strings.Contains(raw, want) {
			t.Errorf("notice lacks %q:\n%s", want, raw)
		}
	}
	d.Recipients = d.Recipients[1:]
	if raw := string(d.build()); strings.Contains(raw, "the body") || !strings.Contains(raw, "Subject: Successful Mail Delivery Report") {
		t.Errorf("success notice with RET=FULL:\n%s", raw)
	}
}
