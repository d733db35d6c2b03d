package smtp

import (
	"errors"
	"net"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
)

// Mechanisms offered on submission (RFC 4954). Both send the password in
// the clear, so they are offered only over TLS or on loopback.
const (
	mechPlain = "PLAIN"
	mechLogin = "LOGIN"
)

// errEncryptionRequired answers AUTH on a connection where a password
// would travel in the clear (RFC 4954 section 6).
var errEncryptionRequired = &gosmtp.SMTPError{Code: 538, EnhancedCode: gosmtp.EnhancedCode{5, 7, 11},
	Message: "Encryption required for requested authentication mechanism"}

// errAuthTemporary answers AUTH when the account store failed.
var errAuthTemporary = &gosmtp.SMTPError{Code: 454, EnhancedCode: gosmtp.EnhancedCode{4, 7, 0},
	Message: "Temporary authentication failure"}

// errLoginThrottled answers AUTH when the throttle refused the attempt
// without checking its password (RFC 4954 section 6: a temporary
// failure, so that the client tries again later).
var errLoginThrottled = &gosmtp.SMTPError{Code: 454, EnhancedCode: gosmtp.EnhancedCode{4, 7, 0},
	Message: "Too many failed logins, try again later"}

// plaintextAuthAllowed reports whether a password may be sent on c: over
// TLS, or when the connection never leaves the machine.
func plaintextAuthAllowed(c *gosmtp.Conn) bool {
	_, isTLS := c.TLSConnectionState()
	return authAllowed(isTLS, c.Conn().LocalAddr())
}

func authAllowed(isTLS bool, local net.Addr) bool {
	if isTLS {
		return true
	}
	a, ok := local.(*net.TCPAddr)
	return ok && a.IP.IsLoopback()
}

// authenticator checks a login: an authorization identity (PLAIN only,
// "" when absent), a user name and a password. It returns
// gosmtp.ErrAuthFailed or errAuthTemporary, which go-smtp sends as is.
type authenticator func(identity, username, password string) error

// newPlainServer is go-sasl's PLAIN (RFC 4616).
func newPlainServer(auth authenticator) sasl.Server {
	return sasl.NewPlainServer(sasl.PlainAuthenticator(auth))
}

// loginServer is the server side of the LOGIN mechanism
// (draft-murchison-sasl-login), which go-sasl does not have and which
// older clients still use: the server asks "Username:" then "Password:",
// and the client may send the user name as an initial response.
type loginServer struct {
	auth     authenticator
	step     int
	username string
}

func newLoginServer(auth authenticator) sasl.Server { return &loginServer{auth: auth} }

var errLoginUnexpected = errors.New("unexpected LOGIN response")

// Next implements sasl.Server. go-smtp calls it first with the initial
// response, nil when the client sent none.
func (l *loginServer) Next(response []byte) (challenge []byte, done bool, err error) {
	switch l.step {
	case 0:
		l.step = 1
		if response == nil {
			return []byte("Username:"), false, nil
		}
		fallthrough
	case 1:
		l.step = 2
		l.username = string(response)
		return []byte("Password:"), false, nil
	case 2:
		l.step = 3
		return nil, true, l.auth("", l.username, string(response))
	}
	return nil, true, errLoginUnexpected
}
