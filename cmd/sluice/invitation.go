package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
)

type acceptAnswer struct {
	Community string `json:"community"`
	Name      string `json:"name"`
	Owner     string `json:"owner"`
}

func (f *fedCLI) runInvitation(ctx context.Context, args []string) error {
	return subcommand(ctx, "invitation", args, named("invitation", map[string]command{
		"accept":  {"accept an invitation token: join the community (the owner then confirms)", f.invitationAccept},
		"decline": {"decline an invitation token", f.invitationDecline},
	}))
}

// token reads TOKEN, or stdin when TOKEN is "-".
func (f *fedCLI) token(arg string) (string, error) {
	tok := arg
	if arg == "-" {
		b, err := io.ReadAll(io.LimitReader(f.stdin, 1<<20))
		if err != nil {
			return "", fmt.Errorf("read the token from stdin: %w", err)
		}
		tok = string(b)
	}
	tok = strings.TrimSpace(tok)
	if tok == "" {
		if arg == "-" {
			return "", errors.New("no token on stdin")
		}
		return "", usageErr("TOKEN must not be empty")
	}
	if strings.ContainsAny(tok, " \t\r\n") {
		return "", usageErr("the token has white space inside: pass it as one word, as 'sluice community invite' printed it")
	}
	return tok, nil
}

func (f *fedCLI) invitationAccept(ctx context.Context, args []string) error {
	fs, cf := f.flags("invitation accept", "TOKEN|- [-o json|table]\n\n"+
		"Run on your own agent with the token the community's owner sent you\n"+
		"('-' reads it from stdin). Your agent hands your signed acceptance to\n"+
		"the owner's agent; data flows once the owner confirms you.")
	output := addOutputFlag(fs)
	pos, err := parseFlags(fs, args, 1, 1)
	if err != nil {
		return err
	}
	tok, err := f.token(pos[0])
	if err != nil {
		return err
	}
	c, err := f.connect(cf)
	if err != nil {
		return err
	}
	raw, err := call(ctx, c, "POST", "/api/v1/invitations/accept", nil, map[string]string{"token": tok})
	if err != nil {
		return err
	}
	return printAnswer(f, raw, output, "acceptance", func(a acceptAnswer) error {
		fmt.Fprintf(f.stdout, "accepted: joined community %s (id %s) owned by %s\n", first(a.Name, a.Community), a.Community, dash(a.Owner))
		fmt.Fprintln(f.stderr, "the owner must confirm you before data flows; check with: sluice community show "+shellQuote(first(a.Name, a.Community)))
		return nil
	})
}

func (f *fedCLI) invitationDecline(ctx context.Context, args []string) error {
	fs, cf := f.flags("invitation decline", "TOKEN|-\n\n'-' reads the token from stdin.")
	pos, err := parseFlags(fs, args, 1, 1)
	if err != nil {
		return err
	}
	tok, err := f.token(pos[0])
	if err != nil {
		return err
	}
	c, err := f.connect(cf)
	if err != nil {
		return err
	}
	if _, err := call(ctx, c, "POST", "/api/v1/invitations/decline", nil, map[string]string{"token": tok}); err != nil {
		return err
	}
	fmt.Fprintln(f.stdout, "declined the invitation")
	return nil
}
