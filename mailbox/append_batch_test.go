package mailbox

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

// A batch is stored in order with ascending UIDs, each message with its
// own flags and date, and announced once per message with its keywords,
// as Append announces one.
func TestAppendMessages(t *testing.T) {
	t.Parallel()
	e := newQueueEnv(t)
	ctx := context.Background()
	rec := &recorder{}
	e.svc.AddListener(rec)
	date := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	msgs := []NewMessage{
		{Raw: quotaMsg("b1@remote.test", 200), Flags: []string{FlagSeen, "$Label1"}, Date: date},
		{Raw: quotaMsg("b2@remote.test", 300)},
		{Raw: quotaMsg("b3@remote.test", 400), Flags: []string{"$Label2", "$label2", FlagFlagged}},
	}
	f, uids, err := e.svc.AppendMessages(ctx, e.alice.ID, "inbox", msgs)
	if err != nil {
		t.Fatal(err)
	}
	if f.Name != "INBOX" || !slices.Equal(uids, []uint32{1, 2, 3}) || f.UIDNext != 4 {
		t.Fatalf("folder %+v, uids %v", f, uids)
	}
	var want int64
	for _, m := range msgs {
		want += int64(len(m.Raw))
	}
	if got := e.usage(t, "alice@example.org"); got != want {
		t.Fatalf("usage %d, want %d", got, want)
	}
	var got [][]string
	err = e.svc.ReadMailbox(ctx, f.ID, nil, func(r *Reader) error {
		rows, err := r.Messages(1, 3, 10, 1, WantRow)
		for _, m := range rows {
			got = append(got, m.Flags)
		}
		if err == nil && (len(rows) != 3 || !rows[0].InternalDate.Equal(date) || rows[1].InternalDate.Equal(date) ||
			rows[2].Size != int64(len(msgs[2].Raw))) {
			t.Errorf("rows %+v", rows)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	wantFlags := [][]string{{FlagSeen, "$Label1"}, {}, {FlagFlagged, "$Label2"}}
	for i := range wantFlags {
		if !slices.Equal(got[i], wantFlags[i]) {
			t.Errorf("message %d flags %q, want %q", i+1, got[i], wantFlags[i])
		}
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.changes) != 3 {
		t.Fatalf("%d changes, want 3: %+v", len(rec.changes), rec.changes)
	}
	for i, c := range rec.changes {
		if c.Kind != ChangeAdded || c.UID != uids[i] || c.MailboxID != f.ID {
			t.Errorf("change %d: %+v", i, c)
		}
	}
	if !slices.Equal(rec.changes[0].Flags, []string{"$Label1"}) || len(rec.changes[1].Flags) != 0 ||
		!slices.Equal(rec.changes[2].Flags, []string{"$Label2"}) {
		t.Errorf("keywords announced: %q %q %q", rec.changes[0].Flags, rec.changes[1].Flags, rec.changes[2].Flags)
	}
}

// A batch is all or nothing: over the quota by its last message, with
// one message larger than the whole quota, with a bad flag on its last
// message, or into a folder that does not exist, nothing is stored,
// announced or counted, and no UID is used up.
func TestAppendMessagesAtomic(t *testing.T) {
	t.Parallel()
	e := newQueueEnv(t)
	ctx := context.Background()
	rec := &recorder{}
	e.svc.AddListener(rec)
	small := func(id string) NewMessage { return NewMessage{Raw: quotaMsg(id, 400)} }
	size := int64(len(small("x@remote.test").Raw))
	e.setQuota(t, "alice@example.org", 3*size)
	if _, _, err := e.svc.AppendMessages(ctx, e.alice.ID, "INBOX", []NewMessage{small("a0@remote.test")}); err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	rec.changes = nil
	rec.mu.Unlock()

	_, _, err := e.svc.AppendMessages(ctx, e.alice.ID, "INBOX", []NewMessage{small("a1@remote.test"), small("a2@remote.test"), small("a3@remote.test")})
	wantQuotaError(t, "three messages where two fit", err, false)
	var qe *QuotaError
	if errors.As(err, &qe) && qe.Size != 3*size {
		t.Errorf("quota error size %d, want the batch's %d", qe.Size, 3*size)
	}
	// A batch larger than the whole quota can never fit.
	_, _, err = e.svc.AppendMessages(ctx, e.alice.ID, "INBOX", []NewMessage{small("f1@remote.test"), small("f2@remote.test"), small("f3@remote.test"), small("f4@remote.test")})
	wantQuotaError(t, "a batch larger than the quota", err, true)
	_, _, err = e.svc.AppendMessages(ctx, e.alice.ID, "INBOX", []NewMessage{small("b1@remote.test"), {Raw: quotaMsg("big@remote.test", int(3*size))}})
	wantQuotaError(t, "a message larger than the quota", err, true)
	_, _, err = e.svc.AppendMessages(ctx, e.alice.ID, "INBOX", []NewMessage{small("c1@remote.test"), {Raw: small("c2").Raw, Flags: []string{`\Bogus`}}})
	if !errors.Is(err, ErrBadFlag) {
		t.Fatalf("bad flag on the second message: %v", err)
	}
	_, _, err = e.svc.AppendMessages(ctx, e.alice.ID, "Nowhere", []NewMessage{small("d1@remote.test")})
	if !errors.Is(err, ErrNoSuchFolder) {
		t.Fatalf("no such folder: %v", err)
	}
	if _, _, err := e.svc.AppendMessages(ctx, e.alice.ID, "INBOX", nil); err == nil {
		t.Fatal("an empty batch was accepted")
	}
	if n := e.inboxCount(t, "alice@example.org"); n != 1 {
		t.Fatalf("%d messages after refused batches, want 1", n)
	}
	if got := e.usage(t, "alice@example.org"); got != size {
		t.Fatalf("usage %d after refused batches", got)
	}
	rec.mu.Lock()
	n := len(rec.changes)
	rec.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d changes announced for refused batches", n)
	}
	// What fits is stored, with the UIDs the refused batches did not take.
	_, uids, err := e.svc.AppendMessages(ctx, e.alice.ID, "INBOX", []NewMessage{small("e1@remote.test"), small("e2@remote.test")})
	if err != nil || !slices.Equal(uids, []uint32{2, 3}) {
		t.Fatalf("a batch that fits: %v, %v", uids, err)
	}
}
