package mailbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"pillarbox/store"
)

// Message is a stored message as IMAP shows it, without its body.
type Message struct {
	UID          uint32
	Seq          uint32 // position in the folder (from 1) in the snapshot read
	ModSeq       uint64
	BlobID       int64
	InternalDate time.Time
	SaveDate     time.Time // RFC 8514; with WantRow and more
	Size         int64
	Flags        []string // shared: do not modify
	// Envelope and Structure are what delivery computed, when asked for.
	Envelope  *Envelope
	Structure *Part
	// Body is the whole stored message when the reader read it
	// (Reader.ReadBodies), else nil.
	Body []byte
}

// Reader reads one folder in a snapshot: what it returns is the folder as
// it was when the snapshot was taken, whatever commits meanwhile.
type Reader struct {
	ctx    context.Context
	snap   store.Snapshot
	folder Folder
	// account owns the folder.
	account int64
	counts  FolderCounts
	// highestModSeq is the folder's HIGHESTMODSEQ in the snapshot.
	highestModSeq uint64
	// uids, when the caller gave them (UseUIDs), are the folder's UIDs
	// in order as of the snapshot: sequence numbers are mapped in memory.
	uids []uint32
	// loaded, if set (LoadUIDs), is told of the UIDs the reader reads
	// the first time it maps a sequence number.
	loaded func([]uint32)
	// meta and bodies are the Service's caches of decoded envelopes and
	// structures and of whole messages.
	meta   *blobCache[meta]
	bodies *blobCache[[]byte]
}

// ReadMailbox runs fn with a Reader of the folder with the given id. The
// snapshot is taken while the folder's lock is held (see LockMailbox), and
// locked, if not nil, runs then too with the folder and its totals: what
// the reader sees is exactly what the change feed had announced when
// locked ran. locked must be quick.
func (s *Service) ReadMailbox(ctx context.Context, id int64, locked func(Folder, FolderCounts), fn func(*Reader) error) error {
	snap, err := s.db.Snapshot(ctx)
	if err != nil {
		return err
	}
	defer snap.Close()
	unlock := s.LockMailbox(id)
	m, counts, err := snap.Mailbox(ctx, id)
	// The snapshot began under the lock, which every writer of the
	// folder holds until its commit is made: it holds no later commit of
	// the folder than the last one now.
	s.noteRead(ctx, id)
	if err == nil {
		// Announce first what other nodes committed (follow.go).
		err = s.syncLocked(ctx, snap, m, counts)
	}
	if err == nil && locked != nil {
		locked(folderOf(m), counts)
	}
	unlock()
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %d", ErrNoSuchFolder, id)
	}
	if err != nil {
		return err
	}
	return fn(&Reader{ctx: ctx, snap: snap, folder: folderOf(m), account: m.AccountID, counts: counts, highestModSeq: m.HighestModSeq, meta: s.meta, bodies: s.bodies})
}

// Folder returns the folder as of the snapshot.
func (r *Reader) Folder() Folder { return r.folder }

// Counts returns the folder's totals as of the snapshot.
func (r *Reader) Counts() FolderCounts { return r.counts }

// UseUIDs gives the reader the folder's UIDs in order as of its snapshot,
// which the caller keeps (IMAP does, for a selected folder): UIDAt,
// CountBelow, CountUIDs and MaxUID then answer without a query. It
// reports false, and keeps asking SQLite, if uids cannot be the
// snapshot's: their number is not the folder's. uids must not change
// while the reader is used.
func (r *Reader) UseUIDs(uids []uint32) bool {
	if uint32(len(uids)) != r.counts.Messages {
		return false
	}
	r.uids = uids
	return true
}

// LoadUIDs makes the reader read the folder's UIDs the first time it
// maps a sequence number, and give them to loaded, which the caller
// keeps for its next readers (UseUIDs): a command that maps none reads
// none.
func (r *Reader) LoadUIDs(loaded func([]uint32)) { r.loaded = loaded }

// mapped reports whether the reader has the UIDs in memory, reading them
// if LoadUIDs asked for it.
func (r *Reader) mapped() (bool, error) {
	if r.uids != nil {
		return true, nil
	}
	if r.loaded == nil {
		return false, nil
	}
	uids, err := r.snap.UIDs(r.ctx, r.folder.ID)
	if err != nil {
		return false, err
	}
	loaded := r.loaded
	r.loaded = nil
	if !r.UseUIDs(uids) {
		return false, nil
	}
	loaded(uids)
	return true, nil
}

// UIDAt returns the UID of the message with sequence number seq, 0 if
// there is none.
func (r *Reader) UIDAt(seq uint32) (uint32, error) {
	if seq == 0 || seq > r.counts.Messages {
		return 0, nil
	}
	if ok, err := r.mapped(); err != nil {
		return 0, err
	} else if ok {
		return r.uids[seq-1], nil
	}
	return r.snap.UIDAt(r.ctx, r.folder.ID, seq, r.counts.Messages)
}

// CountBelow returns how many messages have a UID below uid: the
// sequence number of the first message at or above uid, less one.
func (r *Reader) CountBelow(uid uint32) (uint32, error) {
	if ok, err := r.mapped(); err != nil {
		return 0, err
	} else if ok {
		n, _ := slices.BinarySearch(r.uids, uid)
		return uint32(n), nil
	}
	return r.snap.CountBelow(r.ctx, r.folder.ID, uid, r.counts.Messages)
}

// CountUIDs returns how many messages have a UID in [lo, hi].
func (r *Reader) CountUIDs(lo, hi uint32) (uint32, error) {
	if ok, err := r.mapped(); err != nil {
		return 0, err
	} else if ok {
		if lo > hi {
			return 0, nil
		}
		a, _ := slices.BinarySearch(r.uids, lo)
		b, found := slices.BinarySearch(r.uids, hi)
		if found {
			b++
		}
		return uint32(b - a), nil
	}
	return r.snap.CountUIDs(r.ctx, r.folder.ID, lo, hi)
}

// MaxUID returns the highest UID in the folder, 0 if it is empty.
func (r *Reader) MaxUID() (uint32, error) {
	if r.counts.Messages == 0 {
		return 0, nil
	}
	if ok, err := r.mapped(); err != nil {
		return 0, err
	} else if ok {
		return r.uids[len(r.uids)-1], nil
	}
	return r.snap.MaxUID(r.ctx, r.folder.ID)
}

// Keywords returns the folder's keywords (those its messages have or
// had), for FLAGS and PERMANENTFLAGS.
func (r *Reader) Keywords() ([]string, error) {
	return r.snap.Keywords(r.ctx, r.folder.ID)
}

// FirstUnseen returns the sequence number of the first message without
// \Seen, 0 if there is none.
func (r *Reader) FirstUnseen() (uint32, error) {
	if r.counts.Unseen == 0 {
		return 0, nil
	}
	uid, err := r.snap.FirstUnseen(r.ctx, r.folder.ID)
	if err != nil || uid == 0 {
		return 0, err
	}
	n, err := r.CountBelow(uid)
	return n + 1, err
}

// Want says what Reader.Messages reads of each message.
type Want int

const (
	WantFlags     Want = Want(store.ColumnsFlags) // UID and flags
	WantRow       Want = Want(store.ColumnsRow)   // and MODSEQ, internal date, size and the stored message
	WantStructure Want = WantRow + 1              // and Envelope and Structure
)

// Messages returns up to limit messages with UIDs in [lo, hi] in UID
// order, numbered from firstSeq (the caller knows the sequence number of
// the first message: the number of messages with a UID below lo, plus
// one), with what want says.
func (r *Reader) Messages(lo, hi uint32, limit int, firstSeq uint32, want Want) ([]Message, error) {
	return r.AppendMessages(nil, lo, hi, limit, firstSeq, want)
}

// AppendMessages is Messages appending to dst, which a caller reading
// many batches can reuse.
func (r *Reader) AppendMessages(dst []Message, lo, hi uint32, limit int, firstSeq uint32, want Want) ([]Message, error) {
	seq, start := firstSeq, len(dst)
	cols := store.MessageColumns(min(want, WantRow))
	err := r.snap.EachMessage(r.ctx, r.folder.ID, lo, hi, limit, cols, func(row *store.Message) error {
		dst = append(dst, messageOf(row, seq))
		seq++
		return nil
	})
	if err == nil && want >= WantStructure {
		// The envelope and structure come from the cache, the rest in
		// one query.
		err = r.fillMeta(dst[start:])
	}
	return dst, err
}

// messageOf is a stored row as a Message numbered seq.
func messageOf(row *store.Message, seq uint32) Message {
	return Message{UID: row.UID, Seq: seq, ModSeq: row.ModSeq, BlobID: row.BlobID,
		InternalDate: row.InternalDate, SaveDate: row.SaveDate, Size: row.Size, Flags: flagNames(row.Flags, row.Keywords)}
}

// added is the change that announces the message row, just appended:
// its keywords are the row's.
func added(row store.Message) Change {
	msg := messageOf(&row, 0)
	return Change{Kind: ChangeAdded, MailboxID: row.MailboxID, UID: row.UID, ModSeq: row.ModSeq, Flags: row.Keywords, Row: &msg}
}

// fillMeta sets the envelope and structure of msgs from the cache, and
// reads those it lacks in one query.
func (r *Reader) fillMeta(msgs []Message) error {
	var missing []int64
	for i := range msgs {
		if m, ok := lookupMeta(r.meta, msgs[i].BlobID); ok {
			msgs[i].Envelope, msgs[i].Structure = m.env, m.st
		} else {
			missing = append(missing, msgs[i].BlobID)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	read := make(map[int64]meta, len(missing))
	err := r.snap.BlobMetas(r.ctx, missing, func(id int64, env, st []byte) error {
		e, p, err := decodeMeta(env, st)
		if err != nil {
			return fmt.Errorf("mailbox: blob %d: %w", id, err)
		}
		read[id] = meta{env: e, st: p}
		r.meta.put(id, read[id], len(env)+len(st))
		return nil
	})
	if err != nil {
		return err
	}
	for i := range msgs {
		if msgs[i].Structure != nil {
			continue
		}
		m, ok := read[msgs[i].BlobID]
		if !ok {
			// The row names its blob in the same snapshot: cannot happen.
			return fmt.Errorf("mailbox: message %d: stored message %d missing", msgs[i].UID, msgs[i].BlobID)
		}
		msgs[i].Envelope, msgs[i].Structure = m.env, m.st
	}
	return nil
}

// ReadBodies reads the stored octets of msgs no larger than largest into
// their Body, in order, as long as they fit in budget octets together: a
// command that sends many messages reads them in its snapshot, rather
// than one read transaction each.
func (r *Reader) ReadBodies(msgs []Message, budget, largest int64) error {
	for i := range msgs {
		m := &msgs[i]
		if m.Size > largest {
			continue
		}
		if m.Size > budget {
			return nil
		}
		budget -= m.Size
		if b, ok := r.bodies.get(m.BlobID); ok {
			m.Body = b
			continue
		}
		b, err := r.snap.BlobRange(r.ctx, m.BlobID, 0, m.Size)
		if errors.Is(err, store.ErrNotFound) {
			continue // gone: read again, and missed, when it is sent
		}
		if err != nil {
			return err
		}
		m.Body = keepBytes(r.bodies, m.BlobID, b)
	}
	return nil
}

// decodeMeta decodes a stored message's envelope and structure.
func decodeMeta(envelope, structure []byte) (*Envelope, *Part, error) {
	env := new(Envelope)
	if err := json.Unmarshal(envelope, env); err != nil {
		return nil, nil, fmt.Errorf("envelope: %w", err)
	}
	var st *Part
	if err := json.Unmarshal(structure, &st); err != nil || st == nil {
		return nil, nil, fmt.Errorf("structure: %v", err)
	}
	return env, st, nil
}

// Search calls fn with the UID (and, with withSeq, the sequence number)
// of every message that matches c, in UID order.
func (r *Reader) Search(c *Criteria, withSeq bool, fn func(uid, seq uint32) error) error {
	sc, err := c.compile()
	if err != nil {
		return err
	}
	if withSeq {
		ok, err := r.mapped()
		if err != nil {
			return err
		}
		if ok {
			// The UIDs in memory give the sequence numbers: the store
			// need not count them (and answers some criteria faster
			// without).
			i := 0
			return r.snap.Search(r.ctx, r.folder.ID, &sc, false, func(uid, _ uint32) error {
				for i < len(r.uids) && r.uids[i] < uid {
					i++
				}
				if i == len(r.uids) || r.uids[i] != uid {
					return fmt.Errorf("mailbox: search: UID %d is not in the snapshot's UIDs", uid)
				}
				return fn(uid, uint32(i+1))
			})
		}
	}
	return r.snap.Search(r.ctx, r.folder.ID, &sc, withSeq, fn)
}

// keepStored puts what tx stores of a message in the caches once tx
// commits: a copy of its octets, and the JSON of its envelope and
// structure, which the first read that wants them decodes exactly as it
// would decode them from the store (not Analyze's own values, which JSON
// does not always give back as they were: invalid UTF-8 becomes U+FFFD).
// Mail apps read new mail soon after it comes. A copy, because the
// caller's array may be much larger than the message (SMTP's DATA buffer
// starts at 16 KB) and would be held whole.
func (s *Service) keepStored(tx store.Tx, blobID int64, blob *store.Blob) {
	var data []byte
	if len(blob.Data) <= bodyCacheMaxEntry {
		data = bytes.Clone(blob.Data)
	}
	stored := meta{envJSON: blob.Envelope, stJSON: blob.Structure}
	tx.OnCommit(func() {
		if data != nil {
			keepBytes(s.bodies, blobID, data)
		}
		s.meta.put(blobID, stored, len(stored.envJSON)+len(stored.stJSON))
	})
}

// Message returns the whole stored message of size octets, and keeps it
// for the next reads if it is small.
func (s *Service) Message(ctx context.Context, blobID, size int64) ([]byte, error) {
	if b, ok := s.bodies.get(blobID); ok {
		return b, nil
	}
	b, err := s.MessageBytes(ctx, blobID, 0, size)
	if err == nil && int64(len(b)) == size {
		b = keepBytes(s.bodies, blobID, b)
	}
	return b, err
}

// MessageBytes returns octets [start, end) of a stored message (fewer if
// it is shorter). A message that was removed meanwhile gives
// ErrNoSuchMessage.
func (s *Service) MessageBytes(ctx context.Context, blobID, start, end int64) ([]byte, error) {
	if end <= start {
		return nil, nil
	}
	if b, ok := s.bodies.get(blobID); ok {
		lo, hi := min(max(start, 0), int64(len(b))), min(end, int64(len(b)))
		return b[lo:hi:hi], nil
	}
	b, err := s.db.BlobRange(ctx, blobID, start, end-start)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNoSuchMessage
	}
	return b, err
}

// ErrNoSuchMessage is a message that is no longer stored.
var ErrNoSuchMessage = errors.New("mailbox: no such message")

// ErrUnknownEncoding is a Content-Transfer-Encoding that DecodeBody
// cannot undo.
var ErrUnknownEncoding = errors.New("mailbox: unknown content-transfer-encoding")

// DecodeBody undoes a part's Content-Transfer-Encoding (as Part.Encoding
// gives it). Identity encodings return body itself.
func DecodeBody(encoding string, body []byte) ([]byte, error) {
	switch encoding {
	case "", "7BIT", "8BIT", "BINARY":
		return body, nil
	case "BASE64":
		return decodeBase64(body), nil
	case "QUOTED-PRINTABLE":
		return decodeQuotedPrintable(body), nil
	}
	return nil, fmt.Errorf("%w: %s", ErrUnknownEncoding, encoding)
}

// UIDsOfBlob returns the UIDs of the folder's messages whose stored
// message is blobID (SEARCH EMAILID, RFC 8474).
func (r *Reader) UIDsOfBlob(blobID int64) ([]uint32, error) {
	return r.snap.UIDsOfBlob(r.ctx, r.folder.ID, blobID)
}
