package wellknown_test

import (
	"encoding/xml"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"pillarbox/mailbox/wellknown"
)

// parsePlist reads an XML property list into map[string]any, []any,
// string, int and bool values, refusing anything else.
func parsePlist(data string) (any, error) {
	d := xml.NewDecoder(strings.NewReader(data))
	for {
		tok, err := d.Token()
		if err != nil {
			return nil, err
		}
		if se, ok := tok.(xml.StartElement); ok {
			if se.Name.Local != "plist" {
				return nil, fmt.Errorf("root <%s>", se.Name.Local)
			}
			v, _, err := plistValue(d)
			return v, err
		}
	}
}

// plistValue reads the next value; end is true at the enclosing end tag.
func plistValue(d *xml.Decoder) (v any, end bool, err error) {
	for {
		tok, err := d.Token()
		if err != nil {
			return nil, false, err
		}
		switch tok := tok.(type) {
		case xml.EndElement:
			return nil, true, nil
		case xml.StartElement:
			switch tok.Name.Local {
			case "string", "integer", "key":
				var s string
				if err := d.DecodeElement(&s, &tok); err != nil {
					return nil, false, err
				}
				if tok.Name.Local == "integer" {
					n, err := strconv.Atoi(s)
					return n, false, err
				}
				if tok.Name.Local == "key" {
					return plistKey(s), false, nil
				}
				return s, false, nil
			case "true", "false":
				return tok.Name.Local == "true", false, d.Skip()
			case "array":
				var list []any
				for {
					e, end, err := plistValue(d)
					if err != nil || end {
						return list, false, err
					}
					list = append(list, e)
				}
			case "dict":
				m := map[string]any{}
				for {
					k, end, err := plistValue(d)
					if err != nil || end {
						return m, false, err
					}
					key, ok := k.(plistKey)
					if !ok {
						return nil, false, fmt.Errorf("dict entry without key: %v", k)
					}
					val, end, err := plistValue(d)
					if err != nil {
						return nil, false, err
					}
					if end {
						return nil, false, fmt.Errorf("key %q without value", key)
					}
					m[string(key)] = val
				}
			default:
				return nil, false, fmt.Errorf("unexpected <%s>", tok.Name.Local)
			}
		}
	}
}

type plistKey string

func fetchProfile(t *testing.T, s *testServers, host, addr string) (map[string]any, map[string]any) {
	t.Helper()
	r := s.getTLS(t, host, wellknown.ApplePath+"?email="+url.QueryEscape(addr))
	wantStatus(t, "profile", r, 200)
	if ct := r.header.Get("Content-Type"); ct != "application/x-apple-aspen-config" {
		t.Errorf("Content-Type %q", ct)
	}
	v, err := parsePlist(r.body)
	if err != nil && err != io.EOF {
		t.Fatalf("profile: %v\n%s", err, r.body)
	}
	top, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("profile is %T\n%s", v, r.body)
	}
	content, _ := top["PayloadContent"].([]any)
	if len(content) != 1 {
		t.Fatalf("PayloadContent %v", top["PayloadContent"])
	}
	return top, content[0].(map[string]any)
}

var uuidRE = regexp.MustCompile(`^[0-9A-F]{8}-[0-9A-F]{4}-8[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$`)

func TestAppleProfile(t *testing.T) {
	t.Parallel()
	h, _ := newHandler(t, nil)
	s := serveBoth(t, h)
	top, acct := fetchProfile(t, s, "example.org", "Alice@example.org")
	for k, want := range map[string]any{
		"PayloadType":                            "com.apple.mail.managed",
		"EmailAccountType":                       "EmailTypeIMAP",
		"EmailAddress":                           "alice@example.org",
		"IncomingMailServerHostName":             "mx.example.org",
		"IncomingMailServerPortNumber":           993,
		"IncomingMailServerUseSSL":               true,
		"IncomingMailServerUsername":             "alice@example.org",
		"IncomingMailServerAuthentication":       "EmailAuthPassword",
		"OutgoingMailServerHostName":             "mx.example.org",
		"OutgoingMailServerPortNumber":           465,
		"OutgoingMailServerUseSSL":               true,
		"OutgoingMailServerUsername":             "alice@example.org",
		"OutgoingMailServerAuthentication":       "EmailAuthPassword",
		"OutgoingPasswordSameAsIncomingPassword": true,
		"PayloadVersion":                         1,
	} {
		if acct[k] != want {
			t.Errorf("account %s = %#v, want %#v", k, acct[k], want)
		}
	}
	if top["PayloadType"] != "Configuration" || top["PayloadVersion"] != 1 {
		t.Errorf("profile type %v version %v", top["PayloadType"], top["PayloadVersion"])
	}
	id, _ := top["PayloadIdentifier"].(string)
	if !strings.HasPrefix(id, "org.example.mx.pillarbox.mail.") || acct["PayloadIdentifier"] != id+".account" {
		t.Errorf("identifiers %q and %q", id, acct["PayloadIdentifier"])
	}
	u1, u2 := top["PayloadUUID"].(string), acct["PayloadUUID"].(string)
	if !uuidRE.MatchString(u1) || !uuidRE.MatchString(u2) || u1 == u2 {
		t.Errorf("UUIDs %q and %q", u1, u2)
	}

	// Fetched again, from another host name: the same profile, which
	// replaces the installed one.
	top2, acct2 := fetchProfile(t, s, "mx.example.org", "alice@example.org")
	if top2["PayloadUUID"] != u1 || acct2["PayloadUUID"] != u2 || top2["PayloadIdentifier"] != id {
		t.Errorf("second fetch: %v %v %v, want %v %v %v", top2["PayloadUUID"], acct2["PayloadUUID"], top2["PayloadIdentifier"], u1, u2, id)
	}
	// Another address: other identifiers.
	top3, acct3 := fetchProfile(t, s, "example.org", "bob@example.net")
	if top3["PayloadUUID"] == u1 || acct3["PayloadUUID"] == u2 || top3["PayloadIdentifier"] == id {
		t.Errorf("bob's profile has alice's identifiers")
	}
	if acct3["EmailAddress"] != "bob@example.net" {
		t.Errorf("EmailAddress %v", acct3["EmailAddress"])
	}
}

func TestAppleProfileSTARTTLSPorts(t *testing.T) {
	t.Parallel()
	h, _ := newHandler(t, func(o *wellknown.Options) { o.Ports = wellknown.Ports{IMAP: 143, Submission: 587} })
	s := serveBoth(t, h)
	_, acct := fetchProfile(t, s, "example.org", "alice@example.org")
	if acct["IncomingMailServerPortNumber"] != 143 || acct["OutgoingMailServerPortNumber"] != 587 ||
		acct["IncomingMailServerUseSSL"] != true || acct["OutgoingMailServerUseSSL"] != true {
		t.Errorf("account %v", acct)
	}
}

func TestAppleProfileRefusals(t *testing.T) {
	t.Parallel()
	h, _ := newHandler(t, nil)
	s := serveBoth(t, h)
	wantStatus(t, "no email", s.getTLS(t, "example.org", wellknown.ApplePath), 400)
	wantStatus(t, "bad email", s.getTLS(t, "example.org", wellknown.ApplePath+"?email=nobody"), 400)
	wantStatus(t, "foreign", s.getTLS(t, "example.org", wellknown.ApplePath+"?email=a%40evil.test"), 404)
	wantStatus(t, "foreign host", s.getTLS(t, "evil.test", wellknown.ApplePath+"?email=a%40example.org"), 404)
	h2, _ := newHandler(t, func(o *wellknown.Options) { o.Ports = wellknown.Ports{IMAPS: 993} })
	s2 := serveBoth(t, h2)
	wantStatus(t, "no submission offered", s2.get(t, "example.org", wellknown.ApplePath+"?email=a%40example.org"), 404)
}

func TestAppleProfileHostileAddress(t *testing.T) {
	t.Parallel()
	h, _ := newHandler(t, nil)
	s := serveBoth(t, h)
	hostile := `"<&\"x</string><true/>"@example.org`
	r := s.getTLS(t, "example.org", wellknown.ApplePath+"?email="+url.QueryEscape(hostile))
	if strings.Contains(r.body, "<&") || strings.Contains(r.body, "x</string>") {
		t.Errorf("unescaped input in\n%s", r.body)
	}
	_, acct := fetchProfile(t, s, "example.org", hostile)
	for _, k := range []string{"EmailAddress", "IncomingMailServerUsername", "OutgoingMailServerUsername"} {
		if acct[k] != hostile {
			t.Errorf("%s = %q, want %q", k, acct[k], hostile)
		}
	}
}
