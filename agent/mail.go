package agent

import (
	"context"
	"crypto/tls"
	"errors"
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
		if err := sendMail(ctx, c.Server, auth, c.From, to, []byte(msg)); err != nil {
			return fmt.Errorf("send mail via %s: %w", c.Server, err)
		}
		return nil
	}
}

// sendMail is smtp.SendMail bounded by ctx: the connection's deadline is
// ctx's, and cancelling ctx unblocks it, so no goroutine outlives the
// request that asked for the mail.
func sendMail(ctx context.Context, server string, auth smtp.Auth, from, to string, msg []byte) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", server)
	if err != nil {
		return err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	host, _, _ := net.SplitHostPort(server)
	cl, err := smtp.NewClient(conn, host)
	if err != nil {
		return err
	}
	defer cl.Close()
	if ok, _ := cl.Extension("STARTTLS"); ok {
		if err := cl.StartTLS(&tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}); err != nil {
			return err
		}
	}
	if auth != nil {
		if ok, _ := cl.Extension("AUTH"); !ok {
			return errors.New("the relay offers no AUTH")
		}
		if err := cl.Auth(auth); err != nil {
			return err
		}
	}
	if err := cl.Mail(from); err != nil {
		return err
	}
	if err := cl.Rcpt(to); err != nil {
		return err
	}
	w, err := cl.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return cl.Quit()
}
