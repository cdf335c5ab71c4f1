// Package configs is the agent's configuration: the schema of the YAML file
// (/etc/sluice/agent.yaml), its embedded defaults, strict loading, and
// validation, plus the documented example files.
//
// Loading is strict, in the order of prometheus' config package:
//
//  1. start from Default(), so that every key is optional and the agent
//     runs with no file at all;
//  2. decode the file, rejecting unknown keys anywhere, duplicate keys and
//     more than one YAML document;
//  3. apply the environment overrides (SLUICE_DATA_DIR, SLUICE_API_LISTEN,
//     SLUICE_LOG_LEVEL, SLUICE_FEDERATION_LISTEN, SLUICE_GOSSIP_LISTEN),
//     then Options.Overrides (the flags of `sluice agent`);
//  4. validate, which reports every problem at once: with the Options of
//     LoadWith, every source's type and connector section too.
//
// Every error names the key path (`sources[1].name`), the line where
// known, the file for Load, and a hint where one helps ("did you mean
// listen?"); the errors are *FieldError values joined with errors.Join.
// Warnings lists what is valid but most likely a mistake.
//
// configs does not know the connectors' schemas. A source entry keeps its
// connector section as a raw yaml.Node, and the connector decodes it with
// SourceConfig.Decode, which is just as strict; Options.CheckSource lets
// the caller (the agent) run each connector's check in the same pass. Secret values are never
// expanded while loading; connectors resolve them with Secret when they
// start.
//
// configs imports nothing of Sluice, does no I/O except in Load and Secret,
// and holds no global state besides the embedded example files.
package configs

import (
	_ "embed"
	"os"
	"strings"
	"time"
)

// Example is configs/agent.example.yaml: every key, documented. It is valid
// (a test parses it), so `sluice agent --print-example-config` can print it
// as a starting point.
//
//go:embed agent.example.yaml
var Example string

// Minimal is configs/agent.minimal.yaml: the smallest useful production
// config (tenant, data dir, federation addresses, one source).
//
//go:embed agent.minimal.yaml
var Minimal string

// DefaultPath is where the packaged agent reads its config file.
const DefaultPath = "/etc/sluice/agent.yaml"

// Environment variables that override keys of the file. An unset or empty
// variable overrides nothing. They are applied after the file and before
// validation, so a bad value is reported like a bad key, with the variable
// named.
const (
	EnvDataDir   = "SLUICE_DATA_DIR"   // overrides data_dir
	EnvAPIListen = "SLUICE_API_LISTEN" // overrides api.listen
	EnvLogLevel  = "SLUICE_LOG_LEVEL"  // overrides log.level
	// EnvFederationListen and EnvGossipListen override federation.listen
	// and federation.gossip, so several agents can share one machine
	// (tests, the demo) without a file each.
	EnvFederationListen = "SLUICE_FEDERATION_LISTEN"
	EnvGossipListen     = "SLUICE_GOSSIP_LISTEN"
)

// Config is the whole agent configuration. The zero value is not useful:
// start from Default() or use Load / Parse.
type Config struct {
	// Tenant describes this agent's tenant. The tenant's identity (its key
	// pair) lives in the data dir, not here.
	Tenant TenantConfig `yaml:"tenant"`
	// DataDir holds the store, the tenant identity and all other state. It
	// is created by the agent at start (never by Validate). Packaged
	// installs use /var/lib/sluice (systemd StateDirectory=sluice).
	// Overridden by SLUICE_DATA_DIR.
	DataDir string `yaml:"data_dir"`
	// Log configures the agent's log/slog output (stderr, read by journald).
	Log LogConfig `yaml:"log"`
	// API is the local HTTP API: CLI, web console, /metrics, /healthz.
	API APIConfig `yaml:"api"`
	// Metrics configures /metrics, served on api.listen.
	Metrics MetricsConfig `yaml:"metrics"`
	// Federation is what partners' agents talk to.
	Federation FederationConfig `yaml:"federation"`
	// Store tunes the local time-series store.
	Store StoreConfig `yaml:"store"`
	// Audit configures the tamper-evident audit log.
	Audit AuditConfig `yaml:"audit"`
	// SMTP, when Server is set, lets the agent e-mail invitation tokens to
	// the invitee's address as well as printing them.
	SMTP SMTPConfig `yaml:"smtp"`
	// ShutdownTimeout bounds a graceful stop (leave the gossip clusters,
	// stop sources, flush, close the store) before the agent gives up.
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
	// Sources are the data sources, each handled by one connector.
	Sources []SourceConfig `yaml:"sources"`

	// lines maps key paths to the line they were read from, so that
	// Validate can point at the line; nil for a Config built in code.
	lines map[string]int
	// env maps key paths to the environment variable or flag that set
	// them.
	env map[string]string
}

// TenantConfig describes the tenant.
type TenantConfig struct {
	// Name is the display name shown to partners and in the console. It
	// is not an identity: the tenant ID is the fingerprint of the tenant's
	// public key. Default: this machine's host name (up to the first dot),
	// or "sluice".
	Name string `yaml:"name"`
}

// LogConfig configures logging.
type LogConfig struct {
	// Level is the minimum level logged: debug, info, warn or error.
	// Default info. Overridden by SLUICE_LOG_LEVEL.
	Level string `yaml:"level"`
	// Format is text (logfmt-like, the default) or json.
	Format string `yaml:"format"`
}

// APIConfig configures the local HTTP API.
type APIConfig struct {
	// Listen is the host:port the API listens on. Default 127.0.0.1:7080:
	// the API is for local users and the CLI; put a reverse proxy in front
	// to reach the console from elsewhere. Port 0 picks a free port.
	// Overridden by SLUICE_API_LISTEN.
	Listen string `yaml:"listen"`
	// MaxBodyBytes bounds a request body; larger requests get 413.
	// Default 32 MiB.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// MaxInflight bounds concurrent write requests; more get 429.
	// Default 64.
	MaxInflight int `yaml:"max_inflight"`
}

// MetricsConfig configures the Prometheus endpoint /metrics.
type MetricsConfig struct {
	// Auth is who may scrape /metrics. Its labels name partner tenants
	// (their ids) and communities, so an API reachable from other hosts
	// should not serve them to anyone.
	//
	//	none   (the default) anyone who reaches api.listen, which is
	//	       loopback unless configured otherwise
	//	token  only requests with "Authorization: Bearer <token>", the
	//	       token being the content of <data_dir>/metrics.token; the
	//	       agent writes a random one there (0600) when the file is
	//	       missing or empty, and reads the file at every scrape, so a
	//	       token written into it works at once. Prometheus sends it
	//	       with authorization: {credentials_file: ...}.
	Auth string `yaml:"auth"`
}

// The values of MetricsConfig.Auth.
const (
	MetricsAuthNone  = "none"
	MetricsAuthToken = "token"
)

// FederationConfig configures the partner-facing endpoints.
type FederationConfig struct {
	// Listen is the host:port of the mTLS endpoint for partner reads and
	// community handshakes. Default 127.0.0.1:7443 (loopback, for a first
	// try); 0.0.0.0:7443 to let partners in.
	Listen string `yaml:"listen"`
	// Gossip is the host:port of the gossip (memberlist) endpoint, TCP and
	// UDP, shared by every community. Default 127.0.0.1:7946;
	// 0.0.0.0:7946 to let partners in.
	Gossip string `yaml:"gossip"`
	// Advertise is the host name or IP partners dial, without a port: they
	// dial Advertise with the port of Listen and of Gossip. Empty lets the
	// agent choose (the listen host when it is not a wildcard, else this
	// machine's host name).
	Advertise string `yaml:"advertise"`
	// PartnerReads bounds the reads one partner tenant may have in flight
	// on this agent; more get 429 with Retry-After. Default 8.
	PartnerReads int `yaml:"partner_reads"`
	// PartnerPointsPerSecond bounds the points one partner tenant may read
	// per second, on average, with bursts of 10 s worth; 0 sets no bound.
	PartnerPointsPerSecond float64 `yaml:"partner_points_per_second"`
}

// AuditConfig configures the audit log (in <data_dir>/audit).
type AuditConfig struct {
	// Retention is how long audit entries are kept, separately from the
	// data's retention. Default 365d.
	Retention Duration `yaml:"retention"`
}

// SMTPConfig is the mail relay for invitations.
type SMTPConfig struct {
	// Server is the relay's host:port (587 with STARTTLS, or 25); empty
	// sends no mail.
	Server string `yaml:"server"`
	// From is the sender address.
	From string `yaml:"from"`
	// Username and Password authenticate to the relay (PLAIN, only over
	// TLS or to localhost). Password is a secret reference: env:NAME,
	// file:/path or credential:NAME.
	Username string `yaml:"username"`
	Password string `yaml:"password"`
}

// StoreConfig tunes the store.
type StoreConfig struct {
	// SyncWrites makes every acknowledged write durable (fsync before the
	// acknowledgement). Default true; false trades durability after a
	// power cut for throughput.
	SyncWrites bool `yaml:"sync_writes"`
	// Retention is the default maximum age of points; older points are
	// deleted in the background. 0 (the default) keeps points forever.
	// Streams may set their own retention.
	Retention Duration `yaml:"retention"`
	// CompactInterval is how often fresh chunks are compacted into larger
	// compressed ones. Default 1m.
	CompactInterval Duration `yaml:"compact_interval"`
	// GCInterval is how often Badger's value log is garbage collected.
	// Default 10m.
	GCInterval Duration `yaml:"gc_interval"`
	// MaxSize bounds the store's size on disk ("20GiB"); past it the
	// oldest chunks of all streams are dropped first, down to 90%. Each
	// stream keeps its newest chunk; when only those are left, writes are
	// refused (HTTP 507) until space is freed. 0 (the default): no bound.
	MaxSize ByteSize `yaml:"max_size"`
	// MinFree is the space the store leaves free on its file system;
	// below it (plus room to flush the memtable) writes are refused
	// until space returns. Default 256MiB.
	MinFree ByteSize `yaml:"min_free"`
	// RetentionRules override retention for streams by name prefix or
	// source; the first rule that matches a stream applies.
	RetentionRules []RetentionRule `yaml:"retention_rules"`
}

// RetentionRule is one entry of store.retention_rules.
type RetentionRule struct {
	// Prefix selects the streams whose names start with it ("site1/").
	Prefix string `yaml:"prefix"`
	// Source selects the streams a source of that name created.
	Source string `yaml:"source"`
	// MaxAge replaces store.retention for these streams (0: keep it).
	MaxAge Duration `yaml:"max_age"`
	// MaxSize bounds the bytes these streams keep together; the oldest
	// chunks among them go first. 0: no bound of their own.
	MaxSize ByteSize `yaml:"max_size"`
	// Downsample keeps summaries of these streams (count, min, max, mean,
	// time-weighted mean, first, last per interval) for longer than their
	// raw points, which then go at max_age (or store.retention). Levels
	// finest first, each interval a multiple of the one before; the
	// summaries API answers from them, for ranges older than the raw
	// points, when its interval is a multiple of a level's.
	Downsample []DownsampleLevel `yaml:"downsample"`
}

// DownsampleLevel is one entry of store.retention_rules[].downsample.
type DownsampleLevel struct {
	// Interval of the summaries ("1m", "1h"), on the grid of the epoch.
	Interval Duration `yaml:"interval"`
	// MaxAge is how long they are kept; 0 (the default): forever.
	MaxAge Duration `yaml:"max_age"`
}

// The defaults of Default().
const (
	DefaultDataDir          = "./sluice-data"
	DefaultAPIListen        = "127.0.0.1:7080"
	DefaultFederationListen = "127.0.0.1:7443"
	DefaultGossipListen     = "127.0.0.1:7946"
	DefaultMaxBodyBytes     = 32 << 20
	DefaultMaxInflight      = 64
	DefaultShutdownTimeout  = 30 * time.Second
	DefaultCompactInterval  = time.Minute
	DefaultGCInterval       = 10 * time.Minute
	DefaultStoreMinFree     = 256 << 20
)

// Default returns the embedded defaults: a valid config with no sources,
// every listener on loopback and the data under ./sluice-data, so that the
// agent runs for a first try with no file at all. It reads the host name
// for the tenant name and nothing else.
func Default() Config {
	return Config{
		Tenant:  TenantConfig{Name: defaultTenantName()},
		DataDir: DefaultDataDir,
		Log:     LogConfig{Level: "info", Format: "text"},
		API: APIConfig{
			Listen:       DefaultAPIListen,
			MaxBodyBytes: DefaultMaxBodyBytes,
			MaxInflight:  DefaultMaxInflight,
		},
		Metrics: MetricsConfig{Auth: MetricsAuthNone},
		Federation: FederationConfig{
			Listen:       DefaultFederationListen,
			Gossip:       DefaultGossipListen,
			PartnerReads: 8,
		},
		Store: StoreConfig{
			SyncWrites:      true,
			CompactInterval: Duration(DefaultCompactInterval),
			GCInterval:      Duration(DefaultGCInterval),
			MinFree:         DefaultStoreMinFree,
		},
		ShutdownTimeout: Duration(DefaultShutdownTimeout),
		Audit:           AuditConfig{Retention: Duration(365 * 24 * time.Hour)},
	}
}

// defaultTenantName is the host name up to its first dot, or "sluice".
func defaultTenantName() string {
	h, err := os.Hostname()
	if err != nil {
		return "sluice"
	}
	h, _, _ = strings.Cut(h, ".")
	if h = strings.TrimSpace(h); h == "" || checkDisplayName(h) != "" {
		return "sluice"
	}
	return h
}
