package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"pillarbox/mailbox"
	"pillarbox/store"
)

// openService opens the configured store and the mailbox service over it.
func openService(cfgPath string) (*Config, store.Store, *mailbox.Service, error) {
	cfg, err := LoadConfig(cfgPath)
	if err != nil {
		return nil, nil, nil, err
	}
	quota, err := cfg.defaultQuota()
	if err != nil {
		return nil, nil, nil, err
	}
	db, err := openStore(context.Background(), cfg, storeHooks{})
	if err != nil {
		return nil, nil, nil, err
	}
	svc, err := mailbox.New(db, mailbox.Options{Domains: cfg.Domains, HistoryKeep: cfg.historyKeep(), DefaultQuota: quota})
	if err != nil {
		db.Close()
		return nil, nil, nil, err
	}
	return cfg, db, svc, nil
}

// minPasswordChars is the shortest password the CLI takes from a user;
// generated ones are longer.
const minPasswordChars = 8

func dbPath(cfg *Config) string { return filepath.Join(cfg.DataDir, "pillarbox.db") }

func cmdUser(ctx context.Context, e *env, args []string) error {
	fs, cfgPath := commandFlags("user")
	fromStdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input")
	force := fs.Bool("force", false, "with del: delete a postmaster@ account too")
	sub, pos, err := splitSubcommand(fs, args, "add, passwd, del, list, quota", "add", "passwd", "del", "list", "quota")
	if err != nil {
		return err
	}
	n := map[string]int{"add": 1, "passwd": 1, "del": 1, "list": 0, "quota": 1}[sub]
	usageLine := "pillarbox user " + sub + map[int]string{0: "", 1: " ADDRESS"}[n]
	if sub == "quota" {
		// SIZE is optional: without it, the quota is shown.
		usageLine += " [SIZE]"
		if len(pos) == 2 {
			n = 2
		}
	}
	if sub == "add" || sub == "passwd" {
		usageLine += " [--password-stdin]"
	} else if *fromStdin {
		return fmt.Errorf("user %s: --password-stdin only applies to add and passwd", sub)
	}
	if sub == "del" {
		usageLine += " [--force]"
	} else if *force {
		return fmt.Errorf("user %s: --force only applies to del", sub)
	}
	if err := argCount("user "+sub, pos, n, usageLine); err != nil {
		return err
	}
	// What the arguments alone show wrong is said before the store is
	// opened, which would create data_dir for a command that does nothing.
	var addr mailbox.Address
	if sub != "list" {
		if addr, err = mailbox.ParseAddress(pos[0]); err != nil {
			return fmt.Errorf("user %s: %w", sub, err)
		}
	}
	var quota *int64 // user quota ADDRESS SIZE: the quota to set
	if sub == "quota" && len(pos) == 2 {
		limit, err := parseQuotaSize(pos[1])
		if err != nil {
			return fmt.Errorf("user quota: %w", err)
		}
		quota = &limit
	}

	password, generated := "", false
	if sub == "add" || sub == "passwd" {
		if *fromStdin {
			if password, err = readPasswordLine(e.stdin); err != nil {
				return fmt.Errorf("user %s: %w", sub, err)
			}
			if n := utf8.RuneCountInString(password); n < minPasswordChars {
				return fmt.Errorf("user %s: the password has %d characters, want at least %d (without --password-stdin one is generated)", sub, n, minPasswordChars)
			}
		} else {
			password, generated = mailbox.GeneratePassword(), true
		}
	}
	// Mail to postmaster must be deliverable (RFC 5321 4.5.1); losing
	// that account is rarely what a typo meant.
	if sub == "del" && !*force {
		if local, _, ok := strings.Cut(pos[0], "@"); ok && strings.EqualFold(local, "postmaster") {
			return fmt.Errorf("user del: %s receives the mail for postmaster (RFC 5321 4.5.1); add --force to delete it anyway", pos[0])
		}
	}
	_, db, svc, err := openService(*cfgPath)
	if err != nil {
		return err
	}
	defer db.Close()
	switch sub {
	case "add":
		err = svc.AddUser(ctx, pos[0], password)
	case "passwd":
		err = svc.SetPassword(ctx, pos[0], password)
	case "del":
		err = svc.DeleteUser(ctx, pos[0])
	case "quota":
		err = userQuota(ctx, e, svc, addr, quota)
	case "list":
		var users []string
		users, err = svc.Users(ctx)
		for _, u := range users {
			fmt.Fprintln(e.stdout, u)
		}
	}
	if err != nil {
		return fmt.Errorf("user %s: %w", sub, err)
	}
	if generated {
		fmt.Fprintf(e.stdout, "password for %s: %s\n", pos[0], password)
	}
	return nil
}

func cmdAlias(ctx context.Context, e *env, args []string) error {
	fs, cfgPath := commandFlags("alias")
	sub, pos, err := splitSubcommand(fs, args, "add, del, list", "add", "del", "list")
	if err != nil {
		return err
	}
	if err := subArgCount("alias", sub, pos, map[string]subUsage{
		"add":  {2, "pillarbox alias add ALIAS TARGET[,TARGET...]"},
		"del":  {1, "pillarbox alias del ALIAS"},
		"list": {0, "pillarbox alias list"},
	}); err != nil {
		return err
	}
	_, db, svc, err := openService(*cfgPath)
	if err != nil {
		return err
	}
	defer db.Close()
	switch sub {
	case "add":
		var targets []string
		for _, t := range strings.Split(pos[1], ",") {
			if t = strings.TrimSpace(t); t != "" {
				targets = append(targets, t)
			}
		}
		err = svc.SetAlias(ctx, pos[0], targets)
	case "del":
		err = svc.DeleteAlias(ctx, pos[0])
	case "list":
		var aliases []mailbox.Alias
		aliases, err = svc.Aliases(ctx)
		for _, a := range aliases {
			fmt.Fprintf(e.stdout, "%s %s\n", a.Address, strings.Join(a.Targets, ","))
		}
	}
	if err != nil {
		return fmt.Errorf("alias %s: %w", sub, err)
	}
	return nil
}

// readPasswordLine reads one line; its line ending is not part of the
// password.
func readPasswordLine(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		if errors.Is(err, io.EOF) {
			return "", errors.New("no password on standard input")
		}
		return "", fmt.Errorf("reading password: %w", err)
	}
	line = strings.TrimSuffix(line, "\n")
	line = strings.TrimSuffix(line, "\r")
	return line, nil
}
