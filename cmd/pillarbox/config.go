package main

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"golang.org/x/net/idna"

	"pillarbox/mailbox/netlimit"
)

// Config is the server configuration, read from a TOML file by LoadConfig.
// A file sets only the keys it names; every other key keeps the default
// from DefaultConfig, noted on each field below.
//
// Relative paths (data_dir, tls.cert, tls.key) are used as written, that is
// relative to the working directory of the process, not to the config file.
//
// An empty listen address disables that listener.
type Config struct {
	// Hostname is the server's own name: SMTP greeting, Received headers
	// and the self-signed certificate. Normalised like Domains.
	// Default "localhost".
	Hostname string `toml:"hostname"`
	// DataDir holds the database, the queue and the self-signed
	// certificate. Default "./pillarbox-data".
	DataDir string `toml:"data_dir"`
	// Domains are the domains we accept mail for, at least one. Validate
	// lower-cases them, converts internationalised names to punycode
	// (A-labels) and drops duplicates. Default ["localhost"].
	Domains []string `toml:"domains"`
	// LogFormat is how serve writes its log to standard error: "text"
	// (slog's key=value lines) or "json" (one JSON object a line, for a
	// log collector). Default "text".
	LogFormat string `toml:"log_format"`
	// HistoryDays is how many days the delivery history (pillarbox
	// trace) keeps each event. Default 30.
	HistoryDays int `toml:"history_days"`

	SMTP struct {
		// Listen is the address for incoming mail from other servers.
		// Default "127.0.0.1:2525".
		Listen string `toml:"listen"`
		// MaxMessageBytes is the SIZE limit (RFC 1870). Default 25 MiB.
		MaxMessageBytes int64 `toml:"max_message_bytes"`
		// MaxRecipients limits RCPT TO per transaction. Default 100.
		MaxRecipients int `toml:"max_recipients"`
	} `toml:"smtp"`

	Submission struct {
		// Listen is the submission port with STARTTLS (RFC 6409).
		// Default "127.0.0.1:2587".
		Listen string `toml:"listen"`
		// ListenTLS is submission over implicit TLS (RFC 8314).
		// Default "" (disabled).
		ListenTLS string `toml:"listen_tls"`
		// SaveSent files a copy of every submitted message in the
		// sender's \Sent folder, flagged \Seen; a mail app's own upload
		// of the same message within 15 minutes replaces it. Default
		// true.
		SaveSent bool `toml:"save_sent"`
	} `toml:"submission"`

	IMAP struct {
		// Listen is IMAP with STARTTLS. Default "127.0.0.1:2143".
		Listen string `toml:"listen"`
		// ListenTLS is IMAP over implicit TLS. Default "" (disabled).
		ListenTLS string `toml:"listen_tls"`
	} `toml:"imap"`

	TLS struct {
		// Cert and Key are PEM files. Both empty (the default) means a
		// self-signed certificate kept in DataDir; setting only one is an
		// error.
		Cert string `toml:"cert"`
		Key  string `toml:"key"`
		// ACME gets and renews certificates from an ACME CA (RFC 8555)
		// for the hostname and for mta-sts. and autoconfig. under every
		// local domain, answering its challenges on the [https] listener
		// (TLS-ALPN-01) and the [http] listener (HTTP-01), one of which
		// must be on. The account key and certificates are kept in
		// DataDir. Excludes Cert and Key. Default false.
		ACME bool `toml:"acme"`
		// ACMEEmail is the contact address given to the CA, which writes
		// to it about expiring certificates. Default "" (none).
		ACMEEmail string `toml:"acme_email"`
		// ACMEDirectory is the CA's directory URL. Default: Let's
		// Encrypt's production directory.
		ACMEDirectory string `toml:"acme_directory"`
		// ACMECARoots is a PEM file of the roots that the CA's own HTTPS
		// certificate chains to, for a private CA. Default "" (the
		// system's roots).
		ACMECARoots string `toml:"acme_ca_roots"`
		// ACMERenewBefore is how long before expiry a certificate is
		// renewed. Zero: 30 days, or a third of the certificate's
		// lifetime if that is shorter.
		ACMERenewBefore Duration `toml:"acme_renew_before"`
	} `toml:"tls"`

	// HTTP is the plain HTTP listener: ACME HTTP-01 challenges and mail
	// apps' autoconfiguration. Listen "" (the default) turns it off;
	// ":80" in production.
	HTTP struct {
		Listen string `toml:"listen"`
	} `toml:"http"`

	// HTTPS is the HTTPS listener: ACME TLS-ALPN-01 challenges, mail
	// apps' autoconfiguration, Autodiscover, the Apple profile and the
	// MTA-STS policy. Listen "" (the default) turns it off; ":443" in
	// production.
	HTTPS struct {
		Listen string `toml:"listen"`
	} `toml:"https"`

	// Admin is the operator's HTTP listener: Prometheus /metrics and
	// /healthz. Default "127.0.0.1:2780"; "" turns it off. It has no
	// authentication, so keep it on loopback or a private network.
	Admin struct {
		Listen string `toml:"listen"`
	} `toml:"admin"`

	Limits struct {
		// MaxConnections caps the connections each listener holds open
		// at once; one more is refused before any work (SMTP 421 4.7.0,
		// IMAP BYE, a plain close on implicit TLS). Zero: automatic,
		// the file descriptors the process may open (RLIMIT_NOFILE) less
		// 256 kept for the database, the relay and the listeners, shared
		// equally by the listeners, and at most 4096 each. A value that
		// does not fit in that budget stops serve at start.
		MaxConnections int `toml:"max_connections"`
		// MaxConnectionsPerIP caps, per listener, the connections from
		// one IPv4 address or one IPv6 /64. Zero: 50, or MaxConnections
		// if that is lower.
		MaxConnectionsPerIP int `toml:"max_connections_per_ip"`
		// MaxConnectionsTotal caps the connections open at once over all
		// the listeners together; one more is refused like one over a
		// listener's cap. Zero: automatic, the file descriptors the
		// process may open less those kept for the rest, and at most
		// 8192.
		MaxConnectionsTotal int `toml:"max_connections_total"`
		// ConnectionsPerMinute caps, per listener, the new connections
		// from one IPv4 address or one IPv6 /64 in a minute, with bursts
		// up to the same number. Zero: 60.
		ConnectionsPerMinute int `toml:"connections_per_minute"`
		// MessagesPerMinute caps the messages one IPv4 address or IPv6 /64
		// may send in a minute, counted over the MX and submission, with
		// bursts up to the same number; one more is deferred with 450
		// 4.7.0. Zero: 120.
		MessagesPerMinute int `toml:"messages_per_minute"`
		// SMTPCommandTimeout bounds the wait for each SMTP command line,
		// however slowly it trickles in; the client then gets 421 4.4.2
		// and is disconnected. Zero: 10 min (RFC 5321 4.5.3.2).
		SMTPCommandTimeout Duration `toml:"smtp_command_timeout"`
		// SMTPDataTimeout bounds a whole message transfer, from the 354 to
		// the last byte, so that a client dribbling a byte a second is cut
		// off with 421 4.4.2 and nothing is stored. Zero: 10 min, enough
		// for 25 MiB at 350 kbit/s.
		SMTPDataTimeout Duration `toml:"smtp_data_timeout"`
		// RateExempt lists the networks the per-minute rates do not
		// apply to, as CIDR prefixes. Default: loopback
		// (["127.0.0.0/8", "::1/128"]), where the host's own programs
		// and a local webmail connect from; [] limits everyone.
		RateExempt []string `toml:"rate_exempt"`
		// DefaultQuota is the storage quota of accounts created from now
		// on (`user add`, a domain's postmaster), as `user quota` takes
		// it: "500M", "2G". Accounts that exist keep theirs; `pillarbox
		// user quota` changes one. Default "" (no quota).
		DefaultQuota string `toml:"default_quota"`
	} `toml:"limits"`

	Store struct {
		// Driver is where the data is kept: "sqlite" (the default: one
		// file in data_dir, for one server) or "postgres" (a PostgreSQL
		// database, which several servers may share).
		Driver string `toml:"driver"`
		// DSN is the PostgreSQL database, as a postgres:// URL or a
		// key=value string; or DSNFile names a file whose first line is
		// it, read at start. Exactly one with driver "postgres", neither
		// with "sqlite".
		DSN     string `toml:"dsn"`
		DSNFile string `toml:"dsn_file"`
	} `toml:"store"`

	Relay struct {
		// Smarthost, as host:port, receives all outgoing mail. Default ""
		// (deliver directly to each domain's MX).
		Smarthost string `toml:"smarthost"`
		// SmarthostTLS secures the session with the smarthost:
		// "starttls" (the default; STARTTLS is required), "implicit"
		// (TLS from the first byte, as on port 465) or "none"
		// (plaintext, no login). With TLS the certificate must chain to
		// the system roots, or to SmarthostCA, and be valid for the
		// smarthost's name.
		SmarthostTLS string `toml:"smarthost_tls"`
		// SmarthostUser logs in to the smarthost with AUTH PLAIN (or
		// LOGIN), only over TLS. Default "" (no login).
		SmarthostUser string `toml:"smarthost_user"`
		// SmarthostPassword is SmarthostUser's password; or
		// SmarthostPasswordFile names a file whose first line is the
		// password, read at start. Exactly one goes with smarthost_user.
		SmarthostPassword     string `toml:"smarthost_password"`
		SmarthostPasswordFile string `toml:"smarthost_password_file"`
		// SmarthostCA is a PEM file of CA certificates that verify the
		// smarthost instead of the system roots. Default "".
		SmarthostCA string `toml:"smarthost_ca"`
		// Retry is the wait before each further delivery attempt; the last
		// one repeats until MaxAge. Default 5m, 10m, 20m, 40m, 80m, 160m.
		Retry []Duration `toml:"retry"`
		// MaxAge is when a message that could not be delivered bounces.
		// Default 120h.
		MaxAge Duration `toml:"max_age"`
		// DelayWarning is when the sender is told delivery is delayed;
		// 0 disables the warning. Default 4h.
		DelayWarning Duration `toml:"delay_warning"`
		// MaxConnections limits the outgoing SMTP connections open at
		// once, to all destinations (with a smarthost: to it). Each one
		// takes a file descriptor that the listeners' automatic caps
		// leave free. Default 32.
		MaxConnections int `toml:"max_connections"`
		// PerDomain limits the connections open at once for one
		// recipient domain, so that a large backlog for one domain
		// leaves connections to the others and does not flood its MX
		// hosts; at most MaxConnections. Default 4.
		PerDomain int `toml:"per_domain"`
	} `toml:"relay"`

	Inbound struct {
		// Verify checks SPF, DKIM and DMARC of every message the MX
		// receives and puts the verdict in one Authentication-Results
		// header. Default true.
		Verify bool `toml:"verify"`
		// DMARCReject refuses (550 5.7.1) a message that fails DMARC
		// under p=reject; off, it goes to Junk. Default true.
		DMARCReject bool `toml:"dmarc_reject"`
		// RefuseLocalSpoof refuses (550 5.7.1) a message at the MX whose
		// From or MAIL FROM is in a local domain but that passes neither
		// SPF nor DKIM for it. Default true.
		RefuseLocalSpoof bool `toml:"refuse_local_spoof"`
	} `toml:"inbound"`

	DNS struct {
		// Resolver, as host:port, receives every DNS lookup Pillarbox
		// makes (MX, and the mail authentication records), for example a
		// local validating resolver. Default "" (the system's resolvers).
		Resolver string `toml:"resolver"`
		// DNSSEC says that Resolver validates DNSSEC and that the path to
		// it is trusted (a resolver on the same host), so that its AD bit
		// can be believed: the relay then does DANE (RFC 7672). Needs
		// resolver. Default false (DANE off).
		DNSSEC bool `toml:"dnssec"`
		// SPFAll ends the SPF record that `pillarbox dns` prints: "~all"
		// (softfail, the default) or "-all" (fail).
		SPFAll string `toml:"spf_all"`
	} `toml:"dns"`
}

// Duration is a time.Duration written in TOML as a string in
// time.ParseDuration syntax, such as "90m".
type Duration struct{ time.Duration }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := time.ParseDuration(string(text))
	if err != nil {
		return fmt.Errorf("invalid duration %q", text)
	}
	d.Duration = v
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) {
	return []byte(d.String()), nil
}

// DefaultConfig returns the configuration used when no file is given.
func DefaultConfig() *Config {
	c := &Config{
		Hostname: "localhost",
		DataDir:  "./pillarbox-data",
		Domains:  []string{"localhost"},
		// HistoryDays: see the field.
		HistoryDays: 30,
	}
	c.SMTP.Listen = "127.0.0.1:2525"
	c.SMTP.MaxMessageBytes = 25 << 20
	c.SMTP.MaxRecipients = 100
	c.LogFormat = "text"
	c.Submission.Listen = "127.0.0.1:2587"
	c.Submission.SaveSent = true
	c.IMAP.Listen = "127.0.0.1:2143"
	c.Admin.Listen = "127.0.0.1:2780"
	c.Limits.RateExempt = []string{"127.0.0.0/8", "::1/128"}
	c.TLS.ACMEDirectory = "https://acme-v02.api.letsencrypt.org/directory"
	for _, m := range []time.Duration{5, 10, 20, 40, 80, 160} {
		c.Relay.Retry = append(c.Relay.Retry, Duration{m * time.Minute})
	}
	c.Store.Driver = "sqlite"
	c.Relay.SmarthostTLS = "starttls"
	c.Relay.MaxAge = Duration{120 * time.Hour}
	c.Relay.DelayWarning = Duration{4 * time.Hour}
	c.Relay.MaxConnections = 32
	c.Relay.PerDomain = 4
	c.Inbound.Verify = true
	c.Inbound.DMARCReject = true
	c.Inbound.RefuseLocalSpoof = true
	return c
}

// LoadConfig reads the TOML file at path over DefaultConfig and validates
// the result. An empty path means the defaults alone.
func LoadConfig(path string) (*Config, error) {
	c := DefaultConfig()
	if path == "" {
		if err := c.Validate(); err != nil {
			return nil, err
		}
		return c, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(c)
	if err != nil {
		return nil, decodeError(path, data, err)
	}
	if keys := unknownKeys(md.Undecoded()); len(keys) > 0 {
		plural := ""
		if len(keys) > 1 {
			plural = "s"
		}
		return nil, fmt.Errorf("config: %s: unknown key%s %s", path, plural, strings.Join(keys, ", "))
	}
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("config: %s: %w", path, err)
	}
	return c, nil
}

// decodeError rewrites a toml error as "config: FILE:LINE: KEY: problem".
func decodeError(path string, data []byte, err error) error {
	var pe toml.ParseError
	if !errors.As(err, &pe) {
		// Type mismatches are plain errors that already name the key.
		return fmt.Errorf("config: %s: %s", path, strings.TrimPrefix(err.Error(), "toml: "))
	}
	if pe.LastKey == "" {
		return fmt.Errorf("config: %s:%d: %s", path, pe.Position.Line, pe.Message)
	}
	return fmt.Errorf("config: %s:%d: %s: %s", path, pe.Position.Line, badDurationKey(data, pe.LastKey), pe.Message)
}

// badDurationKey appends the index of the first invalid duration to key when
// key names an array, since toml reports only the array's key. The only
// arrays that can fail element by element are of Duration.
func badDurationKey(data []byte, key string) string {
	var raw map[string]any
	if _, err := toml.Decode(string(data), &raw); err != nil {
		return key
	}
	var v any = raw
	for part := range strings.SplitSeq(key, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return key
		}
		v = m[part]
	}
	list, _ := v.([]any)
	for i, e := range list {
		var d Duration
		if d.UnmarshalText(fmt.Append(nil, e)) != nil {
			return fmt.Sprintf("%s[%d]", key, i)
		}
	}
	return key
}

// unknownKeys quotes the undecoded keys, leaving out those inside a table
// that is itself unknown.
func unknownKeys(keys []toml.Key) []string {
	var names []string
	var last string
	for _, k := range keys {
		s := k.String()
		if last != "" && strings.HasPrefix(s, last+".") {
			continue
		}
		last = s
		names = append(names, strconv.Quote(s))
	}
	return names
}

// Validate reports the first problem in c, naming its key, and normalises
// Hostname and Domains in place when there is none.
func (c *Config) Validate() error {
	if err := c.validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return nil
}

func (c *Config) validate() error {
	hostname, err := normalizeDomain(c.Hostname)
	if err != nil {
		return fmt.Errorf("hostname: %w", err)
	}
	if c.DataDir == "" {
		return errors.New("data_dir: must not be empty")
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return fmt.Errorf("log_format: %q: must be \"text\" or \"json\"", c.LogFormat)
	}
	if len(c.Domains) == 0 {
		return errors.New("domains: must list at least one domain")
	}
	if c.HistoryDays < 1 {
		return fmt.Errorf("history_days: %d, want 1 or more", c.HistoryDays)
	}
	if c.HistoryDays > maxHistoryDays {
		return fmt.Errorf("history_days: %d, want at most %d (100 years)", c.HistoryDays, maxHistoryDays)
	}
	if err := c.validateStore(); err != nil {
		return err
	}
	var domains []string
	for i, d := range c.Domains {
		n, err := normalizeDomain(d)
		if err != nil {
			return fmt.Errorf("domains[%d]: %w", i, err)
		}
		if !slices.Contains(domains, n) {
			domains = append(domains, n)
		}
	}
	listeners := []struct{ key, addr string }{
		{"smtp.listen", c.SMTP.Listen},
		{"submission.listen", c.Submission.Listen},
		{"submission.listen_tls", c.Submission.ListenTLS},
		{"imap.listen", c.IMAP.Listen},
		{"imap.listen_tls", c.IMAP.ListenTLS},
		{"http.listen", c.HTTP.Listen},
		{"https.listen", c.HTTPS.Listen},
		{"admin.listen", c.Admin.Listen},
	}
	for i, l := range listeners {
		if l.addr == "" {
			continue
		}
		if err := checkHostPort(l.addr, true); err != nil {
			return fmt.Errorf("%s: %w", l.key, err)
		}
		// Two listeners on one address would fail at serve's start as
		// "address already in use", as if another program held the port.
		for _, o := range listeners[:i] {
			if o.addr != "" && listenersOverlap(o.addr, l.addr) {
				return fmt.Errorf("%s: %s is also %s (%s): give each listener its own port", l.key, l.addr, o.key, o.addr)
			}
		}
	}
	if c.SMTP.MaxMessageBytes <= 0 {
		return fmt.Errorf("smtp.max_message_bytes: must be positive, got %d", c.SMTP.MaxMessageBytes)
	}
	if c.SMTP.MaxRecipients <= 0 {
		return fmt.Errorf("smtp.max_recipients: must be positive, got %d", c.SMTP.MaxRecipients)
	}
	if c.Limits.MaxConnections < 0 {
		return fmt.Errorf("limits.max_connections: must not be negative (0 is automatic), got %d", c.Limits.MaxConnections)
	}
	if c.Limits.MaxConnectionsPerIP < 0 {
		return fmt.Errorf("limits.max_connections_per_ip: must not be negative (0 is automatic), got %d", c.Limits.MaxConnectionsPerIP)
	}
	if c.Limits.MaxConnections > 0 && c.Limits.MaxConnectionsPerIP > c.Limits.MaxConnections {
		return fmt.Errorf("limits.max_connections_per_ip: %d is more than limits.max_connections (%d)",
			c.Limits.MaxConnectionsPerIP, c.Limits.MaxConnections)
	}
	if c.Limits.MaxConnectionsTotal < 0 {
		return fmt.Errorf("limits.max_connections_total: must not be negative (0 is automatic), got %d", c.Limits.MaxConnectionsTotal)
	}
	if c.Limits.ConnectionsPerMinute < 0 {
		return fmt.Errorf("limits.connections_per_minute: must not be negative (0 is the default), got %d", c.Limits.ConnectionsPerMinute)
	}
	if c.Limits.MessagesPerMinute < 0 {
		return fmt.Errorf("limits.messages_per_minute: must not be negative (0 is the default), got %d", c.Limits.MessagesPerMinute)
	}
	if c.Limits.SMTPCommandTimeout.Duration < 0 || c.Limits.SMTPDataTimeout.Duration < 0 {
		return errors.New("limits.smtp_command_timeout, smtp_data_timeout: must not be negative (0 is the default)")
	}
	if _, err := c.defaultQuota(); err != nil {
		return err
	}
	for i, p := range c.Limits.RateExempt {
		if _, err := netip.ParsePrefix(p); err != nil {
			return fmt.Errorf("limits.rate_exempt[%d]: %q: want a CIDR prefix such as 192.0.2.0/24", i, p)
		}
	}
	if (c.TLS.Cert == "") != (c.TLS.Key == "") {
		return errors.New("tls: cert and key must be set together (leave both empty for a self-signed certificate)")
	}
	if err := c.validateACME(); err != nil {
		return err
	}
	if c.Relay.Smarthost != "" {
		if err := checkHostPort(c.Relay.Smarthost, false); err != nil {
			return fmt.Errorf("relay.smarthost: %w", err)
		}
	}
	if err := c.validateSmarthost(); err != nil {
		return err
	}
	if c.DNS.DNSSEC && c.DNS.Resolver == "" {
		return errors.New("dns.dnssec: needs dns.resolver, the validating resolver whose answers are trusted")
	}
	if len(c.Relay.Retry) == 0 {
		return errors.New("relay.retry: must list at least one interval")
	}
	if c.Relay.MaxConnections <= 0 {
		return fmt.Errorf("relay.max_connections: must be positive, got %d", c.Relay.MaxConnections)
	}
	if c.Relay.PerDomain <= 0 {
		return fmt.Errorf("relay.per_domain: must be positive, got %d", c.Relay.PerDomain)
	}
	if c.Relay.PerDomain > c.Relay.MaxConnections {
		return fmt.Errorf("relay.per_domain: %d is more than relay.max_connections (%d)", c.Relay.PerDomain, c.Relay.MaxConnections)
	}
	if c.DNS.SPFAll != "" && c.DNS.SPFAll != "~all" && c.DNS.SPFAll != "-all" {
		return fmt.Errorf("dns.spf_all: %q: must be \"~all\" or \"-all\"", c.DNS.SPFAll)
	}
	if c.DNS.Resolver != "" {
		// An IP address: looking up the resolver's own name would need a
		// resolver.
		host, _, _ := net.SplitHostPort(c.DNS.Resolver)
		if err := checkHostPort(c.DNS.Resolver, false); err != nil {
			return fmt.Errorf("dns.resolver: %w", err)
		}
		if _, err := netip.ParseAddr(host); err != nil {
			return fmt.Errorf("dns.resolver: %s: must be an IP address and port", c.DNS.Resolver)
		}
	}
	for i, d := range c.Relay.Retry {
		if d.Duration <= 0 {
			return fmt.Errorf("relay.retry[%d]: must be positive, got %s", i, d)
		}
	}
	if c.Relay.MaxAge.Duration <= 0 {
		return fmt.Errorf("relay.max_age: must be positive, got %s", c.Relay.MaxAge)
	}
	if c.Relay.DelayWarning.Duration < 0 {
		return fmt.Errorf("relay.delay_warning: must not be negative, got %s", c.Relay.DelayWarning)
	}
	c.Hostname, c.Domains = hostname, domains
	return nil
}

// normalizeDomain returns name as Pillarbox stores and compares domains:
// lower-case ASCII with internationalised labels as A-labels (RFC 5890),
// using the IDNA lookup profile.
func normalizeDomain(name string) (string, error) {
	if name == "" {
		return "", errors.New("empty domain name")
	}
	a, err := idna.Lookup.ToASCII(name)
	if err != nil {
		return "", fmt.Errorf("invalid domain name %q: %v", name, err)
	}
	a = strings.ToLower(a)
	if len(a) > 253 {
		return "", fmt.Errorf("invalid domain name %q: longer than 253 characters", name)
	}
	if _, err := netip.ParseAddr(a); err == nil {
		return "", fmt.Errorf("invalid domain name %q: an IP address", name)
	}
	for label := range strings.SplitSeq(a, ".") {
		// An empty label is also what a trailing dot leaves.
		if label == "" {
			return "", fmt.Errorf("invalid domain name %q: empty label or trailing dot", name)
		}
		if len(label) > 63 {
			return "", fmt.Errorf("invalid domain name %q: label longer than 63 characters", name)
		}
	}
	return a, nil
}

// checkHostPort checks a host:port address with a numeric port. A listen
// address may leave the host empty (all interfaces) and use port 0 (any
// free port); an address to dial may not.
func checkHostPort(addr string, listen bool) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return fmt.Errorf("address %s: port must be a number from 0 to 65535", addr)
	}
	if !listen && (host == "" || n == 0) {
		return fmt.Errorf("address %s: needs a host and a non-zero port", addr)
	}
	if host == "" {
		return nil
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return nil
	}
	if _, err := normalizeDomain(host); err != nil {
		return fmt.Errorf("address %s: %w", addr, err)
	}
	return nil
}

// listenersOverlap reports whether listening on a and on b (checked by
// checkHostPort) would take the same port of the same address: the same
// non-zero port, and the same host, or a wildcard that covers the
// other's. An empty host and [::] listen on every address of both
// families (Go's dual-stack socket); 0.0.0.0 on every IPv4 one. Host
// names, which are resolved only at bind, overlap only themselves.
func listenersOverlap(a, b string) bool {
	ha, pa, _ := net.SplitHostPort(a)
	hb, pb, _ := net.SplitHostPort(b)
	if pa != pb || pa == "0" {
		return false
	}
	ia, errA := netip.ParseAddr(ha)
	ib, errB := netip.ParseAddr(hb)
	dual := func(h string, ip netip.Addr, err error) bool {
		return h == "" || err == nil && ip.Is6() && !ip.Is4In6() && ip.IsUnspecified()
	}
	switch {
	case dual(ha, ia, errA) || dual(hb, ib, errB):
		return true
	case errA != nil || errB != nil:
		return strings.EqualFold(ha, hb)
	}
	ia, ib = ia.Unmap(), ib.Unmap()
	if ia.Is4() && ib.Is4() && (ia.IsUnspecified() || ib.IsUnspecified()) {
		return true
	}
	return ia == ib
}

// validateSmarthost checks the smarthost's login and TLS keys: a
// password goes with a user, and a login only over TLS (RFC 4954 4).
func (c *Config) validateSmarthost() error {
	r := &c.Relay
	switch r.SmarthostTLS {
	case "starttls", "implicit", "none":
	default:
		return fmt.Errorf("relay.smarthost_tls: %q: must be \"starttls\", \"implicit\" or \"none\"", r.SmarthostTLS)
	}
	if r.SmarthostCA != "" && r.Smarthost == "" {
		return errors.New("relay.smarthost_ca: set without relay.smarthost")
	}
	if r.SmarthostCA != "" && r.SmarthostTLS == "none" {
		return errors.New("relay.smarthost_ca: set, but relay.smarthost_tls is \"none\": no certificate is checked")
	}
	if r.SmarthostUser == "" {
		if r.SmarthostPassword != "" || r.SmarthostPasswordFile != "" {
			return errors.New("relay.smarthost_password: set without relay.smarthost_user")
		}
		return nil
	}
	switch {
	case r.Smarthost == "":
		return errors.New("relay.smarthost_user: set without relay.smarthost")
	case r.SmarthostTLS == "none":
		return errors.New("relay.smarthost_user: the password is sent only over TLS: relay.smarthost_tls must not be \"none\"")
	case r.SmarthostPassword != "" && r.SmarthostPasswordFile != "":
		return errors.New("relay.smarthost_password: set both it and smarthost_password_file; choose one")
	case r.SmarthostPassword == "" && r.SmarthostPasswordFile == "":
		return errors.New("relay.smarthost_user: needs relay.smarthost_password or smarthost_password_file")
	}
	return nil
}

// maxHistoryDays bounds history_days well inside a time.Duration (about
// 292 years): a larger value wrapped to a negative keep, and the pruner
// then deleted the whole history.
const maxHistoryDays = 36500

// historyKeep is how long the delivery history keeps an event.
func (c *Config) historyKeep() time.Duration {
	return time.Duration(c.HistoryDays) * 24 * time.Hour
}

// validateACME checks [tls]'s ACME keys against the rest.
func (c *Config) validateACME() error {
	t := &c.TLS
	if !t.ACME {
		if t.ACMEEmail != "" || t.ACMECARoots != "" || t.ACMERenewBefore.Duration != 0 {
			return errors.New("tls: acme_email, acme_ca_roots or acme_renew_before set, but tls.acme is false")
		}
		return nil
	}
	if t.Cert != "" {
		return errors.New("tls.acme: set together with tls.cert and tls.key; choose one")
	}
	if c.HTTP.Listen == "" && c.HTTPS.Listen == "" {
		return errors.New("tls.acme: the CA's challenges need http.listen (HTTP-01) or https.listen (TLS-ALPN-01)")
	}
	u, err := url.Parse(t.ACMEDirectory)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("tls.acme_directory: %q: must be an https:// URL", t.ACMEDirectory)
	}
	if t.ACMERenewBefore.Duration < 0 {
		return fmt.Errorf("tls.acme_renew_before: must not be negative, got %s", t.ACMERenewBefore)
	}
	return nil
}

// Per-minute rates when [limits] leaves them zero.
const (
	defaultConnectionsPerMinute = 60
	defaultMessagesPerMinute    = 120
)

// connRate returns a fresh per-client rate of new connections, one per
// listener.
func (c *Config) connRate() *netlimit.Rate {
	return netlimit.NewRate(netlimit.RateOptions{PerMinute: cmp.Or(c.Limits.ConnectionsPerMinute, defaultConnectionsPerMinute),
		Exempt: c.rateExempt()})
}

// messageRate returns the per-client rate of messages, one for the MX
// and submission together.
func (c *Config) messageRate() *netlimit.Rate {
	return netlimit.NewRate(netlimit.RateOptions{PerMinute: cmp.Or(c.Limits.MessagesPerMinute, defaultMessagesPerMinute),
		Exempt: c.rateExempt()})
}

// rateExempt parses RateExempt, which validate has checked.
func (c *Config) rateExempt() []netip.Prefix {
	var out []netip.Prefix
	for _, p := range c.Limits.RateExempt {
		pfx, err := netip.ParsePrefix(p)
		if err != nil {
			continue
		}
		// Client addresses are compared unmapped: an IPv4-mapped prefix
		// (::ffff:192.0.2.0/120) means its IPv4 network.
		if a := pfx.Addr(); a.Is4In6() && pfx.Bits() >= 96 {
			pfx = netip.PrefixFrom(a.Unmap(), pfx.Bits()-96)
		}
		out = append(out, pfx.Masked())
	}
	return out
}

// defaultQuota is [limits] default_quota in octets, 0 when unset.
func (c *Config) defaultQuota() (int64, error) {
	if c.Limits.DefaultQuota == "" {
		return 0, nil
	}
	n, err := parseQuotaSize(c.Limits.DefaultQuota)
	if err != nil {
		return 0, fmt.Errorf("limits.default_quota: %w", err)
	}
	return n, nil
}

// validateStore checks [store].
func (c *Config) validateStore() error {
	s := &c.Store
	switch s.Driver {
	case "sqlite":
		if s.DSN != "" || s.DSNFile != "" {
			return errors.New(`store: dsn and dsn_file are for driver "postgres"; the SQLite store lives in data_dir`)
		}
	case "postgres":
		if (s.DSN == "") == (s.DSNFile == "") {
			return errors.New(`store: driver "postgres" needs exactly one of dsn and dsn_file`)
		}
	default:
		return fmt.Errorf(`store: driver %q: must be "sqlite" or "postgres"`, s.Driver)
	}
	return nil
}
