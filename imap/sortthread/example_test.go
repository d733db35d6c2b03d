package sortthread_test

import (
	"fmt"
	"strconv"
	"time"

	"github.com/emersion/go-imap/v2"

	"pillarbox/imap/sortthread"
)

// The session loads one Message per message SEARCH matched, then answers
// UID SORT, SORT RETURN and UID THREAD from the same slice.
func Example() {
	day := func(d int) time.Time { return time.Date(2026, 3, d, 9, 0, 0, 0, time.UTC) }
	msgs := []sortthread.Message{
		{Seq: 1, UID: 11, Date: day(1), InternalDate: day(1), Subject: "Plans", MessageID: "<p@x>",
			From: sortthread.Address{Name: "Zoë", Mailbox: "zoe", Host: "x"}},
		{Seq: 2, UID: 12, Date: day(2), InternalDate: day(2), Subject: "Re: Plans", MessageID: "<q@x>", References: "<p@x>",
			From: sortthread.Address{Mailbox: "adam", Host: "y"}},
		{Seq: 3, UID: 13, Date: day(3), InternalDate: day(3), Subject: "Lunch", MessageID: "<l@x>",
			From: sortthread.Address{Name: "Bea", Mailbox: "bea", Host: "z"}},
	}

	// UID SORT (DISPLAYFROM) UTF-8 ALL
	order, err := sortthread.Sort(msgs, []sortthread.Criterion{{Key: sortthread.KeyDisplayFrom}})
	if err != nil {
		panic(err)
	}
	uids := make([]uint32, len(order))
	line := []byte("* SORT")
	for i, o := range order {
		uids[i] = msgs[o].UID
		line = strconv.AppendUint(append(line, ' '), uint64(uids[i]), 10)
	}
	fmt.Println(string(line))

	// UID SORT RETURN (MIN COUNT ALL) (DISPLAYFROM) UTF-8 ALL
	data := sortthread.AppendESortData(nil, uids, sortthread.ESortReturn{Min: true, Count: true, All: true})
	fmt.Printf("* ESEARCH (TAG \"A2\") UID %s\n", data)

	// UID THREAD REFERENCES UTF-8 ALL
	threads, err := sortthread.Thread(imap.ThreadReferences, msgs)
	if err != nil {
		panic(err)
	}
	fmt.Printf("* THREAD %s\n", sortthread.AppendThreadLists(nil, threads, sortthread.ByUID(msgs)))
	// Output:
	// * SORT 12 13 11
	// * ESEARCH (TAG "A2") UID MIN 12 COUNT 3 ALL 12:13,11
	// * THREAD (11 12)(13)
}
