package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"pillarbox/mailbox"
	"pillarbox/store"
)

// openService opens the configured store and the mailbox service over it.
func openService(cfgPath string) (*Config, *store.DB, *mailbox.Service, error) {
	cfg, err := LoadConfig(cfgPath)
	if err != nil {
		return nil, nil, nil, err
	}
	db, err := store.Open(dbPath(cfg), store.Options{})
	if err != nil {
		return nil, nil, nil, err
	}
	svc, err := mailbox.New(db, mailbox.Options{Domains: cfg.Domains})
	if err != nil {
		db.Close()
		return nil, nil, nil, err
	}
	return cfg, db, svc, nil
}

func dbPath(cfg *Config) string { return filepath.Join(cfg.DataDir, "pillarbox.db") }

func cmdUser(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return errors.New("user: missing subcommand (add, passwd, del, list)")
	}
	sub, args := args[0], args[1:]
	fs, cfgPath := commandFlags("user " + sub)
	switch sub {
	case "add", "passwd":
		fromStdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input")
		pos, err := parseCommand(fs, args, 1, "pillarbox user "+sub+" ADDRESS [--password-stdin]")
		if err != nil {
			return err
		}
		password, generated := "", false
		if *fromStdin {
			if password, err = readPasswordLine(e.stdin); err != nil {
				return fmt.Errorf("user %s: %w", sub, err)
			}
		} else {
			password, generated = mailbox.GeneratePassword(), true
		}
		_, db, svc, err := openService(*cfgPath)
		if err != nil {
			return err
		}
		defer db.Close()
		if sub == "add" {
			err = svc.AddUser(ctx, pos[0], password)
		} else {
			err = svc.SetPassword(ctx, pos[0], password)
		}
		if err != nil {
			return fmt.Errorf("user %s: %w", sub, err)
		}
		if generated {
			fmt.Fprintf(e.stdout, "password for %s: %s\n", pos[0], password)
		}
		return nil
	case "del":
		pos, err := parseCommand(fs, args, 1, "pillarbox user del ADDRESS")
		if err != nil {
			return err
		}
		_, db, svc, err := openService(*cfgPath)
		if err != nil {
			return err
		}
		defer db.Close()
		if err := svc.DeleteUser(ctx, pos[0]); err != nil {
			return fmt.Errorf("user del: %w", err)
		}
		return nil
	case "list":
		if _, err := parseCommand(fs, args, 0, "pillarbox user list"); err != nil {
			return err
		}
		_, db, svc, err := openService(*cfgPath)
		if err != nil {
			return err
		}
		defer db.Close()
		users, err := svc.Users(ctx)
		if err != nil {
			return fmt.Errorf("user list: %w", err)
		}
		for _, u := range users {
			fmt.Fprintln(e.stdout, u)
		}
		return nil
	}
	return fmt.Errorf("user: unknown subcommand %q (add, passwd, del, list)", sub)
}

func cmdAlias(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return errors.New("alias: missing subcommand (add, del, list)")
	}
	sub, args := args[0], args[1:]
	fs, cfgPath := commandFlags("alias " + sub)
	var pos []string
	var err error
	switch sub {
	case "add":
		pos, err = parseCommand(fs, args, 2, "pillarbox alias add ALIAS TARGET[,TARGET...]")
	case "del":
		pos, err = parseCommand(fs, args, 1, "pillarbox alias del ALIAS")
	case "list":
		pos, err = parseCommand(fs, args, 0, "pillarbox alias list")
	default:
		return fmt.Errorf("alias: unknown subcommand %q (add, del, list)", sub)
	}
	if err != nil {
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
