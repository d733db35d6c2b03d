package main

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

const configDir = "../../testdata/config"

// writeConfig writes text to a config file in a fresh temporary directory.
func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pillarbox.toml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func durations(ds ...time.Duration) []Duration {
	var out []Duration
	for _, d := range ds {
		out = append(out, Duration{d})
	}
	return out
}

func TestDefaultConfig(t *testing.T) {
	t.Parallel()
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatalf("DefaultConfig().Validate() = %v", err)
	}
	// The documented defaults, spelled out rather than computed.
	want := &Config{Hostname: "localhost", DataDir: "./pillarbox-data", Domains: []string{"localhost"}, LogFormat: "text", HistoryDays: 30}
	want.SMTP.Listen = "127.0.0.1:2525"
	want.SMTP.MaxMessageBytes = 26214400
	want.SMTP.MaxRecipients = 100
	want.Submission.Listen = "127.0.0.1:2587"
	want.Submission.SaveSent = true
	want.IMAP.Listen = "127.0.0.1:2143"
	want.Admin.Listen = "127.0.0.1:2780"
	want.Limits.RateExempt = []string{"127.0.0.0/8", "::1/128"}
	want.TLS.ACMEDirectory = "https://acme-v02.api.letsencrypt.org/directory"
	want.Relay.Retry = durations(5*time.Minute, 10*time.Minute, 20*time.Minute, 40*time.Minute, 80*time.Minute, 160*time.Minute)
	want.Store.Driver = "sqlite"
	want.Relay.SmarthostTLS = "starttls"
	want.Relay.MaxAge = Duration{120 * time.Hour}
	want.Relay.DelayWarning = Duration{4 * time.Hour}
	want.Relay.MaxConnections, want.Relay.PerDomain = 32, 4
	want.Inbound.Verify, want.Inbound.DMARCReject, want.Inbound.RefuseLocalSpoof = true, true, true
	if !reflect.DeepEqual(c, want) {
		t.Errorf("DefaultConfig() = %+v\nwant %+v", c, want)
	}
	loaded, err := LoadConfig("")
	if err != nil {
		t.Fatalf(`LoadConfig("") = %v`, err)
	}
	if !reflect.DeepEqual(loaded, want) {
		t.Errorf(`LoadConfig("") = %+v\nwant %+v`, loaded, want)
	}
}

// fullConfig is what testdata/config/full.toml holds, after normalisation.
func fullConfig() *Config {
	c := &Config{
		Hostname:    "mail.example.org",
		DataDir:     "/var/lib/pillarbox",
		Domains:     []string{"example.org", "example.net", "xn--bcher-kva.example"},
		LogFormat:   "json",
		HistoryDays: 7,
	}
	c.SMTP.Listen = ":25"
	c.SMTP.MaxMessageBytes = 10485760
	c.SMTP.MaxRecipients = 50
	c.Submission.Listen = "0.0.0.0:587"
	c.Submission.ListenTLS = "0.0.0.0:465"
	c.Submission.SaveSent = false
	c.IMAP.Listen = "[::]:143"
	c.IMAP.ListenTLS = "[::]:993"
	c.TLS.Cert = "/etc/pillarbox/cert.pem"
	c.TLS.Key = "/etc/pillarbox/key.pem"
	c.Limits.MaxConnections = 500
	c.Limits.MaxConnectionsPerIP = 20
	c.Limits.MaxConnectionsTotal = 1500
	c.Limits.ConnectionsPerMinute, c.Limits.MessagesPerMinute = 30, 40
	c.Limits.RateExempt = []string{"192.0.2.0/24"}
	c.Limits.SMTPCommandTimeout, c.Limits.SMTPDataTimeout = Duration{5 * time.Minute}, Duration{20 * time.Minute}
	c.HTTP.Listen, c.HTTPS.Listen, c.Admin.Listen = ":80", ":443", "127.0.0.1:9100"
	c.TLS.ACMEDirectory = "https://acme-v02.api.letsencrypt.org/directory"
	c.Store.Driver, c.Store.DSNFile = "postgres", "/etc/pillarbox/postgres-dsn"
	c.Relay.Smarthost = "smtp.provider.example:587"
	c.Relay.SmarthostTLS = "implicit"
	c.Relay.SmarthostUser = "pillarbox@provider.example"
	c.Relay.SmarthostPasswordFile = "/etc/pillarbox/smarthost-password"
	c.Relay.SmarthostCA = "/etc/pillarbox/provider-ca.pem"
	c.Relay.Retry = durations(time.Minute, 150*time.Second, time.Hour)
	c.Relay.MaxAge = Duration{72 * time.Hour}
	c.Relay.DelayWarning = Duration{0}
	c.Relay.MaxConnections, c.Relay.PerDomain = 64, 8
	c.Inbound.Verify, c.Inbound.DMARCReject, c.Inbound.RefuseLocalSpoof = true, false, true
	c.DNS.Resolver = "127.0.0.53:53"
	c.DNS.DNSSEC = true
	c.DNS.SPFAll = "-all"
	return c
}

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	minimal := DefaultConfig()
	minimal.Hostname = "mail.example.org"
	minimal.Domains = []string{"example.org"}

	disabled := DefaultConfig()
	disabled.SMTP.Listen, disabled.Submission.Listen, disabled.IMAP.Listen = "", "", ""

	idn := DefaultConfig()
	idn.Hostname = "xn--ml-via.example"
	idn.Domains = []string{"xn--bcher-kva.example", "xn--strae-oqa.de", "example.org"}

	shortRetry := DefaultConfig()
	shortRetry.Relay.Retry = durations(time.Minute)

	noSent := DefaultConfig()
	noSent.Submission.SaveSent = false
	jsonLogs := DefaultConfig()
	jsonLogs.LogFormat = "json"
	acme := DefaultConfig()
	acme.TLS.ACME, acme.TLS.ACMEEmail = true, "postmaster@example.org"
	acme.TLS.ACMEDirectory, acme.TLS.ACMECARoots = "https://ca.example/dir", "/etc/pillarbox/ca.pem"
	acme.TLS.ACMERenewBefore = Duration{240 * time.Hour}
	acme.HTTP.Listen = ":80"
	relayConns := DefaultConfig()
	relayConns.Relay.MaxConnections, relayConns.Relay.PerDomain = 8, 8

	tests := []struct {
		name string
		path string // a testdata file, or
		text string // a file written for the test
		want *Config
	}{
		{name: "full", path: "full.toml", want: fullConfig()},
		{name: "minimal", path: "minimal.toml", want: minimal},
		{name: "empty file", text: "", want: DefaultConfig()},
		{name: "listeners disabled", text: "[smtp]\nlisten = \"\"\n[submission]\nlisten = \"\"\n[imap]\nlisten = \"\"\n", want: disabled},
		{name: "idn", text: `hostname = "MÄL.example"` + "\n" + `domains = ["Bücher.EXAMPLE", "straße.de", "xn--bcher-kva.example", "EXAMPLE.org"]`, want: idn},
		{name: "relay connections", text: "[relay]\nmax_connections = 8\nper_domain = 8\n", want: relayConns},
		{name: "retry replaces default list", text: "[relay]\nretry = [\"1m\"]\n", want: shortRetry},
		{name: "save_sent off", text: "[submission]\nsave_sent = false\n", want: noSent},
		{name: "save_sent on", text: "[submission]\nsave_sent = true\n", want: DefaultConfig()},
		{name: "json logs", text: "log_format = \"json\"\n", want: jsonLogs},
		{name: "acme", text: "[tls]\nacme = true\nacme_email = \"postmaster@example.org\"\nacme_directory = \"https://ca.example/dir\"\nacme_ca_roots = \"/etc/pillarbox/ca.pem\"\nacme_renew_before = \"240h\"\n[http]\nlisten = \":80\"\n", want: acme},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(configDir, tt.path)
			if tt.path == "" {
				path = writeConfig(t, tt.text)
			}
			got, err := LoadConfig(path)
			if err != nil {
				t.Fatalf("LoadConfig: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("LoadConfig = %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestLoadConfigErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		path string   // a testdata file, or
		text string   // a file written for the test
		want []string // substrings of the error
	}{
		{name: "unknown top-level key", path: "bad-unknown-key.toml", want: []string{"bad-unknown-key.toml", `unknown key "hostnme"`}},
		{name: "unknown smtp key", path: "bad-unknown-smtp-key.toml", want: []string{`unknown key "smtp.max_size"`}},
		{name: "log_format", text: "log_format = \"JSON\"\n", want: []string{`log_format: "JSON": must be "text" or "json"`}},
		{name: "empty log_format", text: "log_format = \"\"\n", want: []string{`log_format: "": must be "text" or "json"`}},
		{name: "unknown table", text: "[smtpd]\nlisten = \":25\"\n", want: []string{`unknown key "smtpd"`}},
		{name: "several unknown keys", text: "[x]\na = 1\n[smtp]\nq = 1\n", want: []string{`unknown keys "x", "smtp.q"`}},
		{name: "bad retry", path: "bad-retry.toml", want: []string{"bad-retry.toml:2: ", `relay.retry[2]: invalid duration "5x"`}},
		{name: "bad max_age", path: "bad-max-age.toml", want: []string{`relay.max_age: invalid duration "five days"`}},
		{name: "history_days zero", text: "history_days = 0\n", want: []string{"history_days: 0, want 1 or more"}},
		{name: "store driver", text: "[store]\ndriver = \"mysql\"\n", want: []string{`store: driver "mysql": must be "sqlite" or "postgres"`}},
		{name: "postgres without dsn", text: "[store]\ndriver = \"postgres\"\n", want: []string{`driver "postgres" needs exactly one of dsn and dsn_file`}},
		{name: "postgres with both", text: "[store]\ndriver = \"postgres\"\ndsn = \"x\"\ndsn_file = \"y\"\n", want: []string{`exactly one of dsn and dsn_file`}},
		{name: "sqlite with dsn", text: "[store]\ndsn = \"postgres://db/mail\"\n", want: []string{`dsn and dsn_file are for driver "postgres"`}},
		{name: "bad default_quota", text: "[limits]\ndefault_quota = \"lots\"\n", want: []string{`limits.default_quota: invalid size "lots"`}},
		{name: "duration without unit", text: "[relay]\ndelay_warning = 5\n", want: []string{`relay.delay_warning: invalid duration "5"`}},
		{name: "zero retry", text: "[relay]\nretry = [\"1m\", \"0s\"]\n", want: []string{"relay.retry[1]: must be positive"}},
		{name: "empty retry", text: "[relay]\nretry = []\n", want: []string{"relay.retry: must list"}},
		{name: "zero max_age", text: "[relay]\nmax_age = \"0s\"\n", want: []string{"relay.max_age: must be positive"}},
		{name: "zero relay max_connections", text: "[relay]\nmax_connections = 0\n", want: []string{"relay.max_connections: must be positive, got 0"}},
		{name: "negative per_domain", text: "[relay]\nper_domain = -1\n", want: []string{"relay.per_domain: must be positive, got -1"}},
		{name: "per_domain above max_connections", text: "[relay]\nmax_connections = 4\nper_domain = 5\n", want: []string{"relay.per_domain: 5 is more than relay.max_connections (4)"}},
		{name: "per_domain above default max_connections", text: "[relay]\nper_domain = 33\n", want: []string{"relay.per_domain: 33 is more than relay.max_connections (32)"}},
		{name: "max_connections not a number", text: "[relay]\nmax_connections = \"many\"\n", want: []string{"max_connections"}},
		{name: "negative delay_warning", text: "[relay]\ndelay_warning = \"-1h\"\n", want: []string{"relay.delay_warning: must not be negative"}},
		{name: "listen without port", path: "bad-listen.toml", want: []string{"smtp.listen: ", "missing port"}},
		{name: "listen port not numeric", text: "[imap]\nlisten_tls = \"127.0.0.1:imaps\"\n", want: []string{"imap.listen_tls: ", "port must be a number"}},
		{name: "listen port too large", text: "[submission]\nlisten = \":65536\"\n", want: []string{"submission.listen: "}},
		{name: "listen bad host", text: "[submission]\nlisten_tls = \"bad_host:465\"\n", want: []string{"submission.listen_tls: "}},
		{name: "smarthost without host", text: "[relay]\nsmarthost = \":25\"\n", want: []string{"relay.smarthost: "}},
		{name: "smarthost port 0", text: "[relay]\nsmarthost = \"relay.example:0\"\n", want: []string{"relay.smarthost: "}},
		{name: "smarthost_tls", text: "[relay]\nsmarthost_tls = \"tls\"\n", want: []string{"relay.smarthost_tls: ", "must be"}},
		{name: "smarthost user without smarthost", text: "[relay]\nsmarthost_user = \"u\"\nsmarthost_password = \"p\"\n",
			want: []string{"relay.smarthost_user: set without relay.smarthost"}},
		{name: "smarthost login without TLS", text: "[relay]\nsmarthost = \"relay.example:587\"\nsmarthost_tls = \"none\"\nsmarthost_user = \"u\"\nsmarthost_password = \"p\"\n",
			want: []string{"relay.smarthost_user: ", "only over TLS"}},
		{name: "smarthost user without password", text: "[relay]\nsmarthost = \"relay.example:587\"\nsmarthost_user = \"u\"\n",
			want: []string{"needs relay.smarthost_password or smarthost_password_file"}},
		{name: "smarthost two passwords", text: "[relay]\nsmarthost = \"relay.example:587\"\nsmarthost_user = \"u\"\nsmarthost_password = \"p\"\nsmarthost_password_file = \"/f\"\n",
			want: []string{"relay.smarthost_password: ", "choose one"}},
		{name: "smarthost password without user", text: "[relay]\nsmarthost_password = \"p\"\n", want: []string{"without relay.smarthost_user"}},
		{name: "smarthost_ca without smarthost", text: "[relay]\nsmarthost_ca = \"/ca.pem\"\n", want: []string{"relay.smarthost_ca: set without relay.smarthost"}},
		{name: "smarthost_ca without TLS", text: "[relay]\nsmarthost = \"127.0.0.1:25\"\nsmarthost_tls = \"none\"\nsmarthost_ca = \"/ca.pem\"\n",
			want: []string{"relay.smarthost_ca: set, but relay.smarthost_tls is \"none\""}},
		{name: "dnssec without resolver", text: "[dns]\ndnssec = true\n", want: []string{"dns.dnssec: needs dns.resolver"}},
		{name: "resolver by name", text: "[dns]\nresolver = \"dns.example:53\"\n", want: []string{"dns.resolver: ", "must be an IP address"}},
		{name: "spf_all", text: "[dns]\nspf_all = \"?all\"\n", want: []string{"dns.spf_all: "}},
		{name: "resolver without port", text: "[dns]\nresolver = \"127.0.0.1\"\n", want: []string{"dns.resolver: "}},
		{name: "empty domains", path: "bad-domains-empty.toml", want: []string{"domains: must list at least one domain"}},
		{name: "domain trailing dot", text: `domains = ["example.org."]`, want: []string{"domains[0]: ", "trailing dot"}},
		{name: "domain empty label", text: `domains = ["ok.example", "a..example"]`, want: []string{"domains[1]: "}},
		{name: "domain is ip", text: `domains = ["192.0.2.1"]`, want: []string{"domains[0]: "}},
		{name: "domain with space", text: `domains = ["exa mple.org"]`, want: []string{"domains[0]: "}},
		{name: "bad hostname", text: `hostname = "-mail.example.org"`, want: []string{"hostname: "}},
		{name: "empty hostname", text: `hostname = ""`, want: []string{"hostname: "}},
		{name: "empty data_dir", text: `data_dir = ""`, want: []string{"data_dir: "}},
		{name: "tls cert without key", path: "bad-tls-cert-only.toml", want: []string{"tls: cert and key must be set together"}},
		{name: "tls key without cert", text: "[tls]\nkey = \"k.pem\"\n", want: []string{"tls: cert and key must be set together"}},
		{name: "acme with cert", text: "[tls]\nacme = true\ncert = \"c.pem\"\nkey = \"k.pem\"\n[https]\nlisten = \":443\"\n", want: []string{"tls.acme: set together with tls.cert"}},
		{name: "acme without challenge listener", text: "[tls]\nacme = true\n", want: []string{"tls.acme: ", "http.listen", "https.listen"}},
		{name: "acme plain http directory", text: "[tls]\nacme = true\nacme_directory = \"http://ca.example/dir\"\n[http]\nlisten = \":80\"\n", want: []string{"tls.acme_directory: ", "https://"}},
		{name: "acme email without acme", text: "[tls]\nacme_email = \"a@example.org\"\n", want: []string{"tls.acme is false"}},
		{name: "negative max_connections_total", text: "[limits]\nmax_connections_total = -1\n", want: []string{"limits.max_connections_total: must not be negative"}},
		{name: "negative connections_per_minute", text: "[limits]\nconnections_per_minute = -1\n", want: []string{"limits.connections_per_minute: must not be negative"}},
		{name: "negative messages_per_minute", text: "[limits]\nmessages_per_minute = -1\n", want: []string{"limits.messages_per_minute: must not be negative"}},
		{name: "bad rate_exempt", text: "[limits]\nrate_exempt = [\"127.0.0.1\"]\n", want: []string{"limits.rate_exempt[0]: ", "CIDR"}},
		{name: "negative smtp_data_timeout", text: "[limits]\nsmtp_data_timeout = \"-1s\"\n", want: []string{"smtp_data_timeout: must not be negative"}},
		{name: "admin listen bad", text: "[admin]\nlisten = \"9100\"\n", want: []string{"admin.listen: "}},
		{name: "zero max_recipients", path: "bad-max-recipients.toml", want: []string{"smtp.max_recipients: must be positive"}},
		{name: "negative max_message_bytes", text: "[smtp]\nmax_message_bytes = -1\n", want: []string{"smtp.max_message_bytes: must be positive"}},
		{name: "negative max_connections", text: "[limits]\nmax_connections = -1\n", want: []string{"limits.max_connections: must not be negative"}},
		{name: "negative max_connections_per_ip", text: "[limits]\nmax_connections_per_ip = -5\n", want: []string{"limits.max_connections_per_ip: must not be negative"}},
		{name: "per-ip cap above the total", text: "[limits]\nmax_connections = 10\nmax_connections_per_ip = 11\n",
			want: []string{"limits.max_connections_per_ip: 11 is more than limits.max_connections (10)"}},
		{name: "unknown limits key", text: "[limits]\nmax_conns = 10\n", want: []string{`unknown key "limits.max_conns"`}},
		{name: "wrong type", text: "[smtp]\nmax_recipients = \"many\"\n", want: []string{"smtp.max_recipients"}},
		{name: "save_sent not a bool", text: "[submission]\nsave_sent = \"no\"\n", want: []string{"submission.save_sent"}},
		{name: "syntax error", text: "hostname = \n", want: []string{"pillarbox.toml:1: "}},
		{name: "missing file", path: "does-not-exist.toml", want: []string{"does-not-exist.toml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(configDir, tt.path)
			if tt.path == "" {
				path = writeConfig(t, tt.text)
			}
			_, err := LoadConfig(path)
			if err == nil {
				t.Fatal("LoadConfig succeeded, want an error")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "config: ") || strings.Contains(msg, "\n") {
				t.Errorf("error %q is not one line starting with \"config: \"", msg)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
		})
	}
}

// TestConfigEncodeRoundTrip checks that every field decodes from the key
// it encodes to, so no toml tag is misspelt.
func TestConfigEncodeRoundTrip(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(fullConfig()); err != nil {
		t.Fatal(err)
	}
	got, err := LoadConfig(writeConfig(t, buf.String()))
	if err != nil {
		t.Fatalf("LoadConfig: %v\n%s", err, buf.String())
	}
	if !reflect.DeepEqual(got, fullConfig()) {
		t.Errorf("round trip = %+v\nwant %+v", got, fullConfig())
	}
}

func TestValidateDoesNotModifyOnError(t *testing.T) {
	t.Parallel()
	c := DefaultConfig()
	c.Hostname = "MAIL.example.org"
	c.Domains = []string{"Example.org"}
	c.SMTP.MaxRecipients = 0
	if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), "config: smtp.max_recipients: ") {
		t.Fatalf("Validate = %v, want a smtp.max_recipients error", err)
	}
	if c.Hostname != "MAIL.example.org" || c.Domains[0] != "Example.org" {
		t.Errorf("Validate changed a config it rejected: %q %q", c.Hostname, c.Domains)
	}
}

func TestNormalizeDomain(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string // want "" means an error
	}{
		{"localhost", "localhost"},
		{"Example.ORG", "example.org"},
		{"bücher.example", "xn--bcher-kva.example"},
		{"BÜCHER.example", "xn--bcher-kva.example"},
		{"xn--bcher-kva.example", "xn--bcher-kva.example"},
		{"a-b.example", "a-b.example"},
		{"", ""},
		{"example.org.", ""},
		{".example.org", ""},
		{"a..example", ""},
		{"-a.example", ""},
		{"a_b.example", ""},
		{"127.0.0.1", ""},
		{"::1", ""},
		{strings.Repeat("a", 64) + ".example", ""},
		{strings.Repeat("a.", 127) + "example", ""},
	}
	for _, tt := range tests {
		got, err := normalizeDomain(tt.in)
		if tt.want == "" {
			if err == nil {
				t.Errorf("normalizeDomain(%q) = %q, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("normalizeDomain(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// TestRateExemptPrefixes: the exemptions are compared with unmapped
// client addresses, so an IPv4-mapped prefix means its IPv4 network.
func TestRateExemptPrefixes(t *testing.T) {
	t.Parallel()
	c := DefaultConfig()
	c.Limits.RateExempt = []string{"::ffff:192.0.2.0/120", "10.1.2.3/8", "::1/128"}
	got := c.rateExempt()
	want := []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	if !slices.Equal(got, want) {
		t.Fatalf("rateExempt() = %v, want %v", got, want)
	}
}

// TestHistoryDaysBounded checks that a history_days too large for a
// time.Duration is refused: it wrapped to a negative keep, and the
// history pruner then deleted every event at start and every 10 minutes.
func TestHistoryDaysBounded(t *testing.T) {
	t.Parallel()
	for _, days := range []int{36500, 30} {
		cfg, err := LoadConfig(writeConfig(t, "history_days = "+strconv.Itoa(days)+"\n"))
		if err != nil {
			t.Fatalf("history_days = %d: %v", days, err)
		}
		if keep := cfg.historyKeep(); keep != time.Duration(days)*24*time.Hour || keep <= 0 {
			t.Errorf("history_days = %d: historyKeep() = %v", days, keep)
		}
	}
	for _, days := range []int{36501, 200000, 1000000} {
		_, err := LoadConfig(writeConfig(t, "history_days = "+strconv.Itoa(days)+"\n"))
		if err == nil || !strings.Contains(err.Error(), "history_days: ") {
			t.Errorf("history_days = %d: err = %v, want a history_days error", days, err)
		}
	}
}

// TestListenersConflict checks that two listeners on one address are
// refused by the config, with both keys named, rather than by serve's
// bind failing with "address already in use", which sends the operator
// looking for another process.
func TestListenersConflict(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		text string
		want []string // substrings of the error; nil: no error
	}{
		{"[smtp]\nlisten = \"127.0.0.1:2525\"\n[submission]\nlisten = \"127.0.0.1:2525\"\n", []string{"submission.listen: ", "smtp.listen"}},
		{"[smtp]\nlisten = \":2525\"\n[imap]\nlisten_tls = \"127.0.0.1:2525\"\n", []string{"imap.listen_tls: ", "smtp.listen"}},
		{"[http]\nlisten = \"0.0.0.0:8080\"\n[https]\nlisten = \"192.0.2.1:8080\"\n", []string{"https.listen: ", "http.listen"}},
		{"[admin]\nlisten = \"[::]:2525\"\n", []string{"admin.listen: ", "smtp.listen"}},
		{"[admin]\nlisten = \"[::1]:2780\"\n[http]\nlisten = \"127.0.0.1:2780\"\n", nil},
		{"[smtp]\nlisten = \"127.0.0.1:0\"\n[imap]\nlisten = \"127.0.0.1:0\"\n", nil},
		{"[smtp]\nlisten = \"127.0.0.1:2525\"\n[imap]\nlisten = \"127.0.0.2:2525\"\n", nil},
	} {
		_, err := LoadConfig(writeConfig(t, tc.text))
		if tc.want == nil {
			if err != nil {
				t.Errorf("%q: %v", tc.text, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%q: loaded, want an error", tc.text)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q: error %q does not contain %q", tc.text, err, w)
			}
		}
	}
}
