package wellknown

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// apple serves an unsigned Apple configuration profile (a property list,
// Apple's "Configuration Profile Reference") with one com.apple.mail.managed
// payload for the address in the query's "email": 400 without a valid
// address, 404 for one outside the local domains or when this server
// offers no IMAP or no submission port. Installing an unsigned profile
// makes the device say "Unsigned"; the user confirms it.
func (h *handler) apple(w http.ResponseWriter, r *http.Request, _ string) {
	a, local, err := h.localAddress(r.URL.Query().Get("email"))
	if err != nil {
		http.Error(w, "400 want ?email=ADDRESS", http.StatusBadRequest)
		return
	}
	in, out := h.ports.incoming(), h.ports.outgoing()
	if !local || len(in) == 0 || len(out) == 0 {
		http.NotFound(w, r)
		return
	}
	addr := a.String()
	// The identifiers and UUIDs derive from the hostname and the address,
	// so that fetching the profile again replaces the installed one
	// instead of adding a second account.
	id := h.profileID(addr)
	account := plistDict{
		{"EmailAccountDescription", addr},
		{"EmailAccountName", addr},
		{"EmailAccountType", "EmailTypeIMAP"},
		{"EmailAddress", addr},
		{"IncomingMailServerAuthentication", "EmailAuthPassword"},
		{"IncomingMailServerHostName", h.host},
		{"IncomingMailServerPortNumber", in[0].port},
		// UseSSL on a STARTTLS port makes the device upgrade with
		// STARTTLS; this server takes passwords only over TLS.
		{"IncomingMailServerUseSSL", true},
		{"IncomingMailServerUsername", addr},
		{"OutgoingMailServerAuthentication", "EmailAuthPassword"},
		{"OutgoingMailServerHostName", h.host},
		{"OutgoingMailServerPortNumber", out[0].port},
		{"OutgoingMailServerUseSSL", true},
		{"OutgoingMailServerUsername", addr},
		{"OutgoingPasswordSameAsIncomingPassword", true},
		{"PayloadDescription", "Mail account " + addr + " at " + h.host},
		{"PayloadDisplayName", addr},
		{"PayloadIdentifier", id + ".account"},
		{"PayloadType", "com.apple.mail.managed"},
		{"PayloadUUID", h.payloadUUID(addr, "account")},
		{"PayloadVersion", 1},
	}
	profile := plistDict{
		{"PayloadContent", []any{account}},
		{"PayloadDescription", "Sets up the mail account " + addr + " on " + h.host + "."},
		{"PayloadDisplayName", "Mail: " + addr},
		{"PayloadIdentifier", id},
		{"PayloadOrganization", h.host},
		{"PayloadRemovalDisallowed", false},
		{"PayloadType", "Configuration"},
		{"PayloadUUID", h.payloadUUID(addr, "profile")},
		{"PayloadVersion", 1},
	}
	body, err := marshalPlist(profile)
	if err != nil {
		h.log.Error("wellknown: apple profile", "err", err)
		http.Error(w, "500 internal error", http.StatusInternalServerError)
		return
	}
	h.log.Debug("wellknown: apple profile served", "domain", a.Domain, "client", r.RemoteAddr)
	w.Header().Set("Content-Disposition", `attachment; filename="mail.mobileconfig"`)
	write(w, "application/x-apple-aspen-config", cachePrivate, body)
}

// profileID is the profile's PayloadIdentifier: the hostname reversed, as
// Apple's reverse-DNS identifiers go, and a digest of the address, which
// may hold characters an identifier should not.
func (h *handler) profileID(addr string) string {
	labels := strings.Split(h.host, ".")
	slices.Reverse(labels)
	sum := sha256.Sum256([]byte(addr))
	return strings.Join(labels, ".") + ".pillarbox.mail." + hex.EncodeToString(sum[:8])
}

// payloadUUID is a UUID derived from the hostname, the address and the
// payload's role: the same on every fetch. It is laid out as RFC 9562
// version 8 (a custom, here SHA-256, derivation).
func (h *handler) payloadUUID(addr, role string) string {
	sum := sha256.Sum256([]byte("pillarbox mobileconfig\x00" + h.host + "\x00" + addr + "\x00" + role))
	u := sum[:16]
	u[6] = u[6]&0x0f | 0x80 // version 8
	u[8] = u[8]&0x3f | 0x80 // variant 10
	return strings.ToUpper(fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16]))
}

// plistDict is a property list dictionary in the order written. Values
// are string, int, bool, []any and plistDict.
type plistDict []plistEntry

type plistEntry struct {
	key   string
	value any
}

// marshalPlist writes a property list in Apple's XML format. Every string
// goes through xml.EscapeText.
func marshalPlist(root plistDict) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	b.WriteString(`<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">` + "\n")
	b.WriteString(`<plist version="1.0">` + "\n")
	if err := writePlistValue(&b, root, 0); err != nil {
		return nil, err
	}
	b.WriteString("</plist>\n")
	return b.Bytes(), nil
}

func writePlistValue(b *bytes.Buffer, v any, depth int) error {
	indent := strings.Repeat("\t", depth)
	switch v := v.(type) {
	case string:
		b.WriteString(indent + "<string>")
		if err := xml.EscapeText(b, []byte(v)); err != nil {
			return err
		}
		b.WriteString("</string>\n")
	case int:
		fmt.Fprintf(b, "%s<integer>%d</integer>\n", indent, v)
	case bool:
		if v {
			b.WriteString(indent + "<true/>\n")
		} else {
			b.WriteString(indent + "<false/>\n")
		}
	case []any:
		b.WriteString(indent + "<array>\n")
		for _, e := range v {
			if err := writePlistValue(b, e, depth+1); err != nil {
				return err
			}
		}
		b.WriteString(indent + "</array>\n")
	case plistDict:
		b.WriteString(indent + "<dict>\n")
		for _, e := range v {
			b.WriteString(indent + "\t<key>")
			if err := xml.EscapeText(b, []byte(e.key)); err != nil {
				return err
			}
			b.WriteString("</key>\n")
			if err := writePlistValue(b, e.value, depth+1); err != nil {
				return err
			}
		}
		b.WriteString(indent + "</dict>\n")
	default:
		return fmt.Errorf("wellknown: plist: unsupported value %T", v)
	}
	return nil
}
