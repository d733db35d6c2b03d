package relay

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"pillarbox/smtp/relay/dane"
	"pillarbox/smtp/relay/tlspolicy"
)

// Security configures the relay's transport security. Zero values are
// documented per field; the zero Security is opportunistic TLS to MX
// hosts and a smarthost that must do STARTTLS with a valid certificate.
type Security struct {
	// SmarthostTLS is how the session with Options.Smarthost is
	// secured: "starttls" (zero) requires STARTTLS, "implicit" does TLS
	// from the first byte (RFC 8314 3), both with a certificate that
	// chains to RootCAs and is valid for the smarthost's name; "none"
	// sends in plaintext and never logs in.
	SmarthostTLS string
	// SmarthostUser and SmarthostPassword log in to the smarthost with
	// AUTH PLAIN, or LOGIN when PLAIN is not offered, over TLS only
	// (RFC 4954 4). Zero user: no login.
	SmarthostUser, SmarthostPassword string
	// RootCAs verify the certificates of the smarthost and of MX hosts
	// under an MTA-STS policy. Zero: the system roots.
	RootCAs *x509.CertPool
	// MTASTS looks up the recipient domains' MTA-STS policies (RFC
	// 8461). Zero: no MTA-STS.
	MTASTS *tlspolicy.Policies
	// DANE looks up MX and TLSA records at a validating resolver (RFC
	// 7672). When set, the MX records come from it rather than from
	// Options.Resolver. Zero: DANE is off.
	DANE *dane.Resolver
}

// security is a Runner's transport security state.
type security struct {
	Security
	// stsFailures counts MTA-STS checks that failed in mode testing
	// (RFC 8461 5: report, then deliver anyway).
	stsFailures atomic.Int64
}

// MTASTSTestingFailures is the number of MTA-STS checks that failed for
// domains whose policy is in mode testing, since the Runner started.
func (r *Runner) MTASTSTestingFailures() int64 { return r.sec.stsFailures.Load() }

// tlsPlan is how a session with one host must use TLS.
type tlsPlan struct {
	// cfg is the TLS configuration; nil: Options.TLS (opportunistic,
	// the certificate is not checked) with the host as ServerName.
	cfg *tls.Config
	// require: no STARTTLS, a refusal or a failed handshake is an error
	// (the next host, or a deferral), never a reason to go on in
	// plaintext.
	require bool
	// verified: cfg checks the certificate, so that a handshake that
	// succeeds verified it.
	verified bool
	// why names what asked for TLS, for errors and the attempt record.
	why string
	// implicit: TLS from the first byte (a smarthost on port 465).
	implicit bool
	// skipTLS: no STARTTLS at all; note says why.
	skipTLS bool
	note    string
	// auth: log in to the smarthost after EHLO.
	auth bool
	// testing, when set, reports a failed MTA-STS check in mode testing;
	// check is that check on the certificate.
	testing func(error)
	check   func(tls.ConnectionState) error
}

func (p tlsPlan) tlsConfig(base *tls.Config, host string) *tls.Config {
	if p.cfg != nil {
		return p.cfg
	}
	c := base.Clone()
	if c.ServerName == "" {
		c.ServerName = host
	}
	return c
}

// describe is the attempt record of a session's TLS.
func (p tlsPlan) describe(cs tls.ConnectionState) string {
	v := tls.VersionName(cs.Version)
	switch {
	case p.verified:
		return v + ", certificate verified (" + p.why + ")"
	case p.why != "":
		return v + ", certificate not checked (" + p.why + ")"
	}
	return v + ", certificate not checked (opportunistic)"
}

// securityPlan says how to use TLS with host of rt. An error means the
// host must not be tried now (a failed DANE lookup, RFC 7672 2.1.1).
func (r *Runner) securityPlan(ctx context.Context, rt *route, host string) (tlsPlan, error) {
	sec := &r.sec.Security
	if rt.smarthost {
		return r.smarthostPlan(host), nil
	}
	if sec.DANE != nil {
		p, err := sec.DANE.Lookup(ctx, host, rt.mxSecure)
		if err != nil {
			return tlsPlan{}, fmt.Errorf("DANE: %s must not be used now: %w", host, err)
		}
		switch p.Mode {
		case dane.Verify:
			// The certificate's time is the real one, like Go's own
			// checks, not the scheduler's clock.
			return tlsPlan{cfg: p.TLSConfig(r.opts.TLS, nil), require: true, verified: true, why: "DANE"}, nil
		case dane.Encrypt:
			// Unusable records still ask for TLS, but check nothing: an
			// MTA-STS enforce policy's certificate check must not be lost
			// to them.
			if !rt.sts.RequiresTLS() {
				return tlsPlan{cfg: p.TLSConfig(r.opts.TLS, nil), require: true, why: "DANE: " + p.Reason}, nil
			}
		}
	}
	switch {
	case rt.sts.RequiresTLS():
		return tlsPlan{cfg: tlspolicy.TLSConfig(r.opts.TLS, host, sec.RootCAs), require: true, verified: true,
			why: "MTA-STS policy of " + rt.sts.Domain}, nil
	case rt.sts.Checks():
		domain := rt.sts.Domain
		return tlsPlan{
			testing: func(err error) { r.stsTestingFailure(domain, host, err) },
			check:   func(cs tls.ConnectionState) error { return verifyPKIX(cs, host, sec.RootCAs) },
		}, nil
	}
	return tlsPlan{}, nil
}

// stsTestingFailure logs and counts a failed check under a policy in
// mode testing (RFC 8461 5).
func (r *Runner) stsTestingFailure(domain, host string, err error) {
	r.sec.stsFailures.Add(1)
	r.log.Warn("relay: MTA-STS check failed (policy in mode testing: delivering anyway)",
		"domain", domain, "remote", host, "err", err)
}

// smarthostPlan is the plan for the smarthost: TLS with a verified
// certificate unless SmarthostTLS is "none".
func (r *Runner) smarthostPlan(host string) tlsPlan {
	sec := &r.sec.Security
	if sec.SmarthostTLS == "none" {
		return tlsPlan{skipTLS: true, note: "none (smarthost TLS is off)"}
	}
	return tlsPlan{cfg: tlspolicy.TLSConfig(r.opts.TLS, host, sec.RootCAs), require: true, verified: true,
		why: "smarthost", implicit: sec.SmarthostTLS == "implicit", auth: sec.SmarthostUser != ""}
}

// verifyPKIX checks a server's certificate chain against roots (nil:
// the system's) and the name host, as crypto/tls would.
func verifyPKIX(cs tls.ConnectionState, host string, roots *x509.CertPool) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("the server sent no certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{DNSName: host, Roots: roots, Intermediates: inter})
	return err
}

// authError is a failed login to the smarthost. It is a deferral even
// when the smarthost's reply is permanent (535): a wrong password is the
// operator's to fix, and the mail must wait for that rather than bounce.
// The reply is kept, for the queue and the log.
type authError struct {
	host  string
	reply *reply // the smarthost's reply, if it gave one
	text  string // otherwise, what went wrong
	tls   string // how the session used TLS (conn.tlsNote)
	used  bool   // the session was over TLS
}

func (e *authError) Error() string {
	if e.reply != nil {
		return "smarthost " + e.host + " refused the login: " + e.reply.String()
	}
	return "smarthost " + e.host + ": " + e.text
}

// asReply is the deferral an authError stands for.
func (e *authError) asReply() reply {
	status := "4.7.0"
	if e.reply != nil && len(e.reply.status) == 5 {
		status = "4" + e.reply.status[1:]
	}
	return reply{status: status, text: e.Error(), remote: e.host, temporary: true, tls: e.used, tlsNote: e.tls}
}

// login authenticates to the smarthost, over TLS only (RFC 4954 4: the
// password is never sent in the clear).
func (r *Runner) login(cn *conn) error {
	sec := &r.sec.Security
	if !cn.tls {
		return &authError{host: cn.host, text: "not sending the password without TLS", tls: cn.tlsNote, used: cn.tls}
	}
	var client sasl.Client
	switch {
	case cn.c.SupportsAuth(sasl.Plain):
		client = sasl.NewPlainClient("", sec.SmarthostUser, sec.SmarthostPassword)
	case cn.c.SupportsAuth(sasl.Login):
		client = sasl.NewLoginClient(sec.SmarthostUser, sec.SmarthostPassword)
	default:
		return &authError{host: cn.host, text: "offers neither AUTH PLAIN nor AUTH LOGIN", tls: cn.tlsNote, used: cn.tls}
	}
	err := cn.c.Auth(client)
	if err == nil {
		return nil
	}
	var se *gosmtp.SMTPError
	if errors.As(err, &se) {
		rp := smtpReply(se, cn.host)
		r.log.Warn("relay: smarthost login failed", "remote", cn.host, "reply", rp.String())
		return &authError{host: cn.host, reply: &rp, tls: cn.tlsNote, used: cn.tls}
	}
	return err
}
