package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"pillarbox/mailbox"
)

func cmdDomain(ctx context.Context, e *env, args []string) error {
	fs, cfgPath := commandFlags("domain")
	force := fs.Bool("force", false, "del: delete the domain's accounts and aliases with it")
	sub, pos, err := splitSubcommand(fs, args, "add, list, del", "add", "list", "del")
	if err != nil {
		return err
	}
	if err := subArgCount("domain", sub, pos, map[string]subUsage{
		"add":  {1, "pillarbox domain add NAME"},
		"list": {0, "pillarbox domain list"},
		"del":  {1, "pillarbox domain del NAME [--force]"},
	}); err != nil {
		return err
	}
	if *force && sub != "del" {
		return fmt.Errorf("domain %s: --force only applies to del", sub)
	}
	if sub != "list" {
		// Before the store is opened, which would create data_dir.
		if _, err := mailbox.NormalizeDomain(pos[0]); err != nil {
			return fmt.Errorf("domain %s: %w", sub, err)
		}
	}
	_, db, svc, err := openService(*cfgPath)
	if err != nil {
		return err
	}
	defer db.Close()
	switch sub {
	case "add":
		var added mailbox.DomainAdded
		if added, err = svc.AddDomain(ctx, pos[0]); err == nil {
			err = printDomainAdded(e.stdout, added)
		}
	case "list":
		var doms []mailbox.Domain
		doms, err = svc.Domains(ctx)
		for _, d := range doms {
			fmt.Fprintln(e.stdout, domainLine(d))
		}
	case "del":
		err = svc.DeleteDomain(ctx, pos[0], *force)
	}
	if err != nil {
		return fmt.Errorf("domain %s: %w", sub, err)
	}
	return nil
}

// domainLine is one line of `domain list`: the name, where it comes
// from, and its DKIM selectors.
func domainLine(d mailbox.Domain) string {
	var notes []string
	if d.InConfig {
		notes = append(notes, "config")
	}
	if !d.InDatabase {
		notes = append(notes, "keys are made at the next start of serve")
	}
	for _, k := range d.Keys {
		notes = append(notes, "dkim "+k.Selector+" "+k.Algorithm+" "+k.State)
	}
	if len(notes) == 0 {
		return d.Name
	}
	return d.Name + " (" + strings.Join(notes, ", ") + ")"
}

// printDomainAdded says what AddDomain made: the postmaster's password,
// shown only this once, and the DKIM key records to publish as zone-file
// lines. Only the public halves of the keys are printed.
func printDomainAdded(w io.Writer, a mailbox.DomainAdded) error {
	fmt.Fprintf(w, "added domain %s\n", a.Domain.Name)
	printPostmaster(w, a)
	fmt.Fprintf(w, "publish the DKIM keys of %s in DNS:\n", a.Domain.Name)
	recs, err := dkimRecords(a.Domain.Name, a.Domain.Keys)
	if err != nil {
		return err
	}
	for _, r := range recs {
		fmt.Fprintln(w, r.zoneLine())
	}
	return nil
}

// printPostmaster says which postmaster@ account AddDomain made and its
// password, the only time that password is shown; nothing when it made
// none.
func printPostmaster(w io.Writer, a mailbox.DomainAdded) {
	if a.Postmaster != "" {
		fmt.Fprintf(w, "created %s with password %s (shown only once; change it with 'pillarbox user passwd')\n", a.Postmaster, a.Password)
	}
}
