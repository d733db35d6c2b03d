package imap

import (
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
)

// Subscriptions are names (RFC 9051 6.3.7, RFC 5258 3.1): SUBSCRIBE to a
// name without a mailbox works, DELETE and RENAME leave the subscriptions
// alone, and LIST (SUBSCRIBED) shows the names without a mailbox as
// \NonExistent.
func TestSubscriptionsAreNames(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client("alice")
	if err := c.Subscribe("Nowhere").Wait(); err != nil {
		t.Fatalf("SUBSCRIBE to a name without a mailbox: %v", err)
	}
	for _, n := range []string{"Tmp", "R1"} {
		if err := c.Create(n, nil).Wait(); err != nil {
			t.Fatal(err)
		}
		if err := c.Subscribe(n).Wait(); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Delete("Tmp").Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Rename("R1", "R2", nil).Wait(); err != nil {
		t.Fatal(err)
	}

	sub := listNames(t, c, "", "*", &imap.ListOptions{SelectSubscribed: true})
	for _, n := range []string{"Nowhere", "Tmp", "R1"} {
		attrs, ok := sub[n]
		if !ok || !hasAttr(attrs, imap.MailboxAttrNonExistent) || !hasAttr(attrs, imap.MailboxAttrSubscribed) {
			t.Errorf("LIST (SUBSCRIBED): %s = %v (listed %v), want \\NonExistent \\Subscribed", n, attrs, ok)
		}
		if hasAttr(attrs, imap.MailboxAttrNoSelect) {
			t.Errorf("LIST (SUBSCRIBED): %s = %v: \\NonExistent implies \\Noselect", n, attrs)
		}
	}
	if _, ok := sub["R2"]; ok {
		t.Errorf("LIST (SUBSCRIBED): the renamed folder R2 took the subscription: %v", sub["R2"])
	}
	if attrs := sub["INBOX"]; hasAttr(attrs, imap.MailboxAttrNonExistent) || !hasAttr(attrs, imap.MailboxAttrSubscribed) {
		t.Errorf("LIST (SUBSCRIBED): INBOX = %v", attrs)
	}
	all := listNames(t, c, "", "*", &imap.ListOptions{ReturnSubscribed: true})
	for _, n := range []string{"Nowhere", "Tmp", "R1"} {
		if _, ok := all[n]; ok {
			t.Errorf("plain LIST shows %s, which is only subscribed", n)
		}
	}
	if attrs := all["R2"]; hasAttr(attrs, imap.MailboxAttrSubscribed) {
		t.Errorf("LIST RETURN (SUBSCRIBED): R2 = %v", attrs)
	}

	r := e.raw("alice")
	contains(t, r.ok(`LIST (SUBSCRIBED) "" "Tmp"`), `* LIST (\NonExistent \Subscribed) "/" "Tmp"`)
	u := r.ok(`LSUB "" "*"`)
	for _, want := range []string{`* LSUB () "/" "Nowhere"`, `* LSUB () "/" "Tmp"`, `* LSUB () "/" INBOX`} {
		contains(t, u, want)
	}
	if err := c.Unsubscribe("Tmp").Wait(); err != nil {
		t.Fatalf("UNSUBSCRIBE a name without a mailbox: %v", err)
	}
	if _, ok := listNames(t, c, "", "*", &imap.ListOptions{SelectSubscribed: true})["Tmp"]; ok {
		t.Error("Tmp still subscribed after UNSUBSCRIBE")
	}
}

// RFC 3501 6.3.9: with "a/b" subscribed and "a" not, LSUB "" "%" shows
// "a" with \Noselect (and not "a/b"); "*" shows "a/b" alone.
func TestLSUBPercentParent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client("alice")
	if err := c.Create("a/b", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Subscribe("a/b").Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Subscribe("x/y/z").Wait(); err != nil {
		t.Fatal(err)
	}
	r := e.raw("alice")
	u := r.ok(`LSUB "" "%"`)
	for _, want := range []string{`* LSUB (\Noselect) "/" "a"`, `* LSUB (\Noselect) "/" "x"`, `* LSUB () "/" INBOX`} {
		contains(t, u, want)
	}
	for _, l := range u {
		if strings.Contains(l, `"a/b"`) || strings.Contains(l, "x/y") {
			t.Errorf(`LSUB "" "%%" goes below the first level: %q`, l)
		}
	}
	contains(t, r.ok(`LSUB "" "x/%"`), `* LSUB (\Noselect) "/" "x/y"`)
	u = r.ok(`LSUB "" "*"`)
	contains(t, u, `* LSUB () "/" "a/b"`)
	contains(t, u, `* LSUB () "/" "x/y/z"`)
	if slices.ContainsFunc(u, func(l string) bool { return strings.HasSuffix(l, `"a"`) }) {
		t.Errorf(`LSUB "" "*" shows the unsubscribed parent: %q`, u)
	}
	// Once "a" is subscribed it is shown as itself.
	if err := c.Subscribe("a").Wait(); err != nil {
		t.Fatal(err)
	}
	contains(t, r.ok(`LSUB "" "%"`), `* LSUB () "/" "a"`)
	// LIST (SUBSCRIBED) keeps RFC 5258's rules: no parent without
	// RECURSIVEMATCH.
	sub := listNames(t, c, "", "%", &imap.ListOptions{SelectSubscribed: true})
	if _, ok := sub["x"]; ok {
		t.Errorf(`LIST (SUBSCRIBED) "" "%%" shows the unsubscribed x: %v`, sub["x"])
	}
}

// RFC 5258 3.5: LIST (SUBSCRIBED RECURSIVEMATCH) returns a parent with
// CHILDINFO only for a subscribed descendant that is not returned itself.
func TestRecursiveMatchChildInfo(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client("alice")
	if err := c.Create("p/c", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Subscribe("p/c").Wait(); err != nil {
		t.Fatal(err)
	}
	r := e.raw("alice")
	contains(t, r.ok(`LIST (SUBSCRIBED RECURSIVEMATCH) "" ("p")`), `"p"`, `("CHILDINFO" ("SUBSCRIBED"))`)
	u := r.ok(`LIST (SUBSCRIBED RECURSIVEMATCH) "" ("p" "p/c")`)
	contains(t, u, `\Subscribed) "/" "p/c"`)
	for _, l := range u {
		if strings.HasSuffix(l, `"p" ("CHILDINFO" ("SUBSCRIBED"))`) {
			t.Errorf("parent listed although its subscribed child is: %q", l)
		}
	}
}
