package mailbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"pillarbox/store"
)

// testClock is a clock that tests move by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// sentEnv is a queueEnv with a clock the test sets.
func sentEnv(t *testing.T, opts Options) (*queueEnv, *testClock) {
	t.Helper()
	clock := &testClock{t: queueNow}
	opts.Now = clock.Now
	return newQueueEnvWith(t, opts), clock
}

// sentMsg is a message with the given Message-ID.
func sentMsg(id string) []byte {
	return []byte("From: alice@example.org\r\nTo: x@remote.test\r\nSubject: hi\r\nMessage-ID: <" + id + ">\r\n\r\nbody\r\n")
}

// messagesIn lists the messages of an account's folder.
func (e *queueEnv) messagesIn(t *testing.T, account int64, folder string) []store.Message {
	t.Helper()
	f, err := e.svc.Folder(context.Background(), account, folder)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := e.db.Messages(context.Background(), f.ID, 1, 0xffffffff, 0)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

func (e *queueEnv) submit(t *testing.T, sub *Submission) Submitted {
	t.Helper()
	if sub.Account.ID == 0 {
		sub.Account, sub.From = e.alice, e.aliceAddr
	}
	if sub.Remote == nil && sub.Local == nil {
		sub.Remote = []Address{e.x}
	}
	res, err := e.svc.Submit(context.Background(), sub)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestSubmitFilesSentCopy(t *testing.T) {
	t.Parallel()
	e, _ := sentEnv(t, Options{})
	ctx := context.Background()
	data := sentMsg("s1@example.org")
	res := e.submit(t, &Submission{Data: data})
	if res.SentFolder != "Sent" || res.SentUID != 1 {
		t.Fatalf("submitted %+v, want a copy at Sent UID 1", res)
	}
	sent := e.messagesIn(t, e.alice.ID, "Sent")
	if len(sent) != 1 {
		t.Fatalf("%d messages in Sent, want 1", len(sent))
	}
	m := sent[0]
	if m.UID != 1 || m.Flags != store.FlagSeen || m.BlobID != res.ID || m.Size != int64(len(data)) || !m.InternalDate.Equal(queueNow) {
		t.Errorf("Sent copy %+v, want UID 1, \\Seen only, blob %d, size %d, date %v", m, res.ID, len(data), queueNow)
	}
	// One stored message for the queue item and the Sent copy.
	if n, _ := e.db.CountBlobs(ctx); n != 1 {
		t.Errorf("%d blobs, want 1 shared by the queue and Sent", n)
	}
	if n := e.inboxCount(t, "alice@example.org"); n != 0 {
		t.Errorf("%d messages in the sender's INBOX", n)
	}
	if c, _ := e.svc.FolderCounts(ctx, sent[0].MailboxID); c.Messages != 1 || c.Unseen != 0 || c.Size != int64(len(data)) {
		t.Errorf("Sent counts %+v", c)
	}
	// Other accounts get nothing in their Sent.
	if n := len(e.messagesIn(t, e.bob.ID, "Sent")); n != 0 {
		t.Errorf("%d messages in bob's Sent", n)
	}
}

// With Bcc, the Sent copy is the sender's own version (SentData) and the
// recipients' stays without it.
func TestSubmitSentCopyKeepsBcc(t *testing.T) {
	t.Parallel()
	e, _ := sentEnv(t, Options{})
	ctx := context.Background()
	data := sentMsg("s1@example.org")
	withBcc := append([]byte("Bcc: secret@remote.test\r\n"), data...)
	res := e.submit(t, &Submission{Data: data, SentData: withBcc})
	sent := e.messagesIn(t, e.alice.ID, "Sent")
	if len(sent) != 1 || sent[0].BlobID == res.ID || sent[0].Size != int64(len(withBcc)) {
		t.Fatalf("Sent %+v, want one copy in its own blob, not %d", sent, res.ID)
	}
	got, err := e.db.BlobData(ctx, sent[0].BlobID)
	if err != nil || !bytes.Equal(got, withBcc) {
		t.Errorf("Sent copy %q, %v; want %q", got, err, withBcc)
	}
	q, _ := e.svc.QueueList(ctx)
	relayed, err := e.svc.QueueMessage(ctx, q[0])
	if err != nil || bytes.Contains(relayed, []byte("Bcc")) {
		t.Errorf("queued message %q, %v: Bcc must not be relayed", relayed, err)
	}
	// The client's upload of its copy (with Bcc) is matched all the same.
	if _, _, err := e.svc.Append(ctx, e.alice.ID, "Sent", withBcc, []string{FlagSeen}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if sent := e.messagesIn(t, e.alice.ID, "Sent"); len(sent) != 1 || sent[0].UID != 2 {
		t.Errorf("Sent after the client's upload: %+v, want its copy alone", sent)
	}
}

func TestSubmitNoSentCopy(t *testing.T) {
	t.Parallel()
	e, _ := sentEnv(t, Options{NoSentCopy: true})
	res := e.submit(t, &Submission{Data: sentMsg("s1@example.org"), SentData: []byte("Bcc: a@b.c\r\n\r\n")})
	if res.SentFolder != "" || res.SentUID != 0 {
		t.Errorf("submitted %+v, want no Sent copy", res)
	}
	if n := len(e.messagesIn(t, e.alice.ID, "Sent")); n != 0 {
		t.Errorf("%d messages in Sent with NoSentCopy", n)
	}
	if n, _ := e.db.CountBlobs(context.Background()); n != 1 {
		t.Errorf("%d blobs, want only the relayed message", n)
	}
}

// The copy goes to the folder with \Sent wherever the user renamed it;
// with none, there is no copy and no folder is made.
func TestSubmitSentFolderRenamedOrDeleted(t *testing.T) {
	t.Parallel()
	e, _ := sentEnv(t, Options{})
	ctx := context.Background()
	if err := e.svc.RenameFolder(ctx, e.alice.ID, "Sent", "Old/Sent Items"); err != nil {
		t.Fatal(err)
	}
	res := e.submit(t, &Submission{Data: sentMsg("s1@example.org")})
	if res.SentFolder != "Old/Sent Items" || len(e.messagesIn(t, e.alice.ID, "Old/Sent Items")) != 1 {
		t.Errorf("submitted %+v, want the copy in the renamed folder", res)
	}
	if err := e.svc.DeleteFolder(ctx, e.alice.ID, "Old/Sent Items"); err != nil {
		t.Fatal(err)
	}
	res = e.submit(t, &Submission{Data: sentMsg("s2@example.org")})
	if res.SentFolder != "" || res.SentUID != 0 || len(res.Queued) != 1 {
		t.Errorf("submitted %+v, want queued without a copy", res)
	}
	fs, _ := e.svc.Folders(ctx, e.alice.ID)
	for _, f := range fs {
		if f.SpecialUse == `\Sent` || f.Name == "Sent" {
			t.Errorf("folder %+v made again", f)
		}
	}
}

// A submission that fails leaves no Sent copy either: the copy is in the
// transaction of the queue items.
func TestSubmitSentCopyAllOrNothing(t *testing.T) {
	t.Parallel()
	e, _ := sentEnv(t, Options{})
	_, err := e.svc.Submit(context.Background(), &Submission{Account: e.alice, From: e.aliceAddr,
		Local: []Recipient{{Accounts: []int64{9999}}}, Remote: []Address{e.x}, Data: sentMsg("s1@example.org")})
	if err == nil {
		t.Fatal("submit to a missing account succeeded")
	}
	if n := len(e.messagesIn(t, e.alice.ID, "Sent")); n != 0 || e.changes.count() != 0 {
		t.Errorf("%d messages in Sent and %d changes after a failed submission", n, e.changes.count())
	}
	// A deleted sender's submission fails whole as well.
	gone := e.alice
	if err := e.svc.DeleteUser(context.Background(), "alice@example.org"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Submit(context.Background(), &Submission{Account: gone, From: e.aliceAddr, Remote: []Address{e.x},
		Data: sentMsg("s2@example.org")}); !errors.Is(err, ErrAccountGone) {
		t.Errorf("submit of a deleted account: %v", err)
	}
	if q, _ := e.svc.QueueList(context.Background()); len(q) != 0 {
		t.Errorf("queue %+v", q)
	}
}

// changesOf returns the changes announced for a mailbox.
func (l *changeLog) changesOf(mailbox int64) []Change {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Change
	for _, c := range l.cs {
		if c.MailboxID == mailbox {
			out = append(out, c)
		}
	}
	return out
}

// An upload of the same message to Sent within the window replaces the
// automatic copy; everything else keeps both.
func TestAppendReplacesSentCopy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		after   time.Duration
		folder  string
		msgID   string // of the upload
		bob     bool   // bob uploads, to his own Sent
		replace bool
	}{
		{name: "at once", folder: "Sent", msgID: "s1@example.org", replace: true},
		{name: "just inside the window", after: SentCopyWindow, folder: "Sent", msgID: "s1@example.org", replace: true},
		{name: "after the window", after: SentCopyWindow + time.Millisecond, folder: "Sent", msgID: "s1@example.org"},
		{name: "another Message-ID", folder: "Sent", msgID: "s2@example.org"},
		{name: "Message-ID in another case", folder: "Sent", msgID: "S1@example.org"},
		{name: "another folder", folder: "Drafts", msgID: "s1@example.org"},
		{name: "INBOX", folder: "INBOX", msgID: "s1@example.org"},
		{name: "another account", folder: "Sent", msgID: "s1@example.org", bob: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, clock := sentEnv(t, Options{})
			ctx := context.Background()
			res := e.submit(t, &Submission{Data: sentMsg("s1@example.org")})
			sentBox := e.messagesIn(t, e.alice.ID, "Sent")[0].MailboxID
			clock.Set(queueNow.Add(tt.after))
			acct := e.alice
			if tt.bob {
				acct = e.bob
			}
			f, uid, err := e.svc.Append(ctx, acct.ID, tt.folder, sentMsg(tt.msgID), []string{FlagSeen, "$Forwarded"}, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			sent := e.messagesIn(t, e.alice.ID, "Sent")
			var uids []uint32
			for _, m := range sent {
				uids = append(uids, m.UID)
			}
			expunges := 0
			for _, c := range e.changes.changesOf(sentBox) {
				if c.Kind == ChangeExpunged {
					expunges++
					if c.UID != res.SentUID || c.Seq != 1 || c.Origin != nil {
						t.Errorf("expunge announced %+v, want UID %d at 1 for every session", c, res.SentUID)
					}
				}
			}
			if tt.replace {
				if fmt.Sprint(uids) != fmt.Sprint([]uint32{uid}) || f.Name != "Sent" || expunges != 1 {
					t.Errorf("Sent UIDs %v and %d expunges, want only the upload's UID %d, expunge announced once", uids, expunges, uid)
				}
				if len(sent) == 1 && (sent[0].Flags != store.FlagSeen || fmt.Sprint(sent[0].Keywords) != "[$Forwarded]") {
					t.Errorf("kept %+v, want the upload's flags", sent[0])
				}
				return
			}
			want := []uint32{res.SentUID}
			if tt.folder == "Sent" && !tt.bob {
				want = append(want, uid) // the upload, beside it
			}
			if fmt.Sprint(uids) != fmt.Sprint(want) || expunges != 0 {
				t.Errorf("alice's Sent UIDs %v and %d expunges, want %v and none", uids, expunges, want)
			}
			if ms := e.messagesIn(t, acct.ID, tt.folder); len(ms) == 0 || ms[len(ms)-1].UID != uid {
				t.Errorf("upload not stored in %s: %+v", tt.folder, ms)
			}
		})
	}
}

// A copy that the user moved away, or deleted, is not one to replace.
func TestAppendSentCopyMovedAway(t *testing.T) {
	t.Parallel()
	e, _ := sentEnv(t, Options{})
	ctx := context.Background()
	res := e.submit(t, &Submission{Data: sentMsg("s1@example.org")})
	sent, _ := e.svc.Folder(ctx, e.alice.ID, "Sent")
	if _, err := e.svc.Copy(ctx, e.alice.ID, sent.ID, UIDSet{{Start: res.SentUID, Stop: res.SentUID}}, "Archive", true, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.svc.Append(ctx, e.alice.ID, "Sent", sentMsg("s1@example.org"), nil, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if a, s := len(e.messagesIn(t, e.alice.ID, "Archive")), len(e.messagesIn(t, e.alice.ID, "Sent")); a != 1 || s != 1 {
		t.Errorf("Archive %d, Sent %d messages; want the moved copy kept beside the upload", a, s)
	}
}

// A message submitted twice with one Message-ID (a client that retried
// after a lost 250) leaves two automatic copies; the upload replaces
// both. An upload to a second \Sent folder replaces them too, and a
// second upload replaces nothing more.
func TestAppendReplacesEverySentCopy(t *testing.T) {
	t.Parallel()
	e, clock := sentEnv(t, Options{})
	ctx := context.Background()
	e.submit(t, &Submission{Data: sentMsg("s1@example.org")})
	clock.Set(queueNow.Add(time.Minute))
	e.submit(t, &Submission{Data: sentMsg("s1@example.org")})
	if err := e.svc.CreateFolder(ctx, e.alice.ID, "Sent Elsewhere", `\Sent`); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, _, err := e.svc.Append(ctx, e.alice.ID, "Sent Elsewhere", sentMsg("s1@example.org"), nil, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	if s, o := len(e.messagesIn(t, e.alice.ID, "Sent")), len(e.messagesIn(t, e.alice.ID, "Sent Elsewhere")); s != 0 || o != 2 {
		t.Errorf("Sent %d, Sent Elsewhere %d messages; want 0 and the 2 uploads", s, o)
	}
}

// Records past the window are pruned by the next submission.
func TestSentCopyRecordsPruned(t *testing.T) {
	t.Parallel()
	e, clock := sentEnv(t, Options{})
	ctx := context.Background()
	e.submit(t, &Submission{Data: sentMsg("s1@example.org")})
	clock.Set(queueNow.Add(SentCopyWindow + time.Second))
	e.submit(t, &Submission{Data: sentMsg("s2@example.org")})
	var copies []store.SentCopy
	err := e.db.Write(ctx, func(tx store.Tx) error {
		var err error
		copies, err = tx.SentCopies(e.alice.ID, "s1@example.org", store.SentAuto, time.Time{})
		return err
	})
	if err != nil || len(copies) != 0 {
		t.Errorf("record of s1 after the window: %+v, %v", copies, err)
	}
	if n := len(e.messagesIn(t, e.alice.ID, "Sent")); n != 2 {
		t.Errorf("%d messages in Sent, want both copies kept", n)
	}
}

// The other order: an app that uploads before it sends, or a message
// submitted again after the upload, gets no second copy within the
// window; after it, or for another account, the copy is filed.
func TestSubmitAfterUploadFilesNoCopy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		after  time.Duration
		folder string
		bob    bool // bob uploads
		filed  bool
	}{
		{name: "within the window", after: SentCopyWindow, folder: "Sent"},
		{name: "after the window", after: SentCopyWindow + time.Millisecond, folder: "Sent", filed: true},
		{name: "uploaded to Drafts", folder: "Drafts", filed: true},
		{name: "uploaded by another account", folder: "Sent", bob: true, filed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, clock := sentEnv(t, Options{})
			acct := e.alice
			if tt.bob {
				acct = e.bob
			}
			if _, _, err := e.svc.Append(context.Background(), acct.ID, tt.folder, sentMsg("s1@example.org"), nil, time.Time{}); err != nil {
				t.Fatal(err)
			}
			clock.Set(queueNow.Add(tt.after))
			res := e.submit(t, &Submission{Data: sentMsg("s1@example.org")})
			if len(res.Queued) != 1 {
				t.Fatalf("submitted %+v, want queued", res)
			}
			n := len(e.messagesIn(t, e.alice.ID, "Sent"))
			if tt.filed {
				if res.SentUID == 0 || res.SentByClient || tt.folder == "Sent" && !tt.bob && n != 2 {
					t.Errorf("submitted %+v, %d in Sent; want the copy filed", res, n)
				}
				return
			}
			if res.SentUID != 0 || res.SentFolder != "" || !res.SentByClient || n != 1 {
				t.Errorf("submitted %+v, %d in Sent; want no copy beside the upload", res, n)
			}
		})
	}
}

// Two nodes, one submitting a message while the other takes the mail
// app's upload of it to Sent, at the same moment, over and over: each
// message ends up in Sent once, whichever commits first (the submission
// reads the uploads under the \Sent folder's lock, as the upload reads
// the automatic copies).
func TestSentCopyOnceAcrossNodes(t *testing.T) {
	t.Parallel()
	a, b, _, _ := twoNodes(t, Options{})
	ctx := context.Background()
	alice, err := a.Authenticate(ctx, "alice@example.org", "secret")
	if err != nil {
		t.Fatal(err)
	}
	from, _ := ParseAddress("alice@example.org")
	x, _ := ParseAddress("x@remote.test")
	const n = 40
	for i := range n {
		id := fmt.Sprintf("race%d@example.org", i)
		var wg sync.WaitGroup
		wg.Go(func() {
			if _, err := a.Submit(ctx, &Submission{Account: alice, From: from, Remote: []Address{x}, Data: sentMsg(id)}); err != nil {
				t.Error(err)
			}
		})
		wg.Go(func() {
			if _, _, err := b.Append(ctx, alice.ID, "Sent", sentMsg(id), []string{FlagSeen}, time.Time{}); err != nil {
				t.Error(err)
			}
		})
		wg.Wait()
	}
	f, err := a.Folder(ctx, alice.ID, "Sent")
	if err != nil {
		t.Fatal(err)
	}
	ms, err := a.db.Messages(ctx, f.ID, 1, 0xffffffff, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != n {
		t.Errorf("%d messages in Sent after %d submissions each uploaded too, want %d", len(ms), n, n)
	}
}
