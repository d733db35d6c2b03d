package mailbox

import (
	"context"
	"errors"
	"sync"
	"time"

	"pillarbox/store"
)

// ErrAccountGone means the account a session logged in as was deleted,
// or its password changed, after the login: the session must end.
var ErrAccountGone = errors.New("mailbox: the account was deleted or its password changed")

// Session ends with its account: deleting an account or changing its
// password ends every session logged in as it, also when the change is
// made by the CLI in another process (WatchAccounts notices it).
//
// A protocol session calls TrackSession after a successful login and the
// returned stop function when it ends. end is called at most once, from
// its own goroutine, and must close the connection (IMAP: BYE, SMTP:
// 421) within a few seconds.
func (s *Service) TrackSession(acct Account, end func(reason string)) (stop func()) {
	t := &tracked{acct: acct, end: end}
	s.sessMu.Lock()
	set := s.sessions[acct.ID]
	if set == nil {
		set = make(map[*tracked]struct{})
		s.sessions[acct.ID] = set
	}
	set[t] = struct{}{}
	s.sessMu.Unlock()
	return func() {
		s.sessMu.Lock()
		delete(s.sessions[acct.ID], t)
		if len(s.sessions[acct.ID]) == 0 {
			delete(s.sessions, acct.ID)
		}
		s.sessMu.Unlock()
	}
}

type tracked struct {
	acct Account
	end  func(reason string)
}

// CheckSessions ends the sessions whose account no longer exists or has
// a new password.
func (s *Service) CheckSessions(ctx context.Context) error {
	s.sessMu.Lock()
	ids := make([]int64, 0, len(s.sessions))
	for id := range s.sessions {
		ids = append(ids, id)
	}
	s.sessMu.Unlock()
	if len(ids) == 0 {
		return nil
	}
	creds, err := s.db.Credentials(ctx, ids)
	if err != nil {
		return err
	}
	var ended []*tracked
	s.sessMu.Lock()
	for _, id := range ids {
		cred, exists := creds[id]
		for t := range s.sessions[id] {
			if !exists || t.acct.Credential != cred {
				ended = append(ended, t)
				delete(s.sessions[id], t)
			}
		}
		if len(s.sessions[id]) == 0 {
			delete(s.sessions, id)
		}
	}
	s.sessMu.Unlock()
	// The sessions end concurrently, and CheckSessions returns once they
	// have, so that `user del` in this process returns with them gone.
	var wg sync.WaitGroup
	for _, t := range ended {
		s.log.Info("ending session: account deleted or password changed", "user", t.acct.Address, "account", t.acct.ID)
		wg.Go(func() { t.end("Account deleted or password changed") })
	}
	wg.Wait()
	return nil
}

// WatchAccounts runs until ctx ends, reading every interval the counter
// that account deletions and password changes bump, and ending the
// affected sessions when it moves. It is how changes made by the CLI in
// another process reach a running server; changes made through this
// Service end sessions at once. interval zero means 1 s.
func (s *Service) WatchAccounts(ctx context.Context, interval time.Duration) error {
	if interval <= 0 {
		interval = time.Second
	}
	last, err := s.db.AccountsGeneration(ctx)
	if err != nil {
		return err
	}
	// A change made before the counter was first read would never move
	// it again: check the sessions that were already tracked once.
	if err := s.CheckSessions(ctx); err != nil {
		s.log.Error("mailbox: check sessions", "err", err)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		g, err := s.db.AccountsGeneration(ctx)
		if err != nil {
			s.log.Error("mailbox: accounts generation", "err", err)
			continue
		}
		if g == last {
			continue
		}
		if err := s.CheckSessions(ctx); err != nil {
			s.log.Error("mailbox: check sessions", "err", err)
			continue
		}
		last = g
	}
}

// checkCredential is the in-transaction guard of writes made for a
// session: it fails with ErrAccountGone unless acct still exists with the
// credential it logged in with.
func checkCredential(tx store.Tx, acct Account) error {
	err := tx.CheckCredential(acct.ID, acct.Credential)
	if errors.Is(err, store.ErrNotFound) {
		return ErrAccountGone
	}
	return err
}
