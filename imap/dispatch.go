package imap

import (
	"errors"
	"strings"

	"github.com/emersion/go-imap/v2"

	"pillarbox/imap/wire"
)

// state is where a session is in RFC 9051 section 3.
type state int

const (
	stateNotAuth state = iota
	stateAuth
	stateSelected
)

func (s *session) state() state {
	switch {
	case s.account.ID == 0:
		return stateNotAuth
	case s.view == nil:
		return stateAuth
	}
	return stateSelected
}

// need is the state a command needs: any, not authenticated only,
// authenticated (or selected), or selected.
type need int

const (
	needAny need = iota
	needNotAuth
	needAuth
	needSelected
)

func needOf(cmd wire.Command) need {
	switch cmd.(type) {
	case *wire.Capability, *wire.Noop, *wire.Logout, *wire.ID:
		return needAny
	case *wire.StartTLS, *wire.Authenticate, *wire.Login:
		return needNotAuth
	case *wire.Check, *wire.Close, *wire.Unselect, *wire.Expunge, *wire.Search, *wire.Fetch,
		*wire.Store, *wire.Copy, *wire.Sort, *wire.Thread, *wire.CancelUpdate:
		return needSelected
	}
	return needAuth
}

// result is what a command's tagged OK carries.
type result struct {
	code, text string
}

// execute runs one command and writes its responses. It returns false
// when the connection is to be closed.
func (s *session) execute(cmd wire.Command) bool {
	tag := cmd.CommandTag()
	s.lock()
	s.inCommand = true
	locked := true
	unlock := func() {
		if locked {
			s.inCommand = false
			s.unlock()
			locked = false
		}
	}
	defer unlock()

	var res result
	s.shownModSeq, s.pollUpTo, s.searched = 0, boxVersion{}, boxVersion{}
	err := s.checkState(cmd)
	if err == nil {
		res, err = s.run(cmd)
	}
	if errors.Is(err, errLogout) {
		s.w.StatusResponse("", wire.BYE, "", "Logging out")
		s.w.StatusResponse(tag, wire.OK, "", "LOGOUT completed")
		s.flush()
		s.markEnded()
		return false
	}
	if errors.Is(err, errClose) {
		return false
	}
	if s.view != nil && !isBad(err) {
		// Tell the client what others changed, before the tagged
		// response (RFC 9051 section 7): EXPUNGE only where the
		// command allows it (section 7.5.1).
		if perr := s.pollView(allowsExpunge(cmd)); perr != nil {
			if errors.Is(perr, errClose) {
				return false
			}
			err = errors.Join(err, perr)
		}
	}
	if s.notifying && !isBad(err) {
		if nerr := s.writeNotified(); nerr != nil {
			err = errors.Join(err, nerr)
		}
	}
	if !notesReads(cmd) {
		s.owed.Note(s.srv.svc.Committed())
	}
	s.writeResult(cmd.CommandName(), tag, res, err)
	// Responses to commands the client pipelined go out together, once
	// the last of them is done (or before the session waits for more
	// input, see firstByte): one wait for the commits they depend on,
	// one write.
	if s.r.Buffered() > 0 && s.after == nil {
		s.unflushed = true
	} else if ferr := s.flush(); ferr != nil {
		return false
	}
	unlock()
	if s.after != nil {
		after := s.after
		s.after = nil
		if err := after(); err != nil {
			s.srv.log.Info("imap: "+cmd.CommandName()+" failed", "remote", s.ip, "err", err)
			return false
		}
	}
	return !s.isEnded()
}

// errLogout and errClose end the connection: after LOGOUT's responses,
// or at once (the connection is lost, or BYE was sent).
var (
	errLogout = errors.New("imap: logout")
	errClose  = errors.New("imap: close connection")
)

func isBad(err error) bool {
	var ie *imap.Error
	return errors.As(err, &ie) && ie.Type == imap.StatusResponseTypeBad
}

// allowsExpunge reports whether EXPUNGE responses may be sent at the end
// of cmd: not during FETCH, STORE and SEARCH by sequence number, whose
// numbers the client is matching to its own (RFC 9051 section 7.5.1), nor
// during SORT and THREAD by sequence number for the same reason.
func allowsExpunge(cmd wire.Command) bool {
	switch c := cmd.(type) {
	case *wire.Fetch:
		return c.UID
	case *wire.Store:
		return c.UID
	case *wire.Search:
		return c.UID
	case *wire.Sort:
		return c.UID
	case *wire.Thread:
		return c.UID
	}
	return true
}

func (s *session) checkState(cmd wire.Command) error {
	st := s.state()
	switch needOf(cmd) {
	case needNotAuth:
		if st != stateNotAuth {
			return bad("Already authenticated")
		}
	case needAuth:
		if st == stateNotAuth {
			return bad("Log in first")
		}
	case needSelected:
		if st == stateNotAuth {
			return bad("Log in first")
		}
		if st != stateSelected {
			return bad("No mailbox selected")
		}
	}
	return nil
}

// writeResult writes the tagged response for err (nil: OK with res).
func (s *session) writeResult(name, tag string, res result, err error) {
	if err == nil {
		text := res.text
		if text == "" {
			text = "Completed"
		}
		s.w.StatusResponse(tag, wire.OK, res.code, text)
		return
	}
	var ie *imap.Error
	if !errors.As(err, &ie) {
		ie = s.fail(strings.ToLower(name), err).(*imap.Error)
	}
	typ := wire.NO
	switch ie.Type {
	case imap.StatusResponseTypeBad:
		typ = wire.BAD
	case imap.StatusResponseTypeOK:
		typ = wire.OK
	}
	code := string(ie.Code)
	if code == string(imap.ResponseCodeClientBug) && typ == wire.BAD {
		// CLIENTBUG is for commands that were valid but pointless (RFC
		// 5530 3); a BAD says enough.
		code = ""
	}
	s.w.StatusResponse(tag, typ, code, ie.Text)
}

// run runs a command in a state that allows it.
func (s *session) run(cmd wire.Command) (result, error) {
	switch c := cmd.(type) {
	case *wire.Capability:
		s.writeCapability()
		return result{}, nil
	case *wire.Noop, *wire.Check:
		return result{}, nil
	case *wire.Logout:
		return result{}, errLogout
	case *wire.ID:
		return s.cmdID(c)
	case *wire.StartTLS:
		return s.cmdStartTLS()
	case *wire.Login:
		return s.cmdLogin(c)
	case *wire.Authenticate:
		return s.cmdAuthenticate(c)
	case *wire.Enable:
		return s.cmdEnable(c)
	case *wire.Namespace:
		s.writeNamespace()
		return result{}, nil
	case *wire.Select:
		return s.cmdSelect(c)
	case *wire.Create:
		return s.cmdCreate(c)
	case *wire.Delete:
		return result{}, s.cmdDelete(c.Mailbox)
	case *wire.Rename:
		return result{}, s.cmdRename(c)
	case *wire.Subscribe:
		return result{}, s.setSubscribed(c.Mailbox, true)
	case *wire.Unsubscribe:
		return result{}, s.setSubscribed(c.Mailbox, false)
	case *wire.List:
		return result{}, s.cmdList(c)
	case *wire.Lsub:
		return result{}, s.cmdLsub(c)
	case *wire.Status:
		return result{}, s.cmdStatus(c)
	case *wire.Append:
		return s.cmdAppend(c)
	case *wire.Idle:
		return s.cmdIdle()
	case *wire.Close:
		return s.cmdClose()
	case *wire.Unselect:
		s.closeView()
		return result{}, nil
	case *wire.Expunge:
		return result{}, s.cmdExpunge(c)
	case *wire.Search:
		return s.cmdSearch(c)
	case *wire.Fetch:
		return s.cmdFetch(c)
	case *wire.Store:
		return s.cmdStore(c)
	case *wire.Copy:
		return s.cmdCopy(c)
	case *wire.Sort:
		return s.cmdSort(c)
	case *wire.Thread:
		return s.cmdThread(c)
	case *wire.Unauthenticate:
		return s.cmdUnauthenticate()
	case *wire.GetQuotaRoot:
		return s.cmdGetQuotaRoot(c)
	case *wire.GetQuota:
		return s.cmdGetQuota(c)
	case *wire.SetQuota:
		// RFC 9208 4.1.3: without QUOTASET the limits are the operator's
		// (pillarbox user quota).
		return result{}, no(imap.ResponseCodeNoPerm, "Quotas are set by the administrator")
	case *wire.Compress:
		return s.cmdCompress(c)
	case *wire.Notify:
		return s.cmdNotify(c)
	case *wire.CancelUpdate:
		return s.cmdCancelUpdate(c)
	}
	return result{}, bad("Command not supported: " + strings.ToUpper(cmd.CommandName()))
}

// notesReads reports whether every read cmd makes goes through the
// mailbox.Service reads that note in the session's Owed what they depend
// on (see durable.go). For any other command the session owes every
// commit begun before its response.
func notesReads(cmd wire.Command) bool {
	switch cmd.(type) {
	case *wire.Capability, *wire.Noop, *wire.Check, *wire.Select, *wire.List, *wire.Lsub,
		*wire.Status, *wire.Append, *wire.Idle, *wire.Close, *wire.Unselect, *wire.Expunge,
		*wire.Search, *wire.Fetch, *wire.Store, *wire.Copy:
		return true
	}
	return false
}
