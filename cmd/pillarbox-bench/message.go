package main

import (
	"crypto/rand"
	"encoding/base32"
	"fmt"
	mathrand "math/rand/v2"
	"strings"
	"time"
)

// messageGen makes test messages of a given size: the headers of a real
// mail client's plain-text message and a body of wrapped lines of text.
// Bodies differ between messages (each starts at another line of a
// shared pool) so that a server's full-text index sees varied text, yet
// making one costs little more than copying it: the load generator shares
// the CPUs with the server it measures.
type messageGen struct {
	from   string
	size   int
	domain string // of Message-ID
	run    string // unique per run, so Message-IDs never repeat across runs
	lines  [][]byte
}

// bodyPoolLines is the number of distinct body lines; at ~70 bytes each
// they are about 280 KiB.
const bodyPoolLines = 4096

func newMessageGen(from string, size int) *messageGen {
	domain := "pillarbox-bench.invalid"
	if _, d, ok := strings.Cut(from, "@"); ok && d != "" {
		domain = d
	}
	var b [10]byte
	rand.Read(b[:])
	return &messageGen{
		from:   from,
		size:   size,
		domain: domain,
		run:    strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:])),
		lines:  bodyLines(bodyPoolLines),
	}
}

// words is the vocabulary of generated bodies.
var words = strings.Fields(`the of and to a in is it you that he was for on are with as
	his they be at one have this from or had by hot word but what some we can out other
	were all there when up use your how said an each she which do their time if will way
	about many then them write would like so these her long make thing see him two has
	look more day could go come did number sound no most people my over know water than
	call first who may down side been now find any new work part take get place made live
	where after back little only round man year came show every good me give our under
	name very through just form sentence great think say help low line differ turn cause
	much mean before move right boy old too same tell does set three want air well also
	play small end put home read hand port large spell add even land here must big high
	such follow act why ask men change went light kind off need house picture try us
	again animal point mother world near build self earth father head stand own page
	should country found answer school grow study still learn plant cover food sun four
	between state keep eye never last let thought city tree cross farm hard start might
	story saw far sea draw left late run while press close night real life few north
	meeting invoice report schedule project budget review quarter customer delivery`)

// bodyLines returns n lines of text wrapped at 72 columns, each ending in
// CRLF, the same on every run. About one line in four carries a unique
// token (a reference number), as real mail does.
func bodyLines(n int) [][]byte {
	r := mathrand.New(mathrand.NewPCG(1, 2))
	lines := make([][]byte, 0, n)
	var line []byte
	sentenceStart := true
	for len(lines) < n {
		w := words[r.IntN(len(words))]
		if r.IntN(40) == 0 {
			w = fmt.Sprintf("ref-%06x", r.IntN(1<<24))
		}
		if sentenceStart {
			w = strings.ToUpper(w[:1]) + w[1:]
			sentenceStart = false
		}
		if r.IntN(12) == 0 {
			w += "."
			sentenceStart = true
		} else if r.IntN(15) == 0 {
			w += ","
		}
		if len(line) > 0 && len(line)+1+len(w) > 72 {
			lines = append(lines, append(line, '\r', '\n'))
			line = nil
		}
		if len(line) > 0 {
			line = append(line, ' ')
		}
		line = append(line, w...)
	}
	return lines
}

// appendMessage appends message number i, for recipient to, to b. The
// message is g.size bytes (CRLF line ends, before SMTP dot-stuffing),
// or as close as its headers allow.
func (g *messageGen) appendMessage(b []byte, i int64, to string, now time.Time) []byte {
	start := len(b)
	b = fmt.Appendf(b, "From: Pillarbox Bench <%s>\r\n", g.from)
	b = fmt.Appendf(b, "To: <%s>\r\n", to)
	b = fmt.Appendf(b, "Subject: Benchmark message %d of run %s\r\n", i+1, g.run)
	b = append(b, "Date: "...)
	b = now.AppendFormat(b, time.RFC1123Z)
	b = fmt.Appendf(b, "\r\nMessage-ID: <%s.%d@%s>\r\n", g.run, i+1, g.domain)
	b = append(b, "MIME-Version: 1.0\r\n"+
		"Content-Type: text/plain; charset=utf-8\r\n"+
		"Content-Transfer-Encoding: 7bit\r\n"+
		"\r\n"...)

	// Spread the starting lines of consecutive messages across the pool.
	li := int(uint64(i) * 7919 % uint64(len(g.lines)))
	for {
		left := g.size - (len(b) - start)
		line := g.lines[li]
		if left >= len(line) {
			b = append(b, line...)
			li = (li + 1) % len(g.lines)
			continue
		}
		if left > 2 {
			// A shortened last line: its text, then CRLF.
			b = append(b, line[:left-2]...)
			b = append(b, '\r', '\n')
		}
		return b
	}
}
