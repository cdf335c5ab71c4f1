package configs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSecret(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pwFile := write("mqtt.pw", "s3cret\n")
	write("crlf.pw", "s3cret\r\n")
	write("empty.pw", "\n")
	write("big.pw", strings.Repeat("x", maxSecretBytes+1))
	t.Setenv("CREDENTIALS_DIRECTORY", dir)
	t.Setenv("SLUICE_TEST_SECRET", "from-env")
	t.Setenv("SLUICE_TEST_EMPTY", "")
	t.Setenv("SLUICE_TEST_UNSET", "") // restored after the test ...
	os.Unsetenv("SLUICE_TEST_UNSET")  // ... and unset during it

	for _, tc := range []struct{ in, want string }{
		{"plain-password", "plain-password"},
		{"", ""},
		{"Env:NOT_A_REF", "Env:NOT_A_REF"},
		{"p${a}ss", "p${a}ss"},
		{"env:SLUICE_TEST_SECRET", "from-env"},
		{"file:" + pwFile, "s3cret"},
		{"file:" + filepath.Join(dir, "crlf.pw"), "s3cret"},
		{"credential:mqtt.pw", "s3cret"},
	} {
		got, err := Secret(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("Secret(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
		if err := CheckSecret(tc.in); err != nil {
			t.Errorf("CheckSecret(%q): %v", tc.in, err)
		}
	}

	for _, tc := range []struct {
		in, want string
		is       error // also errors.Is
		form     bool  // CheckSecret rejects it too
	}{
		{in: "env:SLUICE_TEST_UNSET", want: "secret env:SLUICE_TEST_UNSET: environment variable SLUICE_TEST_UNSET is not set"},
		{in: "env:SLUICE_TEST_EMPTY", want: "environment variable SLUICE_TEST_EMPTY is empty"},
		{in: "file:" + filepath.Join(dir, "missing.pw"), want: "missing.pw: no such file", is: fs.ErrNotExist},
		{in: "file:" + filepath.Join(dir, "empty.pw"), want: "empty.pw is empty"},
		{in: "file:" + filepath.Join(dir, "big.pw"), want: "larger than 65536 bytes"},
		{in: "credential:missing", want: "secret credential:missing: open " + filepath.Join(dir, "missing"), is: fs.ErrNotExist},
		{in: "env:", want: `malformed secret reference "env:"`, form: true},
		{in: "env:BAD-NAME", want: "want env:NAME", form: true},
		{in: "file:", want: "want file:/path/to/secret", form: true},
		{in: "credential:", want: "want credential:NAME", form: true},
		{in: "credential:../etc/passwd", want: "without '/'", form: true},
		{in: "credential:..", want: "want credential:NAME", form: true},
		{in: "${MQTT_PASSWORD}", want: `"${MQTT_PASSWORD}" is not expanded; write env:MQTT_PASSWORD`, form: true},
		{in: "$MQTT_PASSWORD", want: "write env:MQTT_PASSWORD", form: true},
	} {
		got, err := Secret(tc.in)
		if err == nil || got != "" || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Secret(%q) = %q, %v; want error %q", tc.in, got, err, tc.want)
			continue
		}
		if tc.is != nil && !errors.Is(err, tc.is) {
			t.Errorf("Secret(%q): %v is not %v", tc.in, err, tc.is)
		}
		if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "from-env") {
			t.Errorf("Secret(%q) error leaks a value: %v", tc.in, err)
		}
		if cerr := CheckSecret(tc.in); (cerr != nil) != tc.form {
			t.Errorf("CheckSecret(%q) = %v, want error: %v", tc.in, cerr, tc.form)
		}
	}

	t.Setenv("CREDENTIALS_DIRECTORY", "")
	if _, err := Secret("credential:mqtt.pw"); err == nil || !strings.Contains(err.Error(), "$CREDENTIALS_DIRECTORY is not set") ||
		!strings.Contains(err.Error(), "LoadCredential=mqtt.pw:") {
		t.Errorf("credential without CREDENTIALS_DIRECTORY: %v", err)
	}
}

// TestSecretsNotExpanded checks that loading leaves ${...} alone.
func TestSecretsNotExpanded(t *testing.T) {
	clearEnv(t)
	t.Setenv("TENANT", "expanded")
	c, err := Load("testdata/secrets-unexpanded.good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Tenant.Name != "${TENANT}" {
		t.Errorf("tenant.name = %q, want it unexpanded", c.Tenant.Name)
	}
}
