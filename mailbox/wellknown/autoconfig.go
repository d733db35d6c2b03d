package wellknown

import (
	"bytes"
	"cmp"
	"encoding/xml"
	"net/http"
)

// Thunderbird's autoconfig document, clientConfig version 1.1 as the
// Mozilla ISPDB defines it
// (https://wiki.mozilla.org/Thunderbird:Autoconfiguration:ConfigFileFormat).
type clientConfig struct {
	XMLName  xml.Name      `xml:"clientConfig"`
	Version  string        `xml:"version,attr"`
	Provider emailProvider `xml:"emailProvider"`
}

type emailProvider struct {
	ID               string     `xml:"id,attr"`
	Domains          []string   `xml:"domain"`
	DisplayName      string     `xml:"displayName"`
	DisplayShortName string     `xml:"displayShortName"`
	Incoming         []tbServer `xml:"incomingServer"`
	Outgoing         []tbServer `xml:"outgoingServer"`
}

type tbServer struct {
	Type           string `xml:"type,attr"`
	Hostname       string `xml:"hostname"`
	Port           int    `xml:"port"`
	SocketType     string `xml:"socketType"`
	Username       string `xml:"username"`
	Authentication string `xml:"authentication"`
}

// autoconfig serves the Thunderbird document. The domain it describes
// comes from the query's emailaddress (Thunderbird always sends it), else
// from the Host; on the server's own name without an address it names no
// domain. The address is never written back: the document names it as
// %EMAILADDRESS%, which the app fills in.
func (h *handler) autoconfig(w http.ResponseWriter, r *http.Request, domain string) {
	if addr := r.URL.Query().Get("emailaddress"); addr != "" {
		a, local, err := h.localAddress(addr)
		if err != nil {
			http.Error(w, "400 bad emailaddress", http.StatusBadRequest)
			return
		}
		if !local {
			http.NotFound(w, r)
			return
		}
		domain = a.Domain
	}
	// Thunderbird refuses an emailProvider without a <domain>: on the
	// server's own name, with no address to go by, that name stands in.
	id := cmp.Or(domain, h.host)
	domains := []string{id}
	doc := clientConfig{Version: "1.1", Provider: emailProvider{
		ID: id, Domains: domains, DisplayName: id + " mail", DisplayShortName: id,
	}}
	for _, e := range h.ports.incoming() {
		doc.Provider.Incoming = append(doc.Provider.Incoming, h.tbServer("imap", e))
	}
	for _, e := range h.ports.outgoing() {
		doc.Provider.Outgoing = append(doc.Provider.Outgoing, h.tbServer("smtp", e))
	}
	body, err := marshalXML(doc)
	if err != nil {
		h.log.Error("wellknown: autoconfig", "err", err)
		http.Error(w, "500 internal error", http.StatusInternalServerError)
		return
	}
	h.log.Debug("wellknown: autoconfig served", "domain", domain, "client", r.RemoteAddr)
	cache := cachePublic
	if r.URL.RawQuery != "" {
		cache = cachePrivate
	}
	write(w, "application/xml; charset=utf-8", cache, body)
}

func (h *handler) tbServer(typ string, e endpoint) tbServer {
	s := tbServer{Type: typ, Hostname: h.host, Port: e.port, SocketType: "STARTTLS",
		Username: "%EMAILADDRESS%", Authentication: "password-cleartext"}
	if e.implicitTLS {
		s.SocketType = "SSL"
	}
	return s
}

// marshalXML writes v as an indented XML document with its declaration.
func marshalXML(v any) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	enc := xml.NewEncoder(&b)
	enc.Indent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}
