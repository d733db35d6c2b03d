package imap

import (
	"compress/flate"
	"errors"
	"net"

	"github.com/emersion/go-imap/v2"
	kflate "github.com/klauspost/compress/flate"

	"pillarbox/imap/wire"
	"pillarbox/mailbox"
)

// cmdUnauthenticate returns the session to the not-authenticated state
// (RFC 8437), as if the connection were new but for TLS and COMPRESS:
// the selected folder is closed, the extensions enabled are off again.
func (s *session) cmdUnauthenticate() (result, error) {
	s.closeView()
	if s.stopTracking != nil {
		s.stopTracking()
		s.stopTracking = nil
	}
	s.stopNotify()
	s.account = mailbox.Account{}
	s.enabled = enabled{}
	s.r.SetAuthenticated(false)
	return result{}, nil
}

// quotaRoot is the one quota root of an account (RFC 9208): all its
// folders share its storage quota.
const quotaRoot = ""

// cmdGetQuotaRoot answers GETQUOTAROOT (RFC 9208 4.3.2): the root of
// every folder is the account's.
func (s *session) cmdGetQuotaRoot(c *wire.GetQuotaRoot) (result, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	if _, err := s.srv.svc.Folder(ctx, s.account.ID, c.Mailbox); err != nil {
		return result{}, s.fail("getquotaroot", err)
	}
	s.w.Untagged()
	s.w.Token("QUOTAROOT ")
	s.writeMailbox(c.Mailbox)
	s.w.SP()
	s.w.String(quotaRoot)
	s.w.CRLF()
	return result{}, s.writeQuota()
}

// cmdGetQuota answers GETQUOTA (RFC 9208 4.2).
func (s *session) cmdGetQuota(c *wire.GetQuota) (result, error) {
	if c.Root != quotaRoot {
		return result{}, no(imap.ResponseCodeNonExistent, "No such quota root")
	}
	return result{}, s.writeQuota()
}

// writeQuota writes the account's QUOTA response: STORAGE in units of
// 1024 octets (RFC 9208 5.1), rounded up, or no resource without a limit.
func (s *session) writeQuota() error {
	ctx, cancel := s.ctx()
	defer cancel()
	q, err := s.srv.svc.AccountQuota(ctx, s.account.ID)
	if err != nil {
		return s.fail("quota", err)
	}
	w := s.w
	w.Untagged()
	w.Token("QUOTA ")
	w.String(quotaRoot)
	w.Token(" (")
	if q.Limit > 0 {
		w.Token("STORAGE ")
		w.Number64(uint64((q.Usage + 1023) / 1024))
		w.SP()
		w.Number64(uint64(q.Limit / 1024))
	}
	w.Token(")")
	w.CRLF()
	return nil
}

// cmdCompress starts DEFLATE compression (RFC 4978) once the tagged OK
// has gone out uncompressed.
func (s *session) cmdCompress(c *wire.Compress) (result, error) {
	if c.Mechanism != "DEFLATE" {
		return result{}, bad("Unsupported compression mechanism")
	}
	if s.compressed {
		return result{}, no("COMPRESSIONACTIVE", "Compression is already on")
	}
	s.after = func() error {
		if s.r.Buffered() > 0 {
			// Commands pipelined after COMPRESS were sent compressed
			// (RFC 4978 3): bytes buffered now were not.
			return errors.Join(errors.New("imap: data after COMPRESS before the switch"), errClose)
		}
		s.lock() // a BYE from another goroutine writes through s.nc
		defer s.unlock()
		// BestSpeed: the smallest compressor state (a deflate writer at the
		// default level holds about a megabyte) and the least CPU; mail is
		// text and compresses well at any level.
		fw, err := flate.NewWriter(s.nc, flate.BestSpeed)
		if err != nil {
			return errors.Join(err, errClose)
		}
		// WithPartialBlock: clients flush with Z_PARTIAL_FLUSH too
		// (mbsync does), which ends a block without the empty stored
		// block after which the standard library's reader hands out
		// what it decoded; it would wait for more that never comes.
		s.setConn(&deflateConn{Conn: s.nc, r: kflate.NewReaderOpts(s.nc, kflate.WithPartialBlock()), w: fw})
		s.compressed = true
		return nil
	}
	return result{text: "DEFLATE active"}, nil
}

// deflateConn compresses what is written and decompresses what is read
// (RFC 1951 raw DEFLATE, RFC 4978). Every Write is flushed whole: the
// session writes a burst of responses at a time through its buffer.
type deflateConn struct {
	net.Conn
	r interface {
		Read([]byte) (int, error)
		Close() error
	}
	w *flate.Writer
}

func (c *deflateConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func (c *deflateConn) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	if err == nil {
		err = c.w.Flush()
	}
	return n, err
}

func (c *deflateConn) Close() error {
	c.r.Close()
	return c.Conn.Close()
}
