package configs

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// The prefixes of secret references.
const (
	SecretEnvPrefix        = "env:"
	SecretFilePrefix       = "file:"
	SecretCredentialPrefix = "credential:"
)

// maxSecretBytes bounds a secret read from a file, so that a reference to
// the wrong file (a log, /dev/zero) fails instead of eating memory.
const maxSecretBytes = 64 << 10

var (
	envNameRE     = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	unexpandedRE  = regexp.MustCompile(`^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$|^\$([A-Za-z_][A-Za-z0-9_]*)$`)
	errSecretForm = errors.New("malformed secret reference")
)

// CheckSecret reports a malformed secret reference (see Secret) without
// reading anything: an empty or invalid variable or credential name, an
// empty file path, or a "${NAME}" that looks like it expects expansion.
// The error does not contain the value unless it is a reference.
func CheckSecret(value string) error {
	_, err := secretRef(value)
	return err
}

// Secret resolves the value of a connector's secret field (a password, a
// token, a key passphrase). Loading a config never expands anything:
// "${MQTT_PASSWORD}" in the file stays those 16 characters, so a value
// cannot pull in the environment by accident (and CheckSecret rejects it
// with a hint). Instead a secret field takes a reference:
//
//	password: env:MQTT_PASSWORD        # the environment variable MQTT_PASSWORD
//	password: file:/etc/sluice/mqtt.pw # the file's contents
//	password: credential:mqtt.pw       # $CREDENTIALS_DIRECTORY/mqtt.pw (systemd LoadCredential=)
//	password: s3cret                   # anything else is the secret itself
//
// A relative file path is relative to the agent's working directory (/
// under systemd). File and credential contents lose their trailing
// newlines. A secret that itself begins with "env:", "file:" or
// "credential:" must be given through a reference.
//
// A reference to something unset, missing or empty is an error that names
// the reference, never a value; the value must not be logged either.
// Connectors call CheckSecret from their constructor, which must do no
// I/O, and Secret when the source starts.
func Secret(value string) (string, error) {
	ref, err := secretRef(value)
	if err != nil {
		return "", err
	}
	switch ref.kind {
	case "":
		return value, nil
	case SecretEnvPrefix:
		v, ok := os.LookupEnv(ref.name)
		if !ok {
			return "", fmt.Errorf("secret %s: environment variable %s is not set", value, ref.name)
		}
		if v == "" {
			return "", fmt.Errorf("secret %s: environment variable %s is empty", value, ref.name)
		}
		return v, nil
	case SecretFilePrefix:
		return readSecretFile(value, ref.name)
	default: // credential
		dir := os.Getenv("CREDENTIALS_DIRECTORY")
		if dir == "" {
			return "", fmt.Errorf("secret %s: $CREDENTIALS_DIRECTORY is not set (credentials come from systemd LoadCredential=%s:/path in the unit)", value, ref.name)
		}
		return readSecretFile(value, filepath.Join(dir, ref.name))
	}
}

// secretReference is a parsed secret value; kind "" is a literal.
type secretReference struct {
	kind, name string
}

func secretRef(value string) (secretReference, error) {
	if m := unexpandedRE.FindStringSubmatch(value); m != nil {
		name := m[1] + m[2]
		return secretReference{}, fmt.Errorf("%w: %q is not expanded; write env:%s to read the environment variable", errSecretForm, value, name)
	}
	for _, kind := range []string{SecretEnvPrefix, SecretFilePrefix, SecretCredentialPrefix} {
		name, ok := strings.CutPrefix(value, kind)
		if !ok {
			continue
		}
		switch kind {
		case SecretEnvPrefix:
			if !envNameRE.MatchString(name) {
				return secretReference{}, fmt.Errorf("%w %q: want env:NAME with a variable name of letters, digits and '_'", errSecretForm, value)
			}
		case SecretFilePrefix:
			if name == "" || strings.ContainsRune(name, 0) {
				return secretReference{}, fmt.Errorf("%w %q: want file:/path/to/secret", errSecretForm, value)
			}
		case SecretCredentialPrefix:
			if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
				return secretReference{}, fmt.Errorf("%w %q: want credential:NAME, a credential name without '/'", errSecretForm, value)
			}
		}
		return secretReference{kind: kind, name: name}, nil
	}
	return secretReference{}, nil
}

// readSecretFile reads a secret file for the reference ref.
func readSecretFile(ref, path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("secret %s: %w", ref, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxSecretBytes+1))
	if err != nil {
		return "", fmt.Errorf("secret %s: %w", ref, err)
	}
	if len(data) > maxSecretBytes {
		return "", fmt.Errorf("secret %s: %s is larger than %d bytes; is it the right file?", ref, path, maxSecretBytes)
	}
	s := strings.TrimRight(string(data), "\r\n")
	if s == "" {
		return "", fmt.Errorf("secret %s: %s is empty", ref, path)
	}
	return s, nil
}
