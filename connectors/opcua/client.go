package opcua

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/gopcua/opcua"
	"github.com/gopcua/opcua/ua"

	"github.com/sluice-edge/sluice/configs"
)

// uaClient is the part of a connected gopcua client the source uses; a
// *opcua.Client satisfies it. Every service goes through Send, with the
// call's deadline in ctx.
type uaClient interface {
	// Send sends a request and calls h with the response. A response whose
	// service result is bad is an error (a ua.StatusCode).
	Send(ctx context.Context, req ua.Request, h func(ua.Response) error) error
	// Namespaces is the server's namespace array, read at connection.
	Namespaces() []string
	// Close closes the session (deleting its subscriptions), the secure
	// channel and the connection.
	Close(ctx context.Context) error
}

// call sends req with a deadline and returns the response as T.
func call[T ua.Response](ctx context.Context, c uaClient, timeout time.Duration, req ua.Request) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var out T
	err := c.Send(ctx, req, func(r ua.Response) error {
		v, ok := r.(T)
		if !ok {
			return fmt.Errorf("unexpected response %T to %T", r, req)
		}
		out = v
		return nil
	})
	return out, err
}

// clientTimeout is gopcua's own per-request timeout. Every call carries a
// shorter deadline in its context (request_timeout, or for Publish the
// watchdog window), so this only has to be longer than any of them.
const clientTimeout = time.Hour

// dialGopcua connects to the server as configured: it reads the server's
// endpoints over an unsecured discovery channel, picks the one matching
// security.policy and security.mode, checks the server's certificate
// against the PKI folder, and opens a secure channel and an activated
// session. gopcua's own reconnection is off: when anything fails the
// source closes the client and builds a new one.
func (s *Source) dialGopcua(ctx context.Context) (c uaClient, err error) {
	// gopcua v0.8.0 can dereference a nil session when the server's
	// session signature does not verify; a panic here would take the
	// agent down, so it becomes an error.
	defer func() {
		if r := recover(); r != nil {
			c, err = nil, fmt.Errorf("opc ua client failed: %v", r)
		}
	}()
	dctx, cancel := dialContext(ctx, s.cfg.DialTimeout+2*s.cfg.RequestTimeout)
	defer cancel()
	eps, err := opcua.GetEndpoints(dctx, s.cfg.Endpoint,
		opcua.DialTimeout(s.cfg.DialTimeout), opcua.RequestTimeout(s.cfg.RequestTimeout))
	if err != nil {
		return nil, &connectError{reason: "endpoints", err: fmt.Errorf("reading the server's endpoints: %w", err)}
	}
	ep, err := selectEndpoint(eps, s.plan.policyURI, s.plan.mode)
	if err != nil {
		return nil, &connectError{reason: "endpoint", err: err}
	}
	tok, err := userTokenPolicy(ep, s.plan.authType)
	if err != nil {
		return nil, &connectError{reason: "auth", err: err}
	}
	tokPolicy := tok.SecurityPolicyURI
	if tokPolicy == "" {
		tokPolicy = ep.SecurityPolicyURI
	}
	if s.plan.authType == ua.UserTokenTypeUserName && tokPolicy == ua.SecurityPolicyURINone && !s.cfg.Auth.AllowPlaintextPassword {
		return nil, &connectError{reason: "auth", err: errors.New("the server would receive the password unencrypted (security policy None for both channel and user token); use a secure endpoint or set auth.allow_plaintext_password: true")}
	}
	if s.plan.policyURI != ua.SecurityPolicyURINone || (s.plan.authType != ua.UserTokenTypeAnonymous && tokPolicy != ua.SecurityPolicyURINone) {
		if err := (pkiStore{dir: s.pkiDir()}).verify(ep.ServerCertificate, time.Now()); err != nil {
			return nil, &connectError{reason: "untrusted_certificate", err: err}
		}
	}

	opts := []opcua.Option{
		opcua.SecurityFromEndpoint(ep, s.plan.authType),
		opcua.AutoReconnect(false),
		opcua.DialTimeout(s.cfg.DialTimeout),
		opcua.RequestTimeout(clientTimeout),
		opcua.SessionTimeout(s.cfg.SessionTimeout),
		opcua.SessionName("sluice-" + s.env.Name),
		opcua.ApplicationName("Sluice"),
		opcua.ProductURI("urn:sluice"),
	}
	if s.plan.policyURI != ua.SecurityPolicyURINone || s.plan.authType == ua.UserTokenTypeCertificate {
		der, key, err := s.clientCertificate()
		if err != nil {
			return nil, &connectError{reason: "certificate", err: err}
		}
		opts = append(opts, opcua.Certificate(der), opcua.PrivateKey(key))
	}
	switch s.plan.authType {
	case ua.UserTokenTypeUserName:
		pw, err := configs.Secret(s.cfg.Auth.Password)
		if err != nil {
			return nil, &connectError{reason: "auth", err: fmt.Errorf("auth.password: %w", err)}
		}
		opts = append(opts, opcua.AuthUsername(s.cfg.Auth.Username, pw))
	case ua.UserTokenTypeCertificate:
		der, err := loadCert(s.path(s.cfg.Auth.Certificate))
		if err != nil {
			return nil, &connectError{reason: "auth", err: fmt.Errorf("auth.certificate: %w", err)}
		}
		key, err := loadKey(s.path(s.cfg.Auth.PrivateKey))
		if err != nil {
			return nil, &connectError{reason: "auth", err: fmt.Errorf("auth.private_key: %w", err)}
		}
		opts = append(opts, opcua.AuthCertificate(der), opcua.AuthPrivateKey(key))
	default:
		opts = append(opts, opcua.AuthAnonymous())
	}
	// SecurityFromEndpoint set the token's policy id before the Auth
	// option made the token; apply it again now that the token exists.
	opts = append(opts, opcua.AuthPolicyID(tok.PolicyID))

	cl, err := opcua.NewClient(s.cfg.Endpoint, opts...)
	if err != nil {
		return nil, &connectError{reason: "connect", err: err}
	}
	if err := cl.Connect(dctx); err != nil {
		_ = cl.Close(context.Background())
		reason := "connect"
		if isAuthError(err) {
			reason = "auth"
		}
		return nil, &connectError{reason: reason, err: fmt.Errorf("opening the session (%s, %s): %w",
			policyName(ep.SecurityPolicyURI), ep.SecurityMode, err)}
	}
	return cl, nil
}

// dialGrace is how long a stop lets a connection attempt in flight go on
// before it is cancelled. gopcua v0.8.0 (the latest release) leaks a
// goroutine when the opening of a secure channel is cancelled just as the
// server's answer arrives: the channel's dispatcher takes the answer and
// waits for an opener that has given up, and Dial never closes the
// channel it abandoned. An open takes milliseconds, so the grace lets it
// finish, and the source then closes the client as usual.
const dialGrace = time.Second

// dialContext is the context of one connection attempt: it ends after
// timeout, or dialGrace after ctx ends.
func dialContext(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	stop := context.AfterFunc(ctx, func() {
		t := time.NewTimer(dialGrace)
		defer t.Stop()
		select {
		case <-t.C:
			cancel()
		case <-dctx.Done():
		}
	})
	return dctx, func() { stop(); cancel() }
}

// connectError is a failed connection attempt, with the metric reason.
type connectError struct {
	reason string
	err    error
}

func (e *connectError) Error() string { return e.err.Error() }
func (e *connectError) Unwrap() error { return e.err }

func isAuthError(err error) bool {
	for _, st := range []ua.StatusCode{ua.StatusBadUserAccessDenied, ua.StatusBadIdentityTokenInvalid,
		ua.StatusBadIdentityTokenRejected, ua.StatusBadUserSignatureInvalid} {
		if errors.Is(err, st) {
			return true
		}
	}
	return false
}

// selectEndpoint returns the endpoint with exactly the policy and mode
// asked for, or an error listing what the server offers.
func selectEndpoint(eps []*ua.EndpointDescription, policyURI string, mode ua.MessageSecurityMode) (*ua.EndpointDescription, error) {
	var best *ua.EndpointDescription
	offered := map[string]bool{}
	for _, ep := range eps {
		offered[policyName(ep.SecurityPolicyURI)+"/"+modeName(ep.SecurityMode)] = true
		if ep.SecurityPolicyURI == policyURI && ep.SecurityMode == mode &&
			(best == nil || ep.SecurityLevel > best.SecurityLevel) {
			best = ep
		}
	}
	if best != nil {
		return best, nil
	}
	list := make([]string, 0, len(offered))
	for k := range offered {
		list = append(list, k)
	}
	sort.Strings(list)
	return nil, fmt.Errorf("the server has no endpoint with security %s/%s (it offers %s)",
		policyName(policyURI), modeName(mode), strings.Join(list, ", "))
}

// userTokenPolicy finds the endpoint's policy for the auth type.
func userTokenPolicy(ep *ua.EndpointDescription, t ua.UserTokenType) (*ua.UserTokenPolicy, error) {
	var offered []string
	for _, p := range ep.UserIdentityTokens {
		if p.TokenType == t {
			return p, nil
		}
		offered = append(offered, tokenName(p.TokenType))
	}
	return nil, fmt.Errorf("the endpoint does not accept %s logins (it accepts %s)", tokenName(t), strings.Join(offered, ", "))
}

func policyName(uri string) string { return strings.TrimPrefix(uri, ua.SecurityPolicyURIPrefix) }

func modeName(m ua.MessageSecurityMode) string {
	for k, v := range modes {
		if v == m {
			return k
		}
	}
	return m.String()
}

func tokenName(t ua.UserTokenType) string {
	switch t {
	case ua.UserTokenTypeAnonymous:
		return "anonymous"
	case ua.UserTokenTypeUserName:
		return "username"
	case ua.UserTokenTypeCertificate:
		return "certificate"
	case ua.UserTokenTypeIssuedToken:
		return "issued token"
	}
	return t.String()
}

// clientCertificate returns the configured client certificate, or the
// agent's generated one.
func (s *Source) clientCertificate() ([]byte, *rsa.PrivateKey, error) {
	if s.cfg.Certificate != "" {
		der, err := loadCert(s.path(s.cfg.Certificate))
		if err != nil {
			return nil, nil, fmt.Errorf("certificate: %w", err)
		}
		key, err := loadKey(s.path(s.cfg.PrivateKey))
		if err != nil {
			return nil, nil, fmt.Errorf("private_key: %w", err)
		}
		return der, key, nil
	}
	if s.env.DataDir == "" {
		return nil, nil, errors.New("no data directory to keep a generated client certificate in; set certificate and private_key")
	}
	der, key, err := ownCertificate(filepath.Join(s.env.DataDir, "opcua", "own"))
	if err != nil {
		return nil, nil, fmt.Errorf("client certificate in %s: %w", filepath.Join(s.env.DataDir, "opcua", "own"), err)
	}
	return der, key, nil
}

// pkiDir is the source's PKI folder.
func (s *Source) pkiDir() string {
	if s.cfg.PKI != "" {
		return s.path(s.cfg.PKI)
	}
	return DefaultPKIDir(s.env.DataDir, s.env.Name)
}

// path resolves a configured file path against the data directory.
func (s *Source) path(p string) string {
	if filepath.IsAbs(p) || s.env.DataDir == "" {
		return p
	}
	return filepath.Join(s.env.DataDir, p)
}
