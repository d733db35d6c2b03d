package main

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"text/template"
	"time"

	"pillarbox/mailbox"
)

// quickstartConfigText is the production config quickstart writes. Its
// values go through tomlString, so that no path or address can break
// out of its string.
var quickstartConfigText = template.Must(template.New("config").Funcs(template.FuncMap{"q": tomlString}).Parse(
	`# Pillarbox configuration, written by "pillarbox quickstart" on {{.Date}}.
# A key not set here keeps its default (see the README). After a change:
# systemctl restart pillarbox.

# The name this host gives in SMTP greetings and Received headers, and
# the name on its certificate. Its A/AAAA and PTR records must agree.
hostname = {{q .Hostname}}
# The domains this host takes mail for. Add more with
# "pillarbox domain add NAME", or here and restart.
domains = [{{q .Domain}}]
# The database (every message and account), the certificates and the
# ACME account. Back it up: see the README.
data_dir = {{q .DataDir}}

# The MX: mail from other servers, always on port 25.
[smtp]
listen = ":25"

# Mail apps send here after logging in: STARTTLS on 587 (RFC 6409) and
# implicit TLS on 465 (RFC 8314).
[submission]
listen = ":587"
listen_tls = ":465"

# Mail apps read mail here: STARTTLS on 143 and implicit TLS on 993.
[imap]
listen = ":143"
listen_tls = ":993"

# ACME HTTP-01 challenges and mail apps' autoconfiguration.
[http]
listen = ":80"

# ACME TLS-ALPN-01 challenges, autoconfiguration, Autodiscover and the
# MTA-STS policy.
[https]
listen = ":443"

# Prometheus /metrics and /healthz. No authentication: keep it on
# loopback or a private network.
[admin]
listen = "127.0.0.1:2780"

[tls]
{{- if .ACME}}
# Certificates from Let's Encrypt for the hostname and for mta-sts.,
# autoconfig. and autodiscover. under every domain, renewed before they
# expire. The CA
# must reach this host on port 80 or 443 under those names.
acme = true
# The CA's contact address for this account.
acme_email = {{q .ACMEEmail}}
# For a first try, Let's Encrypt's staging CA (untrusted certificates,
# generous rate limits):
# acme_directory = "https://acme-staging-v02.api.letsencrypt.org/directory"
{{- else}}
# No ACME: until cert and key are set, a self-signed certificate kept in
# data_dir, which mail apps warn about and MTA-STS senders refuse. Get a
# certificate for the hostname (and mta-sts. and autoconfig. under each
# domain), for example with certbot and a DNS-01 plugin, since port 80 is
# Pillarbox's; make the files readable by the pillarbox user, set them
# here, and give certbot the deploy hook "systemctl reload pillarbox":
# SIGHUP loads the new pair without a restart.
acme = false
# cert = "/etc/letsencrypt/live/{{.Hostname}}/fullchain.pem"
# key = "/etc/letsencrypt/live/{{.Hostname}}/privkey.pem"
{{- end}}

# SPF, DKIM and DMARC checks of incoming mail, with one
# Authentication-Results header; refuse DMARC p=reject failures and mail
# that claims a local domain without SPF or DKIM passing for it.
[inbound]
verify = true
dmarc_reject = true
refuse_local_spoof = true
`))

// quickstartUnitText is the systemd unit quickstart prints. The server
// runs unprivileged and gets only the capability to bind ports below
// 1024 (capabilities(7)).
var quickstartUnitText = template.Must(template.New("unit").Parse(
	`[Unit]
Description=Pillarbox mail server for {{.Domain}}
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
User=pillarbox
Group=pillarbox
ExecStart={{.Exec}} serve --config {{.Config}}
# SIGHUP reloads the certificate files.
ExecReload=/bin/kill -HUP $MAINPID
# On SIGTERM serve gives messages in transfer {{.Grace}} to finish.
KillSignal=SIGTERM
TimeoutStopSec={{.Stop}}
Restart=on-failure
RestartSec=5s
# Ports 25, 80, 143, 443, 465, 587 and 993 without root.
AmbientCapabilities=CAP_NET_BIND_SERVICE
CapabilityBoundingSet=CAP_NET_BIND_SERVICE
NoNewPrivileges=yes
ProtectSystem=strict
ReadWritePaths={{.DataDir}}
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX
RestrictNamespaces=yes
RestrictSUIDSGID=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
SystemCallArchitectures=native
UMask=0077
# Connections are file descriptors; serve shares them among listeners.
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
`))

// renderConfig returns the config text for p.
func renderConfig(p *quickstartPlan) ([]byte, error) {
	var b bytes.Buffer
	err := quickstartConfigText.Execute(&b, struct {
		*quickstartPlan
		Date string
	}{p, time.Now().UTC().Format(time.DateOnly)})
	if err != nil {
		return nil, fmt.Errorf("config text: %w", err)
	}
	return b.Bytes(), nil
}

// renderUnit returns the systemd unit that runs exe on p's config.
func renderUnit(p *quickstartPlan, exe string) (string, error) {
	var b strings.Builder
	err := quickstartUnitText.Execute(&b, map[string]string{
		"Domain":  p.Domain,
		"Exec":    unitWord(exe, true),
		"Config":  unitWord(p.Config, true),
		"DataDir": unitWord(p.DataDir, false),
		"Grace":   shutdownGrace.String(),
		// Beyond serve's grace, so that systemd's SIGKILL comes only for
		// a server that is stuck.
		"Stop": fmt.Sprintf("%ds", int((shutdownGrace + 15*time.Second).Seconds())),
	})
	if err != nil {
		return "", fmt.Errorf("unit text: %w", err)
	}
	return b.String(), nil
}

// writeQuickstartReport writes what quickstart did and what the operator
// does next: short sections, and no secret but the postmaster's new
// password.
func writeQuickstartReport(b *strings.Builder, p *quickstartPlan, cfg *Config, added mailbox.DomainAdded, existed bool,
	recs []dnsRecord, unit, exe string) {
	fmt.Fprintf(b, "Pillarbox for %s on %s\n", p.Domain, p.Hostname)

	fmt.Fprintf(b, "\n=== Configuration\n")
	fmt.Fprintf(b, "wrote %s (mode 0640)\n", p.Config)
	fmt.Fprintf(b, "data in %s\n", p.DataDir)
	if p.ACME {
		fmt.Fprintf(b, "certificates: from Let's Encrypt, contact %s\n", p.ACMEEmail)
	} else {
		fmt.Fprintf(b, "certificates: self-signed until tls.cert and tls.key are set (see the config)\n")
	}

	fmt.Fprintf(b, "\n=== Domain\n")
	if existed {
		fmt.Fprintf(b, "%s was already in %s: its accounts, password and DKIM keys are unchanged\n", p.Domain, p.DataDir)
	} else {
		fmt.Fprintf(b, "added domain %s with its DKIM keys\n", p.Domain)
		printPostmaster(b, added)
	}

	cfgArg := ""
	if p.Config != quickstartConfig {
		cfgArg = " --config " + shellWord(p.Config)
	}
	fmt.Fprintf(b, "\n=== DNS records (pillarbox dns %s%s prints them again)\n", p.Domain, cfgArg)
	writeZone(b, cfg, p.Domain, recs)

	fmt.Fprintf(b, "\n=== systemd unit: save as /etc/systemd/system/pillarbox.service\n")
	b.WriteString(unit)

	fmt.Fprintf(b, "\n=== Next steps\n")
	step := 0
	next := func(format string, args ...any) {
		step++
		fmt.Fprintf(b, "%d. "+format+"\n", append([]any{step}, args...)...)
	}
	if hidden := hiddenFromUnit(exe); hidden != "" {
		next("The unit cannot run %s: %s hides it. Copy it to /usr/local/bin/pillarbox and change ExecStart.", exe, hidden)
	}
	for _, path := range []string{p.Config, p.DataDir} {
		if hidden := hiddenFromUnit(path); hidden != "" {
			next("The unit cannot reach %s: %s hides it. Move it, or run quickstart again with another path.", path, hidden)
		}
	}
	next("Create the user the server runs as:\n   useradd --system --user-group --home-dir %s --no-create-home --shell /usr/sbin/nologin pillarbox", shellWord(p.DataDir))
	next("Give it the data and let it read the config:\n   chown -R pillarbox:pillarbox %s\n   chown root:pillarbox %s",
		shellWord(p.DataDir), shellWord(p.Config))
	next("Save the unit above as /etc/systemd/system/pillarbox.service, then:\n   systemctl daemon-reload\n   systemctl enable --now pillarbox\n   journalctl -u pillarbox -f")
	next("Open TCP ports 25 (MX), 465 and 587 (submission), 143 and 993 (IMAP), 80 and 443 (ACME, autoconfiguration, MTA-STS) in the firewall.")
	next("Point %s at this host (A/AAAA), and mta-sts.%s, autoconfig.%s and autodiscover.%s too (or CNAME them to %s).",
		p.Hostname, p.Domain, p.Domain, p.Domain, p.Hostname)
	next("Ask your hosting provider for a PTR record naming %s on each public address of this host.", p.Hostname)
	next("Publish the DNS records above, then check them:\n   sudo -u pillarbox %s dns check %s%s", shellWord(exe), p.Domain, cfgArg)
}

// hiddenFromUnit names the unit setting that makes path unreachable to
// the service, or "".
func hiddenFromUnit(path string) string {
	for _, h := range []struct{ dir, setting string }{
		{"/home", "ProtectHome=yes"}, {"/root", "ProtectHome=yes"}, {"/run/user", "ProtectHome=yes"},
		{"/tmp", "PrivateTmp=yes"}, {"/var/tmp", "PrivateTmp=yes"},
	} {
		if rel, err := filepath.Rel(h.dir, path); err == nil && !strings.HasPrefix(rel, "..") {
			return h.setting
		}
	}
	return ""
}

// tomlString quotes s as a TOML basic string (TOML 1.0, "String").
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// unitWord writes s as one word of a unit file line: as it is when it
// holds nothing systemd would read specially, otherwise double-quoted
// with C escapes (systemd.syntax(7)). A "%" is doubled either way, since
// systemd expands specifiers inside quotes too; in a command line (cmd)
// so is a "$", which would expand a variable.
func unitWord(s string, cmd bool) string {
	s = strings.ReplaceAll(s, "%", "%%")
	if cmd {
		s = strings.ReplaceAll(s, "$", "$$")
	}
	if !strings.ContainsAny(s, " \t\n\"'\\;") {
		return s
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\t", `\t`)
	return `"` + r.Replace(s) + `"`
}

// shellWord quotes s for a POSIX shell when it needs it.
func shellWord(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+:@,=") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
