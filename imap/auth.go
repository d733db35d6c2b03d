package imap

import (
	"bytes"
	"errors"
	"strconv"
	"strings"

	"github.com/emersion/go-imap/v2"

	"pillarbox/imap/wire"
	"pillarbox/mailbox"
)

// capabilities lists what the session offers in its state (RFC 9051
// section 6.1.1): before login what logging in needs, after it the
// extensions.
func (s *session) capabilities() []string {
	caps := []string{"IMAP4rev1", "IMAP4rev2", "LITERAL+", "SASL-IR", "ID", "ENABLE"}
	if s.account.ID == 0 {
		if s.srv.opts.TLS != nil && !s.tls {
			caps = append(caps, "STARTTLS")
		}
		if s.passwordsAllowed() {
			caps = append(caps, "AUTH=PLAIN")
		} else {
			caps = append(caps, "LOGINDISABLED")
		}
		return caps
	}
	return append(caps,
		"IDLE", "NAMESPACE", "UNSELECT", "UIDPLUS", "CHILDREN", "ESEARCH", "SEARCHRES",
		"LIST-EXTENDED", "LIST-STATUS", "MOVE", "STATUS=SIZE", "SPECIAL-USE", "CREATE-SPECIAL-USE",
		"BINARY", "MULTIAPPEND", "CATENATE", "CONDSTORE", "QRESYNC", "UNAUTHENTICATE", "QUOTA", "QUOTA=RES-STORAGE",
		"PREVIEW", "OBJECTID", "SAVEDATE", "NOTIFY", "COMPRESS=DEFLATE", "SORT", "SORT=DISPLAY", "ESORT", "CONTEXT=SEARCH",
		"CONTEXT=SORT", "PARTIAL", "THREAD=ORDEREDSUBJECT", "THREAD=REFERENCES",
		"APPENDLIMIT="+strconv.FormatInt(s.srv.opts.AppendLimit, 10))
}

// passwordsAllowed reports whether a password may be sent: over TLS, or
// on a loopback listener (RFC 9051 section 11.1 and RFC 8314).
func (s *session) passwordsAllowed() bool { return s.tls || s.loopback }

func (s *session) writeCapability() {
	s.w.Untagged()
	s.w.Token("CAPABILITY")
	for _, c := range s.capabilities() {
		s.w.SP()
		s.w.Token(c)
	}
	s.w.CRLF()
}

// capabilityCode is the CAPABILITY response code of a greeting or login
// OK, which spares the client a CAPABILITY command.
func (s *session) capabilityCode() string {
	return "CAPABILITY " + strings.Join(s.capabilities(), " ")
}

// cmdID answers ID (RFC 2971) with the server's name only: the version
// would tell an attacker which bugs to try.
func (s *session) cmdID(c *wire.ID) (result, error) {
	s.w.Untagged()
	s.w.Token(`ID ("name" "Pillarbox")`)
	s.w.CRLF()
	return result{}, nil
}

func (s *session) cmdStartTLS() (result, error) {
	if s.srv.opts.TLS == nil || s.tls {
		return result{}, bad("STARTTLS is not available")
	}
	s.after = func() error {
		if err := s.startTLS(); err != nil {
			return errors.Join(err, errClose)
		}
		return nil
	}
	return result{text: "Begin TLS negotiation now"}, nil
}

func (s *session) cmdLogin(c *wire.Login) (result, error) {
	if !s.passwordsAllowed() {
		return result{}, no(imap.ResponseCodePrivacyRequired, "Use TLS (STARTTLS or port 993) to log in")
	}
	if err := s.login(c.Username, c.Password); err != nil {
		return result{}, err
	}
	return result{code: s.capabilityCode(), text: "Logged in"}, nil
}

// cmdAuthenticate runs AUTHENTICATE PLAIN (RFC 4616), with the initial
// response on the command line (SASL-IR, RFC 4959) or after a "+".
func (s *session) cmdAuthenticate(c *wire.Authenticate) (result, error) {
	if c.Mechanism != "PLAIN" {
		return result{}, no(imap.ResponseCodeCannot, "Unsupported authentication mechanism")
	}
	if !s.passwordsAllowed() {
		return result{}, no(imap.ResponseCodePrivacyRequired, "Use TLS (STARTTLS or port 993) to log in")
	}
	resp := c.InitialResponse
	if !c.HasInitialResponse {
		s.w.Continue("")
		if err := s.flush(); err != nil {
			return result{}, errClose
		}
		var err error
		resp, err = s.r.ReadSASLResponse()
		if errors.Is(err, wire.ErrSASLCancelled) {
			return result{}, bad("Authentication cancelled")
		}
		var we *wire.Error
		if errors.As(err, &we) {
			return result{}, bad(we.Reason)
		}
		if err != nil {
			return result{}, errClose
		}
	}
	// message = [authzid] UTF8NUL authcid UTF8NUL passwd
	parts := bytes.Split(resp, []byte{0})
	if len(parts) != 3 {
		return result{}, bad("Invalid PLAIN response")
	}
	authz, user, pass := string(parts[0]), string(parts[1]), string(parts[2])
	if authz != "" && authz != user {
		return result{}, no(imap.ResponseCodeAuthorizationFailed, "Acting as another user is not allowed")
	}
	if err := s.login(user, pass); err != nil {
		return result{}, err
	}
	return result{code: s.capabilityCode(), text: "Logged in"}, nil
}

// login checks a password and starts the authenticated state.
func (s *session) login(user, pass string) error {
	if err := s.Login(user, pass); err != nil {
		return err
	}
	s.r.SetAuthenticated(true)
	return nil
}

// cmdEnable turns on what the session supports of the extensions named
// (RFC 5161) and lists those in ENABLED.
func (s *session) cmdEnable(c *wire.Enable) (result, error) {
	var on []string
	for _, name := range c.Caps {
		switch name {
		case "CONDSTORE":
			if !s.enabled.condstore {
				on = append(on, "CONDSTORE")
				if err := s.condStoreOn(); err != nil {
					return result{}, err
				}
			}
		case "QRESYNC":
			// RFC 7162 3.2.3: QRESYNC implies CONDSTORE.
			if !s.enabled.qresync {
				s.enabled.qresync = true
				on = append(on, "QRESYNC")
				if err := s.condStoreOn(); err != nil {
					return result{}, err
				}
			}
		case "IMAP4REV2":
			if !s.enabled.rev2 {
				s.enabled.rev2 = true
				on = append(on, "IMAP4rev2")
			}
		}
	}
	s.w.Untagged()
	s.w.Token("ENABLED")
	for _, n := range on {
		s.w.SP()
		s.w.Token(n)
	}
	s.w.CRLF()
	return result{}, nil
}

// writeNamespace answers NAMESPACE: one personal namespace with "/" as
// delimiter (RFC 2342).
func (s *session) writeNamespace() {
	s.w.Untagged()
	s.w.Token(`NAMESPACE (("" "` + string(mailbox.Delimiter) + `")) NIL NIL`)
	s.w.CRLF()
}
