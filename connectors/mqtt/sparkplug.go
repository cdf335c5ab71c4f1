package mqtt

// Sparkplug B (Eclipse Sparkplug 3.0) as a payload format of the source.
//
// Topics are spBv1.0/{group}/{type}/{edge node}[/{device}]. Births
// (NBIRTH, DBIRTH) define an edge node's and its devices' metrics: name,
// alias, datatype and properties, from which each metric's stream and its
// spec (kind, unit, description) are made once; data (NDATA, DDATA) may
// then name metrics by alias only. Every message of an edge node but its
// NDEATH carries a sequence number, one more than the last (mod 256); a
// gap, an alias or device that no birth defined, or data before any birth
// makes the source ask the node to be born again (NCMD "Node
// Control/Rebirth", at most once per rebirth_interval per node). An NDEATH
// (matching the NBIRTH's bdSeq) or DDEATH marks every stream of the node or
// device that had a point with a point without value of quality
// BadCommunicationError at the death, as the OPC UA source marks a lost
// session. With sparkplug.host_id the source is a host application and
// keeps a retained STATE on spBv1.0/STATE/{host_id}.
//
// All of this runs in the message handler, in arrival order, under spHost.mu;
// the points then go through the queue like any other.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/sluice-edge/sluice/connectors/point"
	"google.golang.org/protobuf/encoding/protowire"
)

const spNamespace = "spBv1.0"

// Reasons of sluice_connector_errors_total and _points_dropped_total.
const (
	reasonBadSparkplug   = "bad_sparkplug"            // payload is not a Sparkplug B payload
	reasonSPBadMetric    = "sparkplug_bad_metric"     // birth metric without name or datatype
	reasonSPSeqGap       = "sparkplug_seq_gap"        // sequence number not the one expected
	reasonSPUnknownAlias = "sparkplug_unknown_alias"  // data names a metric no birth defined
	reasonSPNoBirth      = "sparkplug_no_birth"       // data of a node or device not born
	reasonSPUnsupported  = "sparkplug_unsupported"    // dropped: datatype not stored (data sets, templates, arrays, bytes)
	reasonSPRebirth      = "sparkplug_rebirth_failed" // the rebirth request could not be sent
	reasonSPState        = "sparkplug_state"          // STATE could not be published
)

// QualitySparkplugDead is the quality of the points that mark a Sparkplug
// death: OPC UA's BadCommunicationError, as the OPC UA source marks a gap.
const QualitySparkplugDead point.Quality = 0x80050000

// QualitySparkplugStale is the quality of a value whose Quality property
// is STALE (500): OPC UA's UncertainLastUsableValue.
const QualitySparkplugStale point.Quality = 0x40900000

// Sparkplug data types (sparkplug_b.proto, enum DataType).
const (
	spInt8     = 1
	spInt16    = 2
	spInt32    = 3
	spInt64    = 4
	spUInt8    = 5
	spUInt16   = 6
	spUInt32   = 7
	spUInt64   = 8
	spFloat    = 9
	spDouble   = 10
	spBoolean  = 11
	spString   = 12
	spDateTime = 13
	spText     = 14
	spUUID     = 15
)

// spKind is the stream kind of a data type; 0 for the types that are not
// stored.
func spKind(dt uint32) point.Kind {
	switch dt {
	case spInt8, spInt16, spInt32, spInt64, spUInt8, spUInt16, spUInt32, spUInt64, spDateTime:
		return point.KindInt
	case spFloat, spDouble:
		return point.KindFloat
	case spBoolean:
		return point.KindBool
	case spString, spText, spUUID:
		return point.KindString
	}
	return 0
}

// compileSparkplug validates a subscription of format sparkplug.
func compileSparkplug(s *subscription, sc Subscription, f *filter, key string, p *problems) {
	s.sparkplug = true
	if sc.Kind != "" {
		p.add(key+".kind", "set, but format sparkplug takes kinds from the births' datatypes")
	}
	if !isZeroJSON(sc.JSON) {
		p.add(key+".json", "set, but format is not json")
	}
	if f == nil {
		return
	}
	if f.levels[0] != spNamespace {
		p.add(key+".topic", "%q: format sparkplug needs a topic under %s/ (e.g. %s/# or %s/plant1/#)",
			f.filter, spNamespace, spNamespace, spNamespace)
	} else if len(f.names) > 0 {
		p.add(key+".topic", "%q: format sparkplug names the levels itself ({group}, {node}, {device}); use + or #", sc.Topic)
	}
}

// checkSparkplug validates the sparkplug section against the subscriptions.
func checkSparkplug(cfg *Config, subs []*subscription, p *problems) {
	sp := cfg.Sparkplug
	has := false
	for _, s := range subs {
		has = has || s.sparkplug
	}
	if !has {
		if sp != DefaultConfig().Sparkplug {
			p.add("sparkplug", "set, but no subscription has format sparkplug")
		}
		return
	}
	if h := sp.HostID; h != "" {
		switch {
		case strings.ContainsAny(h, "+/#\x00"):
			p.add("sparkplug.host_id", "%q contains +, /, # or NUL", h)
		case !utf8.ValidString(h):
			p.add("sparkplug.host_id", "not UTF-8")
		case !cfg.CleanSession:
			p.add("sparkplug.host_id", "needs clean_session: true (Sparkplug 3.0 host applications connect with a clean session)")
		}
	}
	if sp.RebirthInterval <= 0 {
		p.add("sparkplug.rebirth_interval", "must be positive")
	}
}

// spHost is the Sparkplug host application state of a source.
type spHost struct {
	s          *Source
	cfg        SparkplugConfig
	stateTopic string // spBv1.0/STATE/{host_id}, or "" without a host id

	mu    sync.Mutex
	nodes map[spKey]*spNode
	// The labels of the last birth's streams (under mu): a birth's
	// metrics share them.
	lastLabels map[string]string
	lastTopic  string
	lastSub    *subscription

	pubMu   sync.Mutex
	pub     pubClient // the connected client; nil while disconnected
	stateTS int64     // the STATE timestamp of the current connection

	rebirths   atomic.Int64 // rebirth requests sent
	suppressed atomic.Int64 // rebirth requests held back by rebirth_interval
}

// spMaxNodes bounds the edge nodes remembered.
const spMaxNodes = 100000

type spKey struct{ group, node string }

// spNode is what the host knows of one edge node.
type spNode struct {
	key         spKey
	born        bool // NBIRTH seen, NDEATH not since
	bdSeq       uint64
	hasBdSeq    bool
	seq         uint64 // the last sequence number
	hasSeq      bool
	metrics     spMetrics // the node's own, from its NBIRTH
	devices     map[string]*spDevice
	lastRebirth time.Time
}

type spDevice struct {
	born    bool // DBIRTH seen, DDEATH or NBIRTH/NDEATH not since
	metrics spMetrics
}

// spMetrics are the metrics one birth defined.
type spMetrics struct {
	byAlias map[uint64]*spDef
	byName  map[string]*spDef
	all     []*spDef
}

// spDef is one metric defined by a birth.
type spDef struct {
	datatype uint32
	spec     *point.StreamSpec // nil: not stored (see spKind and spSkipped)
	seen     bool              // a point was queued since the birth: a death marks it
}

func newSPHost(s *Source) *spHost {
	for _, sub := range s.subs {
		if sub.sparkplug {
			h := &spHost{s: s, cfg: s.cfg.Sparkplug, nodes: map[spKey]*spNode{}}
			if h.cfg.HostID != "" {
				h.stateTopic = spNamespace + "/STATE/" + h.cfg.HostID
			}
			return h
		}
	}
	return nil
}

// will returns the STATE timestamp of a new connection and its will.
func (h *spHost) will() (int64, *will) {
	ts := time.Now().UnixMilli()
	if h.stateTopic == "" {
		return ts, nil
	}
	return ts, &will{topic: h.stateTopic, payload: spStatePayload(false, ts), qos: 1, retained: true}
}

func spStatePayload(online bool, ts int64) []byte {
	return fmt.Appendf(nil, `{"online":%t,"timestamp":%d}`, online, ts)
}

// filters adds the host's own STATE topic to the subscription, unless a
// sparkplug filter covers it.
func (h *spHost) filters(f map[string]byte) {
	if h.stateTopic == "" {
		return
	}
	for _, sub := range h.s.subs {
		if sub.sparkplug && sub.topic.match(h.stateTopic) {
			return
		}
	}
	f[h.stateTopic] = 1
}

// online is called once a connection is subscribed: it publishes the STATE
// birth (the first message after subscribing, as Sparkplug 3.0 wants) and
// makes the client the one rebirth requests go out on.
func (h *spHost) online(ctx context.Context, c client, ts int64) error {
	pub, _ := c.(pubClient)
	if h.stateTopic != "" {
		if pub == nil {
			return errors.New("the client cannot publish")
		}
		if err := wait(ctx, pub.Publish(h.stateTopic, 1, true, spStatePayload(true, ts))); err != nil {
			h.s.m.error(reasonSPState)
			return err
		}
	}
	h.pubMu.Lock()
	h.pub, h.stateTS = pub, ts
	h.pubMu.Unlock()
	return nil
}

// disconnected forgets the client of a lost connection.
func (h *spHost) disconnected() {
	h.pubMu.Lock()
	h.pub = nil
	h.pubMu.Unlock()
}

// offline publishes the STATE death before a clean disconnect, as the
// broker would publish the will.
func (h *spHost) offline(c client) {
	h.pubMu.Lock()
	ts := h.stateTS
	h.pub = nil
	h.pubMu.Unlock()
	pub, ok := c.(pubClient)
	if h.stateTopic == "" || !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := wait(ctx, pub.Publish(h.stateTopic, 1, true, spStatePayload(false, ts))); err != nil {
		h.s.m.error(reasonSPState)
		h.s.env.Logger.Warn("sparkplug: publishing STATE offline failed; the broker publishes the will instead", "err", err)
	}
}

func (h *spHost) isState(topic string) bool {
	return strings.HasPrefix(topic, spNamespace+"/STATE/")
}

// state handles a STATE message: another host's is ignored; our own saying
// offline while we are connected (another client with our host id went
// away, or someone cleared it) is answered with our birth again. A
// retained one is history from before our birth, which replaces it.
func (h *spHost) state(m message, topic string) {
	if topic != h.stateTopic {
		return
	}
	if r, ok := m.(interface{ Retained() bool }); ok && r.Retained() {
		return
	}
	var st struct {
		Online *bool `json:"online"`
	}
	if err := json.Unmarshal(m.Payload(), &st); err != nil || st.Online == nil || *st.Online {
		return
	}
	h.pubMu.Lock()
	pub, ts := h.pub, h.stateTS
	h.pubMu.Unlock()
	if pub != nil {
		h.s.env.Logger.Warn("sparkplug: our STATE was set offline while we are online; publishing it again", "topic", topic)
		pub.Publish(h.stateTopic, 1, true, spStatePayload(true, ts)) // not awaited: this is paho's handler
	}
}

// spTopic is a parsed Sparkplug topic.
type spTopic struct {
	group, typ, node, device string
	hasDevice                bool
}

func parseSPTopic(topic string) (spTopic, bool) {
	var t spTopic
	ns, rest, ok := strings.Cut(topic, "/")
	if ns != spNamespace || !ok {
		return t, false
	}
	if t.group, rest, ok = strings.Cut(rest, "/"); !ok {
		return t, false
	}
	if t.typ, rest, ok = strings.Cut(rest, "/"); !ok {
		return t, false
	}
	t.node, t.device, t.hasDevice = strings.Cut(rest, "/")
	if t.group == "" || t.node == "" || (t.hasDevice && (t.device == "" || strings.IndexByte(t.device, '/') >= 0)) {
		return t, false
	}
	switch t.typ {
	case "NBIRTH", "NDATA", "NDEATH", "NCMD":
		return t, !t.hasDevice
	case "DBIRTH", "DDATA", "DDEATH", "DCMD":
		return t, t.hasDevice
	}
	return t, false
}

// spScratch is the per-message decoder state, pooled.
type spScratch struct {
	p   spPayload
	buf []byte
}

var spScratches = sync.Pool{New: func() any { return new(spScratch) }}

// spBatch collects the points of one message and their streams' specs.
type spBatch struct {
	pts   []point.Point
	specs []*point.StreamSpec
}

func (b *spBatch) add(p point.Point, spec *point.StreamSpec) {
	b.pts = append(b.pts, p)
	b.specs = append(b.specs, spec)
}

// sparkplug decodes one message of a sparkplug subscription.
func (s *Source) sparkplug(sub *subscription, topic string, payload []byte, recv int64) ([]point.Point, []*point.StreamSpec) {
	t, ok := parseSPTopic(topic)
	if !ok {
		s.bad(topic, payload, reasonBadTopic, errors.New("not a Sparkplug B topic (spBv1.0/group/type/node[/device])"))
		return nil, nil
	}
	if t.typ == "NCMD" || t.typ == "DCMD" {
		return nil, nil // commands to edge nodes, ours among them
	}
	sc := spScratches.Get().(*spScratch)
	defer func() {
		sc.p.reset()
		spScratches.Put(sc)
	}()
	p := &sc.p
	if err := p.decode(payload); err != nil {
		s.bad(topic, payload, reasonBadSparkplug, err)
		return nil, nil
	}
	h := s.sp
	h.mu.Lock()
	defer h.mu.Unlock()
	out := spBatch{pts: make([]point.Point, 0, len(p.metrics)), specs: make([]*point.StreamSpec, 0, len(p.metrics))}
	n := h.node(t)
	if n == nil {
		return nil, nil
	}
	switch t.typ {
	case "NBIRTH":
		h.nbirth(sub, topic, t, n, p, recv, sc, &out)
	case "DBIRTH":
		h.dbirth(sub, topic, t, n, p, recv, sc, &out)
	case "NDATA", "DDATA":
		h.data(topic, t, n, p, recv, &out)
	case "NDEATH":
		h.ndeath(n, p, recv, &out)
	case "DDEATH":
		h.ddeath(topic, t, n, p, recv, &out)
	}
	return out.pts, out.specs
}

// node returns the state of the message's edge node, made on first sight.
func (h *spHost) node(t spTopic) *spNode {
	if n := h.nodes[spKey{t.group, t.node}]; n != nil {
		return n
	}
	if len(h.nodes) >= spMaxNodes {
		h.s.bad(t.group+"/"+t.node, nil, reasonSPNoBirth, fmt.Errorf("more than %d edge nodes", spMaxNodes))
		return nil
	}
	k := spKey{strings.Clone(t.group), strings.Clone(t.node)}
	n := &spNode{key: k, devices: map[string]*spDevice{}}
	h.nodes[k] = n
	return n
}

// checkSeq notes a message's sequence number and reports a gap.
func (h *spHost) checkSeq(topic string, n *spNode, p *spPayload) {
	if !p.hasSeq {
		return
	}
	want := (n.seq + 1) % 256
	gap := n.hasSeq && p.seq != want
	n.seq, n.hasSeq = p.seq, p.seq < 256
	if gap {
		h.s.bad(topic, nil, reasonSPSeqGap, fmt.Errorf("sequence number %d, want %d", p.seq, want))
		h.rebirth(n, "sequence gap")
	}
}

func (h *spHost) nbirth(sub *subscription, topic string, t spTopic, n *spNode, p *spPayload, recv int64, sc *spScratch, out *spBatch) {
	n.born = true
	n.seq, n.hasSeq = p.seq, p.hasSeq && p.seq < 256
	n.hasBdSeq = false
	for i := range p.metrics {
		m := &p.metrics[i]
		if string(m.name) == "bdSeq" {
			if v, ok := spUint(m.value); ok {
				n.bdSeq, n.hasBdSeq = v, true
			}
		}
	}
	// A new session: its devices are born again by their DBIRTHs.
	for _, d := range n.devices {
		d.born = false
	}
	n.metrics = h.define(sub, topic, t, p, recv, sc, out)
}

func (h *spHost) dbirth(sub *subscription, topic string, t spTopic, n *spNode, p *spPayload, recv int64, sc *spScratch, out *spBatch) {
	if !n.born {
		// The device's metrics are all here, but the node's session is
		// unknown: take them and ask for the whole birth sequence.
		h.s.bad(topic, nil, reasonSPNoBirth, errors.New("DBIRTH of an edge node whose NBIRTH was not seen"))
		h.rebirth(n, "device birth before node birth")
	} else {
		h.checkSeq(topic, n, p)
	}
	d := n.devices[t.device]
	if d == nil {
		d = &spDevice{}
		n.devices[strings.Clone(t.device)] = d
	}
	d.born = true
	d.metrics = h.define(sub, topic, t, p, recv, sc, out)
}

// spSkipped says whether a metric is session bookkeeping or a command
// endpoint rather than a measurement: not stored.
func spSkipped(name string) bool {
	return name == "bdSeq" || strings.HasPrefix(name, "Node Control/") || strings.HasPrefix(name, "Device Control/")
}

// define makes the metric table of a birth and its points.
func (h *spHost) define(sub *subscription, topic string, t spTopic, p *spPayload, recv int64, sc *spScratch, out *spBatch) spMetrics {
	ms := spMetrics{byAlias: map[uint64]*spDef{}, byName: make(map[string]*spDef, len(p.metrics))}
	for i := range p.metrics {
		m := &p.metrics[i]
		if !m.hasName || len(m.name) == 0 || !m.hasType {
			h.s.bad(topic, nil, reasonSPBadMetric, fmt.Errorf("birth metric %d has no name or no datatype", i))
			continue
		}
		name := string(m.name)
		def := &spDef{datatype: m.datatype}
		if !utf8.ValidString(name) {
			h.s.bad(topic, nil, reasonSPBadMetric, fmt.Errorf("birth metric %d: name %s is not UTF-8", i, quote(name)))
		} else if kind := spKind(m.datatype); kind != 0 && !spSkipped(name) {
			var ok bool
			sc.buf, ok = sub.stream.render(append(sc.buf[:0], sub.prefix...), topic, &sample{field: name})
			if ok && len(sc.buf) > 0 {
				stream, _ := h.s.intern(sc.buf)
				def.spec = &point.StreamSpec{
					Name:        stream,
					Kind:        kind,
					Unit:        sub.unit,
					Description: sub.description,
					Source:      spAddress(t, name),
					Labels:      h.labels(sub, topic, t),
				}
				h.describe(def.spec, p, m)
			}
		}
		ms.byName[name] = def
		ms.all = append(ms.all, def)
		if m.hasAlias {
			ms.byAlias[m.alias] = def
		}
		h.point(topic, def, p, m, recv, out)
	}
	return ms
}

// labels are the labels of a birth's streams: the Sparkplug ids (group,
// edge_node, device for a device's metrics), then the subscription's.
// One map serves every metric of the birth; nobody modifies it.
func (h *spHost) labels(sub *subscription, topic string, t spTopic) map[string]string {
	if h.lastLabels != nil && h.lastTopic == topic && h.lastSub == sub {
		return h.lastLabels
	}
	var b point.Labels
	b.Add("group", t.group)
	b.Add("edge_node", t.node)
	if t.hasDevice {
		b.Add("device", t.device)
	}
	var buf []byte
	for _, l := range sub.labels {
		var ok bool
		if buf, ok = l.value.render(buf[:0], topic, &sample{}); ok {
			b.Add(l.key, string(buf))
		}
	}
	h.lastLabels, _ = b.Map()
	h.lastTopic, h.lastSub = topic, sub
	return h.lastLabels
}

// spAddress is a metric's address in a stream's source.
func spAddress(t spTopic, metric string) string {
	a := spNamespace + "/" + t.group + "/" + t.node
	if t.hasDevice {
		a += "/" + t.device
	}
	return a + ":" + metric
}

// describe takes a metric's unit and description from its birth: the
// engUnit property (as Ignition and others send it) and the metadata's
// description or a description or Documentation property.
func (h *spHost) describe(spec *point.StreamSpec, p *spPayload, m *spMetric) {
	keys, vals := p.props(m)
	for i, k := range keys {
		v := vals[i].value
		if v.field != spStringValue || vals[i].isNull || !utf8.Valid(v.b) {
			continue
		}
		switch strings.ToLower(string(k)) {
		case "engunit", "engunits", "unit", "units":
			spec.Unit = string(v.b)
		case "description", "documentation":
			spec.Description = string(v.b)
		}
	}
	if m.hasDescription && utf8.Valid(m.description) && len(m.description) > 0 {
		spec.Description = string(m.description)
	}
}

// spQuality reads a metric's Quality property: 0 BAD, 192 GOOD, 500 STALE.
func spQuality(p *spPayload, m *spMetric) point.Quality {
	if m.k0 == m.k1 {
		return point.QualityGood
	}
	keys, vals := p.props(m)
	for i, k := range keys {
		if !strings.EqualFold(string(k), "Quality") {
			continue
		}
		q, ok := spUint(vals[i].value)
		switch {
		case !ok || vals[i].isNull:
		case q == 192:
			return point.QualityGood
		case q == 0:
			return point.QualityBad
		case q == 500:
			return QualitySparkplugStale
		}
		return point.QualityUncertain
	}
	return point.QualityGood
}

// point adds the point of a metric with a value.
func (h *spHost) point(topic string, def *spDef, p *spPayload, m *spMetric, recv int64, out *spBatch) {
	if def.spec == nil {
		if m.value.field != spNoValue && spKind(def.datatype) == 0 {
			h.s.m.drop(reasonSPUnsupported, 1)
		}
		return
	}
	if m.isNull || m.isTransient || m.value.field == spNoValue {
		return // null, or not for historians
	}
	v, err := spMetricValue(def.datatype, m.value)
	if err != nil {
		h.s.bad(topic, nil, reasonBadValue, fmt.Errorf("metric %q: %w", def.spec.Name, err))
		return
	}
	at := recv
	switch {
	case m.hasTime:
		at, err = spTime(m.timestamp)
	case p.hasTime:
		at, err = spTime(p.timestamp)
	}
	if err != nil {
		h.s.bad(topic, nil, reasonBadTime, err)
		return
	}
	def.seen = true
	out.add(point.Point{Stream: def.spec.Name, Time: at, Value: v, Quality: spQuality(p, m)}, def.spec)
}

// spTime converts a Sparkplug timestamp (ms since the epoch) to ns.
func spTime(ms uint64) (int64, error) {
	if ms > math.MaxInt64/1_000_000 {
		return 0, fmt.Errorf("timestamp %d ms is out of range", ms)
	}
	return int64(ms) * 1e6, nil
}

// spUint reads an integer value of either width.
func spUint(v spValue) (uint64, bool) {
	switch v.field {
	case spIntValue, spLongValue:
		return v.u, true
	}
	return 0, false
}

// spMetricValue converts a metric value of data type dt to a point's
// value. Integers are read from int_value or long_value, whichever was
// sent, and cut to their type's width (a signed Int8 -1 arrives as
// uint32 0xFFFFFFFF or 0xFF). A Float is taken at its shortest decimal,
// so that 12.1 stays 12.1.
func spMetricValue(dt uint32, v spValue) (point.Value, error) {
	switch dt {
	case spInt8, spInt16, spInt32, spInt64, spUInt8, spUInt16, spUInt32, spUInt64, spDateTime:
		u, ok := spUint(v)
		if !ok {
			break
		}
		var i int64
		switch dt {
		case spInt8:
			i = int64(int8(u))
		case spInt16:
			i = int64(int16(u))
		case spInt32:
			i = int64(int32(u))
		case spUInt8:
			i = int64(uint8(u))
		case spUInt16:
			i = int64(uint16(u))
		case spUInt32:
			i = int64(uint32(u))
		case spInt64:
			i = int64(u)
		default: // UInt64, DateTime
			if u > math.MaxInt64 {
				return point.Value{}, fmt.Errorf("value %d is beyond int64", u)
			}
			i = int64(u)
		}
		return point.Int(i), nil
	case spFloat, spDouble:
		var f float64
		switch v.field {
		case spFloatValue:
			f32 := math.Float32frombits(uint32(v.u))
			f = float64(f32)
			if !math.IsNaN(f) && !math.IsInf(f, 0) {
				var buf [32]byte
				f, _ = strconv.ParseFloat(string(strconv.AppendFloat(buf[:0], f, 'g', -1, 32)), 64)
			}
		case spDoubleValue:
			f = math.Float64frombits(v.u)
		default:
			return point.Value{}, fmt.Errorf("datatype %d with value field %d", dt, v.field)
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return point.Value{}, fmt.Errorf("value %v is not finite", f)
		}
		return point.Float(f), nil
	case spBoolean:
		if v.field == spBoolValue {
			return point.Bool(v.u != 0), nil
		}
	case spString, spText, spUUID:
		if v.field == spStringValue {
			if !utf8.Valid(v.b) {
				return point.Value{}, errors.New("string is not UTF-8")
			}
			return point.String(string(v.b)), nil
		}
	}
	return point.Value{}, fmt.Errorf("datatype %d with value field %d", dt, v.field)
}

// data ingests an NDATA or DDATA.
func (h *spHost) data(topic string, t spTopic, n *spNode, p *spPayload, recv int64, out *spBatch) {
	if !n.born {
		h.s.bad(topic, nil, reasonSPNoBirth, errors.New("data of an edge node whose NBIRTH was not seen"))
		h.rebirth(n, "data before birth")
		return
	}
	h.checkSeq(topic, n, p)
	ms := &n.metrics
	if t.hasDevice {
		d := n.devices[t.device]
		if d == nil || !d.born {
			h.s.bad(topic, nil, reasonSPNoBirth, fmt.Errorf("data of device %q whose DBIRTH was not seen", t.device))
			h.rebirth(n, "device data before device birth")
			return
		}
		ms = &d.metrics
	}
	unknown := false
	for i := range p.metrics {
		m := &p.metrics[i]
		var def *spDef
		if m.hasAlias {
			def = ms.byAlias[m.alias]
		} else if m.hasName {
			def = ms.byName[string(m.name)]
		}
		if def == nil {
			if !unknown {
				h.s.bad(topic, nil, reasonSPUnknownAlias, fmt.Errorf("metric %d (alias %d, name %q) is not in the birth", i, m.alias, m.name))
			}
			unknown = true
			continue
		}
		h.point(topic, def, p, m, recv, out)
	}
	if unknown {
		h.rebirth(n, "metric not in the birth")
	}
}

// ndeath marks a node and its devices dead, unless the NDEATH is the will
// of an earlier session (its bdSeq is not that of the NBIRTH).
func (h *spHost) ndeath(n *spNode, p *spPayload, recv int64, out *spBatch) {
	if !n.born {
		return
	}
	for i := range p.metrics {
		m := &p.metrics[i]
		if string(m.name) != "bdSeq" {
			continue
		}
		if v, ok := spUint(m.value); ok && n.hasBdSeq && v != n.bdSeq {
			h.s.env.Logger.Debug("sparkplug: NDEATH of an earlier session ignored",
				"group", n.key.group, "node", n.key.node, "bdSeq", v, "birth_bdSeq", n.bdSeq)
			return
		}
	}
	n.born, n.hasSeq = false, false
	spDead(&n.metrics, recv, out)
	for _, d := range n.devices {
		if d.born {
			d.born = false
			spDead(&d.metrics, recv, out)
		}
	}
}

func (h *spHost) ddeath(topic string, t spTopic, n *spNode, p *spPayload, recv int64, out *spBatch) {
	if !n.born {
		return
	}
	h.checkSeq(topic, n, p)
	d := n.devices[t.device]
	if d == nil || !d.born {
		return
	}
	d.born = false
	at := recv
	if p.hasTime {
		if ts, err := spTime(p.timestamp); err == nil {
			at = ts
		}
	}
	spDead(&d.metrics, at, out)
}

// spDead adds a point without value of quality QualitySparkplugDead at
// time at for every stream of ms that had a point since its birth.
func spDead(ms *spMetrics, at int64, out *spBatch) {
	for _, def := range ms.all {
		if def.spec != nil && def.seen {
			def.seen = false
			out.add(point.Point{Stream: def.spec.Name, Time: at, Quality: QualitySparkplugDead}, def.spec)
		}
	}
}

// rebirth asks an edge node for its births again, at most once per
// rebirth_interval. It runs in paho's handler, so it does not wait for
// the publication.
func (h *spHost) rebirth(n *spNode, why string) {
	if !h.cfg.Rebirth {
		return
	}
	now := time.Now()
	if !n.lastRebirth.IsZero() && now.Sub(n.lastRebirth) < h.cfg.RebirthInterval {
		h.suppressed.Add(1)
		return
	}
	h.pubMu.Lock()
	pub := h.pub
	h.pubMu.Unlock()
	if pub == nil {
		return // not connected: the node's next message asks again
	}
	n.lastRebirth = now
	topic := spNamespace + "/" + n.key.group + "/NCMD/" + n.key.node
	tok := pub.Publish(topic, 0, false, spRebirthPayload(uint64(now.UnixMilli())))
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			h.s.m.error(reasonSPRebirth)
			h.s.env.Logger.Warn("sparkplug: rebirth request failed", "topic", topic, "err", err)
			return
		}
	default:
	}
	h.rebirths.Add(1)
	h.s.env.Logger.Info("sparkplug: requested a rebirth", "group", n.key.group, "node", n.key.node, "reason", why)
}

// spRebirthPayload is an NCMD payload with "Node Control/Rebirth" = true.
func spRebirthPayload(ms uint64) []byte {
	var m []byte
	m = protowire.AppendTag(m, 1, protowire.BytesType)
	m = protowire.AppendString(m, "Node Control/Rebirth")
	m = protowire.AppendTag(m, 3, protowire.VarintType)
	m = protowire.AppendVarint(m, ms)
	m = protowire.AppendTag(m, 4, protowire.VarintType)
	m = protowire.AppendVarint(m, spBoolean)
	m = protowire.AppendTag(m, 14, protowire.VarintType)
	m = protowire.AppendVarint(m, 1)
	var p []byte
	p = protowire.AppendTag(p, 1, protowire.VarintType)
	p = protowire.AppendVarint(p, ms)
	p = protowire.AppendTag(p, 2, protowire.BytesType)
	return protowire.AppendBytes(p, m)
}
