package mqtt

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// message is the part of a received MQTT message the source uses;
// paho.Message satisfies it.
type message interface {
	Topic() string
	Payload() []byte
	Qos() byte
	// Ack acknowledges the message to the broker (PUBACK at QoS 1, PUBREC
	// at QoS 2, nothing at QoS 0). The source calls it once, after the
	// points of the message are durably stored, in the order the messages
	// were received. An Ack after the connection that delivered the
	// message is gone is dropped, and the broker redelivers.
	Ack()
}

// client is one MQTT connection, the part of paho the source uses. The
// source makes a new client for every connection attempt.
type client interface {
	// Connect dials the brokers in order and completes the MQTT
	// handshake, or fails.
	Connect(ctx context.Context) error
	// Subscribe subscribes to filters (filter -> QoS) and returns the
	// granted QoS per filter (0x80: refused).
	Subscribe(ctx context.Context, filters map[string]byte) (map[string]byte, error)
	// Disconnect closes the connection, waiting up to quiesce for
	// acknowledgements still being sent.
	Disconnect(quiesce time.Duration)
}

// pubClient is implemented by clients that can publish (pahoClient); the
// Sparkplug host uses it for STATE and rebirth requests.
type pubClient interface {
	// Publish sends a message and returns at once; the token completes
	// when the broker has it (QoS 1) or it is written (QoS 0).
	Publish(topic string, qos byte, retained bool, payload []byte) token
}

// token is the part of paho.Token a pubClient returns.
type token interface {
	Done() <-chan struct{}
	Error() error
}

// will is the message the broker publishes when the connection is lost.
type will struct {
	topic    string
	payload  []byte
	qos      byte
	retained bool
}

// clientConfig is what a client is built from.
type clientConfig struct {
	Brokers        []string
	ClientID       string
	Username       string
	Password       string
	TLS            *tls.Config // nil without ssl:// or wss:// brokers
	KeepAlive      time.Duration
	ConnectTimeout time.Duration
	CleanSession   bool
	Will           *will // nil: none
	// OnMessage receives every message, in the order received, on one
	// goroutine per connection; it may block (back-pressure), which stops
	// reading from the broker.
	OnMessage func(message)
	// OnLost is called once if an established connection is lost.
	OnLost func(error)
}

// newPahoClient builds a client on paho.mqtt.golang. paho reconnects by
// itself no more: the source runs its own backoff loop with a fresh client
// per connection, so that nothing of a dead connection (its in-memory
// store, its routes, its pending acks) leaks into the next one.
//
// Acknowledgement: with AutoAckDisabled paho sends PUBACK (QoS 1) or
// PUBREC (QoS 2; PUBCOMP then follows PUBREL by itself) only when we call
// Ack. MQTT 3.1.1 (4.6) wants PUBACKs in the order of the PUBLISHes, so
// OrderMatters stays true: the handler runs for one message at a time in
// arrival order, we queue in that order, and batches are written and
// acknowledged in that order. With OrderMatters(false) paho would run each
// handler in its own goroutine, losing both the order and the bound on
// what is in flight. The cost of OrderMatters(true) is that a handler that
// blocks stops paho's reader; ours blocks only when the queue is full,
// which cannot happen while queue_size exceeds the broker's in-flight
// window.
func newPahoClient(cfg clientConfig) client {
	o := paho.NewClientOptions()
	for _, b := range cfg.Brokers {
		o.AddBroker(b)
	}
	o.SetClientID(cfg.ClientID)
	o.SetUsername(cfg.Username)
	o.SetPassword(cfg.Password)
	o.SetTLSConfig(cfg.TLS)
	o.SetKeepAlive(cfg.KeepAlive)
	o.SetPingTimeout(min(cfg.KeepAlive, 10*time.Second))
	o.SetConnectTimeout(cfg.ConnectTimeout)
	o.SetWriteTimeout(cfg.ConnectTimeout)
	o.SetCleanSession(cfg.CleanSession)
	if w := cfg.Will; w != nil {
		o.SetBinaryWill(w.topic, w.payload, w.qos, w.retained)
	}
	o.SetAutoReconnect(false)
	o.SetConnectRetry(false)
	o.SetResumeSubs(false)
	o.SetAutoAckDisabled(true)
	o.SetOrderMatters(true)
	// The default handler receives everything, including messages of a
	// persistent session that the broker sends before SUBSCRIBE completes.
	o.SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { cfg.OnMessage(m) })
	o.SetConnectionLostHandler(func(_ paho.Client, err error) { cfg.OnLost(err) })
	return &pahoClient{c: paho.NewClient(o)}
}

type pahoClient struct{ c paho.Client }

func (p *pahoClient) Connect(ctx context.Context) error {
	return wait(ctx, p.c.Connect())
}

func (p *pahoClient) Subscribe(ctx context.Context, filters map[string]byte) (map[string]byte, error) {
	t := p.c.SubscribeMultiple(filters, nil) // nil: the default handler
	if err := wait(ctx, t); err != nil {
		return nil, err
	}
	st, ok := t.(*paho.SubscribeToken)
	if !ok {
		return nil, errors.New("paho returned no subscribe result")
	}
	return st.Result(), nil
}

func (p *pahoClient) Publish(topic string, qos byte, retained bool, payload []byte) token {
	return p.c.Publish(topic, qos, retained, payload)
}

func (p *pahoClient) Disconnect(quiesce time.Duration) {
	p.c.Disconnect(uint(quiesce.Milliseconds()))
}

// wait waits for a paho token or ctx.
func wait(ctx context.Context, t token) error {
	select {
	case <-t.Done():
		if err := t.Error(); err != nil {
			return err
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for the broker: %w", ctx.Err())
	}
}
