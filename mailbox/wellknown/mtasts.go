package wellknown

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// DefaultMTASTSMaxAge is the policy's max_age when none is given: one
// week, long enough that a sender keeps the policy across an outage of
// the policy host.
const DefaultMTASTSMaxAge = 7 * 24 * time.Hour

// maxMTASTSMaxAge is RFC 8461 3.2's upper bound of max_age, 31557600
// seconds (about a year).
const maxMTASTSMaxAge = 31557600 * time.Second

// MTASTSPolicy is the MTA-STS policy text (RFC 8461 3.2) of a domain whose
// MX hosts are mx: mode enforce, each MX host, and max_age in seconds
// (zero: DefaultMTASTSMaxAge; at most RFC 8461's 31557600). Lines end in
// CRLF. `pillarbox dns` prints this text and derives the _mta-sts
// record's id from it, and the handler serves it, so that both agree.
func MTASTSPolicy(mx []string, maxAge time.Duration) string {
	var b strings.Builder
	b.WriteString("version: STSv1\r\nmode: enforce\r\n")
	for _, h := range mx {
		b.WriteString("mx: " + h + "\r\n")
	}
	b.WriteString("max_age: " + strconv.FormatInt(int64(clampMaxAge(maxAge)/time.Second), 10) + "\r\n")
	return b.String()
}

func clampMaxAge(d time.Duration) time.Duration {
	switch {
	case d <= 0:
		return DefaultMTASTSMaxAge
	case d > maxMTASTSMaxAge:
		return maxMTASTSMaxAge
	}
	return d
}

// mtasts serves the policy of the domain under mta-sts.<domain>. RFC 8461
// 3.3: the policy is fetched only over HTTPS, so plain HTTP gets 404
// rather than a policy an attacker on the path could have written; the
// MX host is this server, as `pillarbox dns` publishes the MX record.
func (h *handler) mtasts(w http.ResponseWriter, r *http.Request, domain string) {
	h.log.Debug("wellknown: MTA-STS policy served", "domain", domain, "client", r.RemoteAddr)
	write(w, "text/plain", cachePublic, []byte(MTASTSPolicy([]string{h.host}, h.maxAge)))
}
