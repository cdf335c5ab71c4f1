package agent

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// smtpServer is a minimal SMTP receiver (RFC 5321's happy path) on a
// loopback port; it hands each message to the channel.
func smtpServer(t *testing.T) (string, <-chan string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	msgs := make(chan string, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				c.SetDeadline(time.Now().Add(20 * time.Second))
				r := bufio.NewReader(c)
				say := func(s string) { fmt.Fprintf(c, "%s\r\n", s) }
				say("220 test ESMTP")
				var env strings.Builder
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					cmd := strings.ToUpper(strings.TrimSpace(line))
					switch {
					case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
						say("250 test")
					case strings.HasPrefix(cmd, "MAIL FROM"), strings.HasPrefix(cmd, "RCPT TO"):
						env.WriteString(line)
						say("250 ok")
					case cmd == "DATA":
						say("354 go ahead")
						var body strings.Builder
						for {
							l, err := r.ReadString('\n')
							if err != nil {
								return
							}
							if l == ".\r\n" {
								break
							}
							body.WriteString(l)
						}
						msgs <- env.String() + body.String()
						say("250 queued")
					case cmd == "QUIT":
						say("221 bye")
						return
					default:
						say("250 ok")
					}
				}
			}(c)
		}
	}()
	return ln.Addr().String(), msgs
}

func TestInvitationIsMailed(t *testing.T) {
	addr, msgs := smtpServer(t)
	_, c := startTestAgent(t, "acme", fmt.Sprintf("smtp: {server: %q, from: sluice@acme.example}", addr))
	ctx := context.Background()
	if err := c.JSON(ctx, "POST", "/api/v1/communities", nil, map[string]string{"name": "supply"}, nil); err != nil {
		t.Fatal(err)
	}
	var inv struct {
		Token   string `json:"token"`
		Emailed string `json:"emailed"`
	}
	if err := c.JSON(ctx, "POST", "/api/v1/communities/supply/invitations", nil, map[string]string{"email": "ops@northwind.example"}, &inv); err != nil {
		t.Fatal(err)
	}
	if inv.Emailed != "ops@northwind.example" {
		t.Fatalf("answer does not say the mail went out: %+v", inv)
	}
	select {
	case m := <-msgs:
		for _, want := range []string{"RCPT TO:<ops@northwind.example>", "From: sluice@acme.example", "sluice invitation accept " + inv.Token, "supply"} {
			if !strings.Contains(m, want) {
				t.Errorf("mail lacks %q:\n%s", want, m)
			}
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no mail arrived")
	}
}
