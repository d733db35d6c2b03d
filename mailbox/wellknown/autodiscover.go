package wellknown

import (
	"encoding/xml"
	"errors"
	"io"
	"net/http"
)

// Autodiscover schemas ([MS-OXDSCLI] 2.2): Outlook asks for the "outlook"
// response schema; mobile (ActiveSync) clients ask for another, which this
// server does not speak.
const (
	adResponseNS = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
	adOutlookNS  = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
)

// adRequest is the POSTed request. The element names are matched in any
// namespace.
type adRequest struct {
	XMLName xml.Name `xml:"Autodiscover"`
	Request struct {
		EMailAddress             string `xml:"EMailAddress"`
		AcceptableResponseSchema string `xml:"AcceptableResponseSchema"`
	} `xml:"Request"`
}

type adDocument struct {
	XMLName  xml.Name `xml:"http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006 Autodiscover"`
	Response adResponse
}

type adResponse struct {
	XMLName xml.Name  `xml:"http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a Response"`
	Account adAccount `xml:"Account"`
}

type adAccount struct {
	AccountType string       `xml:"AccountType"`
	Action      string       `xml:"Action"`
	Protocols   []adProtocol `xml:"Protocol"`
}

type adProtocol struct {
	Type           string `xml:"Type"`
	Server         string `xml:"Server"`
	Port           int    `xml:"Port"`
	DomainRequired string `xml:"DomainRequired"`
	LoginName      string `xml:"LoginName"`
	SPA            string `xml:"SPA"`
	SSL            string `xml:"SSL"`
	// Encryption overrides SSL in Outlook 2010 and later: "SSL" for
	// implicit TLS, "TLS" for STARTTLS.
	Encryption   string `xml:"Encryption"`
	AuthRequired string `xml:"AuthRequired"`
}

// autodiscover answers Outlook's POST with the IMAP and SMTP settings of
// the address in the request, the preferred port of each (implicit TLS
// first). The body is bounded by maxBody (413 beyond it); a body that is
// not an Autodiscover request, or whose address does not parse, is 400.
// An address outside the local domains, or a request for a response
// schema other than Outlook's, is 404, as for every document this server
// does not have; whether the account exists is never told.
func (h *handler) autodiscover(w http.ResponseWriter, r *http.Request, _ string) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		http.Error(w, "413 request body too large", http.StatusRequestEntityTooLarge)
		return
	}
	if err != nil {
		http.Error(w, "400 unreadable request body", http.StatusBadRequest)
		return
	}
	var req adRequest
	if err := xml.Unmarshal(data, &req); err != nil {
		http.Error(w, "400 not an Autodiscover request", http.StatusBadRequest)
		return
	}
	if s := req.Request.AcceptableResponseSchema; s != "" && s != adOutlookNS {
		http.NotFound(w, r)
		return
	}
	a, local, err := h.localAddress(req.Request.EMailAddress)
	if err != nil {
		http.Error(w, "400 bad EMailAddress", http.StatusBadRequest)
		return
	}
	if !local {
		http.NotFound(w, r)
		return
	}
	acct := adAccount{AccountType: "email", Action: "settings"}
	if in := h.ports.incoming(); len(in) > 0 {
		acct.Protocols = append(acct.Protocols, h.adProtocol("IMAP", in[0], a.String()))
	}
	if out := h.ports.outgoing(); len(out) > 0 {
		acct.Protocols = append(acct.Protocols, h.adProtocol("SMTP", out[0], a.String()))
	}
	body, err := marshalXML(adDocument{Response: adResponse{Account: acct}})
	if err != nil {
		h.log.Error("wellknown: autodiscover", "err", err)
		http.Error(w, "500 internal error", http.StatusInternalServerError)
		return
	}
	h.log.Debug("wellknown: autodiscover served", "domain", a.Domain, "client", r.RemoteAddr)
	write(w, "application/xml; charset=utf-8", cachePrivate, body)
}

func (h *handler) adProtocol(typ string, e endpoint, login string) adProtocol {
	p := adProtocol{Type: typ, Server: h.host, Port: e.port, DomainRequired: "off", LoginName: login,
		SPA: "off", SSL: "on", Encryption: "TLS", AuthRequired: "on"}
	if e.implicitTLS {
		p.Encryption = "SSL"
	}
	return p
}
