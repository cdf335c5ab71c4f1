package connectors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sluice-edge/sluice/connectors/point"
)

// Sink is where a source delivers points. The agent gives every source the
// same sink (the store). Both methods may block while the store applies
// back-pressure; both are safe for concurrent use.
type Sink interface {
	// EnsureStream creates the stream if it does not exist. If it exists
	// with another kind, or the sink refuses the stream, it returns a
	// *StreamError (possibly wrapped) and the source should convert or drop
	// the points (and count them). Any other error is transient: the source
	// keeps the points and retries.
	EnsureStream(ctx context.Context, spec point.StreamSpec) error
	// Write stores a batch of points of any number of streams. A nil error
	// means every point is durably on disk, so the source may now
	// acknowledge the messages that carried them. A point whose stream does
	// not exist or whose value has the wrong kind fails the whole batch and
	// nothing of it is stored.
	Write(ctx context.Context, points []point.Point) error
}

// Source is one configured data source (an MQTT broker, an OPC UA server,
// a PI Web API). Run ingests until ctx is done and then returns nil. It
// retries unreachable servers itself, with backoff; it returns an error
// only for what retrying cannot fix. Run is called once per Source value.
type Source interface {
	Run(ctx context.Context, sink Sink) error
}

// HTTPSource is an optional interface of a Source that is sent its data
// over HTTP instead of fetching it (the OMF ingress of connectors/pi/omf). The
// agent mounts each handler of Routes on its API listener at its pattern,
// a net/http ServeMux path such as "/omf", before it calls Run, and
// unmounts it when the source stops; two sources may not claim one
// pattern. The agent adds no authentication, limits or metrics: the
// handlers do their own. Routes does no I/O and returns the same handlers
// on every call; they are safe for concurrent use and answer 503 Service
// Unavailable while Run is not running.
type HTTPSource interface {
	Source
	Routes() map[string]http.Handler
}

// Env is what the agent gives a connector when it builds a source.
type Env struct {
	Name    string       // the source's name from the config, used as a label
	DataDir string       // the agent's data directory (certificates, session state)
	Logger  *slog.Logger // never nil; already carries source=<name>
	Metrics *Metrics     // never nil; shared by every source of the agent
	// Authenticate checks an API token of the agent's users (the Bearer
	// token in an Authorization header value) and returns the user it
	// belongs to, if that user may write data. HTTP sources use it to
	// accept the agent's users beside their own credentials. Nil while the
	// agent only validates a config.
	//
	// may is nil for a user who may write any stream (a tenant admin).
	// Otherwise (an ingest token) it says which streams the user may
	// write, and the source must ask it for every stream before it
	// creates or writes it, refusing (403) what it says no to, and let
	// the user create definitions and write values only: no deletes, no
	// changes to what others defined.
	Authenticate func(bearer string) (user string, may func(stream string) bool, err error)
}

// Registration makes a connector known under its config `type:`.
type Registration struct {
	Type string
	// Section is the key of the connector's own config block in a source
	// entry (e.g. "mqtt" for type mqtt, "pi_webapi" for type pi-webapi).
	Section string
	// Sample is a documented YAML example of the section; configs and
	// docs embed it.
	Sample string
	// New builds a source. decode fills the connector's own config struct
	// from its section, rejecting unknown keys. New validates the config
	// and returns an error that names the bad key relative to the section
	// (e.g. "subscriptions[0].topic: empty"). New must do no I/O: the
	// agent calls it to validate a config before touching anything.
	New func(env Env, decode func(into any) error) (Source, error)
}

var (
	regMu    sync.RWMutex
	registry = map[string]Registration{}
)

// Register adds a connector. It is meant to be called from init and panics
// on a duplicate or incomplete registration, which is a programming error.
func Register(r Registration) {
	if r.Type == "" || r.Section == "" || r.New == nil {
		panic("connectors: incomplete registration")
	}
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := registry[r.Type]; dup {
		panic("connectors: duplicate registration of " + r.Type)
	}
	registry[r.Type] = r
}

// Lookup returns the registration of a type.
func Lookup(typ string) (Registration, bool) {
	regMu.RLock()
	defer regMu.RUnlock()
	r, ok := registry[typ]
	return r, ok
}

// Types lists the registered types, sorted.
func Types() []string {
	regMu.RLock()
	defer regMu.RUnlock()
	out := make([]string, 0, len(registry))
	for t := range registry {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// ErrUnknownType is returned by New for an unregistered type.
var ErrUnknownType = errors.New("unknown source type")

// New builds a source of a registered type.
func New(typ string, env Env, decode func(any) error) (Source, error) {
	r, ok := Lookup(typ)
	if !ok {
		return nil, fmt.Errorf("%w %q (known: %v)", ErrUnknownType, typ, Types())
	}
	return r.New(env, decode)
}

// Metrics are the counters every connector shares, labelled by source name.
// The agent creates one Metrics and passes it to every source, so that
// several sources of one type do not register the same collector twice.
type Metrics struct {
	Messages      *prometheus.CounterVec   // sluice_connector_messages_total{source}
	Points        *prometheus.CounterVec   // sluice_connector_points_received_total{source}
	Written       *prometheus.CounterVec   // sluice_connector_points_written_total{source}
	Errors        *prometheus.CounterVec   // sluice_connector_errors_total{source,reason}
	Dropped       *prometheus.CounterVec   // sluice_connector_points_dropped_total{source,reason}
	BatchSeconds  *prometheus.HistogramVec // sluice_connector_batch_duration_seconds{source}
	QueueDepth    *prometheus.GaugeVec     // sluice_connector_queue_depth{source}
	Connected     *prometheus.GaugeVec     // sluice_connector_connected{source}
	Reconnects    *prometheus.CounterVec   // sluice_connector_reconnects_total{source}
	Notifications *prometheus.CounterVec   // sluice_connector_notifications_total{source} (OPC UA)
	// ReceiveTime counts points whose payload was to carry a timestamp
	// but did not, and which took the time of receipt instead.
	ReceiveTime *prometheus.CounterVec // sluice_connector_points_receive_time_total{source}
	// LastPoint is sluice_source_last_point_timestamp_seconds{source}: when
	// the agent last stored points of the source (its own clock). The
	// agent sets it, not the connectors: it wraps each source's Sink.
	LastPoint *prometheus.GaugeVec
}

// Init makes the source's series exist before anything happens, so
// that rate() and absent-value alerts see a 0 rather than nothing: the
// counters of every source at 0, its "run" errors (the agent's restarts
// of a failed source), and LastPoint at now (a source that never
// delivers then looks quiet from its start, not since 1970). Gauges a
// connector owns (connected, queue depth) are left to it: a 0 there
// would say "disconnected" of sources that have no connection.
func (m *Metrics) Init(source string) {
	for _, v := range []*prometheus.CounterVec{m.Messages, m.Points, m.Written, m.Reconnects} {
		v.WithLabelValues(source)
	}
	m.Errors.WithLabelValues(source, "run")
	m.LastPoint.WithLabelValues(source).SetToCurrentTime()
}

// Forget drops the gauges of a removed source, so that it does not look
// quiet (or connected) forever; its counters stay, as counters do.
func (m *Metrics) Forget(source string) {
	for _, v := range []*prometheus.GaugeVec{m.LastPoint, m.Connected, m.QueueDepth} {
		v.DeleteLabelValues(source)
	}
}

// NewMetrics creates the shared connector metrics and registers them with
// reg. A nil reg gives working but unregistered metrics (tests).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	src := []string{"source"}
	m := &Metrics{
		Messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_connector_messages_total", Help: "Messages received from a source (MQTT messages, OMF requests, notifications).",
		}, src),
		Points: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_connector_points_received_total", Help: "Points decoded from a source's messages.",
		}, src),
		Written: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_connector_points_written_total", Help: "Points of a source durably written to the store.",
		}, src),
		Errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_connector_errors_total", Help: "Errors of a source by reason (bad payload, write failure, connection).",
		}, []string{"source", "reason"}),
		Dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_connector_points_dropped_total", Help: "Points a source dropped on purpose, by reason (queue full at QoS 0, kind mismatch).",
		}, []string{"source", "reason"}),
		BatchSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "sluice_connector_batch_duration_seconds", Help: "Time to durably write one batch of a source.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, src),
		QueueDepth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sluice_connector_queue_depth", Help: "Points waiting between a source and the store.",
		}, src),
		Connected: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sluice_connector_connected", Help: "1 while a source is connected to its server.",
		}, src),
		Reconnects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_connector_reconnects_total", Help: "Reconnections of a source to its server.",
		}, src),
		Notifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_connector_notifications_total", Help: "Subscription notifications received (OPC UA).",
		}, src),
		ReceiveTime: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_connector_points_receive_time_total",
			Help: "Points without the timestamp their payload was configured to carry, stamped with the time of receipt.",
		}, src),
		LastPoint: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sluice_source_last_point_timestamp_seconds",
			Help: "When the agent last stored points of a source (Unix seconds, the agent's clock); the source's start until it delivers.",
		}, src),
	}
	if reg != nil {
		reg.MustRegister(m.Messages, m.Points, m.Written, m.Errors, m.Dropped,
			m.BatchSeconds, m.QueueDepth, m.Connected, m.Reconnects, m.Notifications, m.ReceiveTime, m.LastPoint)
	}
	return m
}
