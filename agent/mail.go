package agent

import (
	"context"
	"fmt"
	"mime"
	"net"
	"net/smtp"
	"strings"
	"time"

	"github.com/sluice-edge/sluice/configs"
)

// mailer sends invitation mails through the configured relay. net/smtp
// upgrades to TLS by STARTTLS when the relay offers it and refuses PLAIN
// auth over a clear connection to anything but localhost.
func mailer(c configs.SMTPConfig) func(ctx context.Context, to, subject, body string) error {
	if c.Server == "" {
		return nil
	}
	return func(ctx context.Context, to, subject, body string) error {
		if strings.ContainsAny(to, "\r\n") || !strings.Contains(to, "@") {
			return fmt.Errorf("bad recipient %q", to)
		}
		var auth smtp.Auth
		if c.Username != "" {
			pw, err := configs.Secret(c.Password)
			if err != nil {
				return fmt.Errorf("smtp.password: %w", err)
			}
			host, _, _ := net.SplitHostPort(c.Server)
			auth = smtp.PlainAuth("", c.Username, pw, host)
		}
		msg := "From: " + c.From + "\r\n" +
			"To: " + to + "\r\n" +
			"Subject: " + mime.QEncoding.Encode("utf-8", subject) + "\r\n" +
			"Date: " + time.Now().Format(time.RFC1123Z) + "\r\n" +
			"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" +
			strings.ReplaceAll(body, "\n", "\r\n")
		done := make(chan error, 1)
		go func() { done <- smtp.SendMail(c.Server, auth, c.From, []string{to}, []byte(msg)) }()
		select {
		case err := <-done:
			if err != nil {
				return fmt.Errorf("send mail via %s: %w", c.Server, err)
			}
			return nil
		case <-ctx.Done():
			return fmt.Errorf("send mail via %s: %w", c.Server, ctx.Err())
		}
	}
}
