package tlspolicy

import (
	"crypto/tls"
	"crypto/x509"
)

// TLSConfig returns the STARTTLS client configuration for mxHost under a
// policy in mode testing or enforce: the certificate must chain to roots
// (nil: base's RootCAs, or the system roots) and be valid for the MX host
// name itself (RFC 8461 4.1, with RFC 6125 name checks, which crypto/tls
// does for ServerName). It is a clone of base (nil: an empty config) with
// ServerName set to mxHost without a trailing dot, InsecureSkipVerify
// off, and at least TLS 1.2. Other fields of base (client certificates,
// an extra VerifyConnection such as a DANE check) are kept.
func TLSConfig(base *tls.Config, mxHost string, roots *x509.CertPool) *tls.Config {
	c := &tls.Config{}
	if base != nil {
		c = base.Clone()
	}
	c.ServerName = trimDot(mxHost)
	c.InsecureSkipVerify = false
	if roots != nil {
		c.RootCAs = roots
	}
	if c.MinVersion < tls.VersionTLS12 {
		c.MinVersion = tls.VersionTLS12
	}
	return c
}
