// Package wellknown serves the HTTP documents a mail host publishes for
// mail apps and remote MTAs: Thunderbird autoconfig, Outlook Autodiscover,
// an Apple configuration profile and the MTA-STS policy (RFC 8461), and
// nothing else.
//
// The Host header (case-insensitive, any port ignored) must be the
// server's hostname, a local domain, or autoconfig., autodiscover. or
// mta-sts. under a local domain; any other host, any other path, and a
// document on a host it does not belong to get 404:
//
//	GET  /.well-known/autoconfig/mail/config-v1.1.xml  hostname, domain, autoconfig., autodiscover.
//	GET  /mail/config-v1.1.xml                         autoconfig.<domain>
//	POST /autodiscover/autodiscover.xml (any case)     hostname, domain, autoconfig., autodiscover.
//	GET  /apple/pillarbox.mobileconfig?email=ADDRESS   hostname, domain, autoconfig., autodiscover.
//	GET  /.well-known/mta-sts.txt                      mta-sts.<domain>, over HTTPS only
//
// A known path with another method gets 405. The documents never say
// whether an account exists: only the address's domain is checked.
package wellknown

import (
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"pillarbox/mailbox"
)

// Domains tells which domains are local. *mailbox.Service implements it.
// The domains change while the server runs (`pillarbox domain add`), so
// it is asked at each request. No document lists the local domains: a
// host serving several customers' domains would otherwise tell anyone
// who its customers are.
type Domains interface {
	// IsLocalDomain reports whether a normalised domain (lower-case,
	// A-labels) is local.
	IsLocalDomain(domain string) bool
}

// Ports are the ports mail apps are told to use; 0 means the service is
// not offered and is left out of every document.
type Ports struct {
	// IMAP is IMAP with STARTTLS (RFC 9051 6.2.1), usually 143.
	IMAP int
	// IMAPS is IMAP over implicit TLS (RFC 8314 3.2), usually 993.
	IMAPS int
	// Submission is message submission with STARTTLS (RFC 6409), usually
	// 587.
	Submission int
	// Submissions is submission over implicit TLS (RFC 8314 3.3),
	// usually 465.
	Submissions int
}

// Options configure New.
type Options struct {
	// Hostname is the host mail apps connect to and the MX host named by
	// the MTA-STS policy, as `pillarbox dns` publishes it. Required: New
	// panics when it is empty.
	Hostname string
	// Domains tells which domains are local. Nil: none is, and only
	// the autoconfig document of the server's own name is served.
	Domains Domains
	// Ports are the advertised ports. Zero: nothing is offered, and the
	// documents list no server.
	Ports Ports
	// MTASTSMaxAge is the max_age of the MTA-STS policy. Zero: one week
	// (DefaultMTASTSMaxAge); it is capped at RFC 8461's 31557600 seconds.
	MTASTSMaxAge time.Duration
	// Logger receives a debug line per document served and the errors.
	// Nil: nothing is logged.
	Logger *slog.Logger
}

// The paths served. Everything else is 404.
const (
	// AutoconfigPath is Thunderbird's well-known path, on any host this
	// handler knows (RFC 8615 well-known URI).
	AutoconfigPath = "/.well-known/autoconfig/mail/config-v1.1.xml"
	// AutoconfigHostPath is the path on host autoconfig.<domain>.
	AutoconfigHostPath = "/mail/config-v1.1.xml"
	// AutodiscoverPath is Outlook's POST path, matched without regard to
	// case (Outlook sends /Autodiscover/Autodiscover.xml).
	AutodiscoverPath = "/autodiscover/autodiscover.xml"
	// ApplePath serves an Apple configuration profile for the address in
	// the query parameter "email".
	ApplePath = "/apple/pillarbox.mobileconfig"
	// MTASTSPath is the MTA-STS policy (RFC 8461 3.3), served only over
	// HTTPS on host mta-sts.<domain>.
	MTASTSPath = "/.well-known/mta-sts.txt"
)

// maxBody bounds an Autodiscover request body; Outlook's is well under
// 1 KiB.
const maxBody = 64 << 10

type handler struct {
	host    string
	domains Domains
	ports   Ports
	maxAge  time.Duration
	log     *slog.Logger
}

// New returns the handler of the well-known documents. See the *Path
// constants for what it serves where.
func New(opts Options) http.Handler {
	host := strings.TrimSuffix(strings.ToLower(opts.Hostname), ".")
	if host == "" {
		panic("wellknown: Options.Hostname is empty")
	}
	h := &handler{host: host, domains: opts.Domains, ports: opts.Ports, maxAge: opts.MTASTSMaxAge, log: opts.Logger}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	return h
}

// hostKind is what the Host header names.
type hostKind int

const (
	hostUnknown      hostKind = iota
	hostServer                // Options.Hostname
	hostDomain                // a local domain itself
	hostAutoconfig            // autoconfig.<local domain>
	hostAutodiscover          // autodiscover.<local domain>
	hostMTASTS                // mta-sts.<local domain>
)

// classify says what host (a Host header) names, and the local domain
// it is about ("" for the server's own name).
func (h *handler) classify(host string) (hostKind, string) {
	if hn, _, err := net.SplitHostPort(host); err == nil {
		host = hn
	}
	host = strings.TrimSuffix(host, ".")
	d, err := mailbox.NormalizeDomain(host)
	if err != nil {
		return hostUnknown, ""
	}
	if d == h.host {
		return hostServer, ""
	}
	for _, p := range []struct {
		prefix string
		kind   hostKind
	}{{"autoconfig.", hostAutoconfig}, {"autodiscover.", hostAutodiscover}, {"mta-sts.", hostMTASTS}} {
		if rest, ok := strings.CutPrefix(d, p.prefix); ok && h.isLocal(rest) {
			return p.kind, rest
		}
	}
	if h.isLocal(d) {
		return hostDomain, d
	}
	return hostUnknown, ""
}

func (h *handler) isLocal(d string) bool {
	return h.domains != nil && h.domains.IsLocalDomain(d)
}

// route is one document: the hosts it is served on, its methods and the
// function that writes it.
type route struct {
	hosts   []hostKind
	methods []string
	serve   func(w http.ResponseWriter, r *http.Request, domain string)
}

func (h *handler) route(r *http.Request) *route {
	everywhere := []hostKind{hostServer, hostDomain, hostAutoconfig, hostAutodiscover}
	switch p := r.URL.Path; {
	case p == AutoconfigPath:
		return &route{everywhere, []string{http.MethodGet, http.MethodHead}, h.autoconfig}
	case p == AutoconfigHostPath:
		return &route{[]hostKind{hostAutoconfig}, []string{http.MethodGet, http.MethodHead}, h.autoconfig}
	case strings.EqualFold(p, AutodiscoverPath):
		return &route{everywhere, []string{http.MethodPost}, tlsOnly(h.autodiscover)}
	case p == ApplePath:
		return &route{everywhere, []string{http.MethodGet, http.MethodHead}, tlsOnly(h.apple)}
	case p == MTASTSPath:
		// RFC 8461 3.3: the policy is fetched over HTTPS only.
		return &route{[]hostKind{hostMTASTS}, []string{http.MethodGet, http.MethodHead}, tlsOnly(h.mtasts)}
	}
	return nil
}

// tlsOnly serves f over HTTPS only, and 404 over plain HTTP. Outlook
// and Apple devices fetch these documents over HTTPS, and a document
// fetched over plain HTTP could be rewritten on the way to send the
// user's password elsewhere. Thunderbird's autoconfig is the exception
// its own protocol makes (it tries HTTP too, and checks the result).
func tlsOnly(f func(http.ResponseWriter, *http.Request, string)) func(http.ResponseWriter, *http.Request, string) {
	return func(w http.ResponseWriter, r *http.Request, domain string) {
		if r.TLS == nil {
			http.NotFound(w, r)
			return
		}
		f(w, r, domain)
	}
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	kind, domain := h.classify(r.Host)
	rt := h.route(r)
	if rt == nil || kind == hostUnknown || !contains(rt.hosts, kind) {
		http.NotFound(w, r)
		return
	}
	if !contains(rt.methods, r.Method) {
		w.Header().Set("Allow", strings.Join(rt.methods, ", "))
		http.Error(w, "405 method not allowed", http.StatusMethodNotAllowed)
		return
	}
	rt.serve(w, r, domain)
}

func contains[T comparable](list []T, v T) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// localAddress parses an address and reports whether it is in a local
// domain. Only the domain is checked: whether the account exists is
// nobody's business before login.
func (h *handler) localAddress(s string) (mailbox.Address, bool, error) {
	a, err := mailbox.ParseAddress(s)
	if err != nil {
		return a, false, err
	}
	return a, h.isLocal(a.Domain), nil
}

// write sends a complete document.
func write(w http.ResponseWriter, contentType, cacheControl string, body []byte) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Cache-Control", cacheControl)
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

// Cache-Control values: a document naming an address is the user's own
// and not kept by shared caches; the others change only with the config.
const (
	cachePrivate = "private, no-store"
	cachePublic  = "public, max-age=3600"
)

// endpoint is one offered port of a service.
type endpoint struct {
	port        int
	implicitTLS bool // TLS from the first byte (RFC 8314), else STARTTLS
}

// incoming lists the IMAP ports, implicit TLS first: RFC 8314 4.1 has
// mail apps prefer it.
func (p Ports) incoming() []endpoint { return offered(p.IMAPS, p.IMAP) }

// outgoing lists the submission ports, implicit TLS first (RFC 8314 3.3).
func (p Ports) outgoing() []endpoint { return offered(p.Submissions, p.Submission) }

func offered(implicit, starttls int) []endpoint {
	var out []endpoint
	if implicit > 0 {
		out = append(out, endpoint{implicit, true})
	}
	if starttls > 0 {
		out = append(out, endpoint{starttls, false})
	}
	return out
}
