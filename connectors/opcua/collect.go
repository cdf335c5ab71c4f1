package opcua

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gopcua/opcua/ua"
	"github.com/sluice-edge/sluice/connectors/point"
)

// session is one connected client and the variables it collects.
type session struct {
	s    *Source
	c    uaClient
	q    *queue
	lim  limits
	vars []*variable

	// Polling: the last value read of each variable.
	last []lastValue

	ackMu sync.Mutex
	acks  []*ua.SubscriptionAcknowledgement
}

type lastValue struct {
	t      int64
	status ua.StatusCode
	v      point.Value
	set    bool
}

// publishers is the number of Publish requests kept outstanding, so that
// the server always holds one while the response to another is handled.
const publishers = 2

// close closes the client; the session is gone on the server with it.
// A server that does not answer is not waited for long.
func (ss *session) close() {
	ctx, cancel := context.WithTimeout(context.Background(), min(ss.s.cfg.RequestTimeout, 2*time.Second))
	defer cancel()
	_ = ss.c.Close(ctx)
}

// collect runs the configured collection until it fails or ctx ends (nil).
func (ss *session) collect(ctx context.Context) error {
	var err error
	if ss.s.plan.polling {
		err = ss.poll(ctx)
	} else {
		err = ss.subscribe(ctx)
	}
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// point makes the point of one data value, or reports why it cannot be
// stored (the caller counts and drops it).
func (ss *session) point(v *variable, dv *ua.DataValue, recv time.Time) (point.Point, bool) {
	if dv == nil {
		return point.Point{}, false
	}
	val, reason := value(dv.Value, ss.s.dt)
	if reason != "" {
		ss.s.m.drop(reason, 1)
		ss.s.logOnce(reason+":"+v.idText, "opc ua value cannot be stored", "node", v.idText, "reason", reason)
		return point.Point{}, false
	}
	st := uint32(dv.Status)
	switch {
	case point.IsBad(st):
		ss.s.m.bad.Inc()
	case point.IsUncertain(st):
		ss.s.m.uncertain.Inc()
	}
	// Info type DataValue (bits 10-11 = 01) with the Overflow bit: the
	// server's queue for this item overflowed and values were lost there.
	if st&0xC00 == 0x400 && st&0x80 != 0 {
		ss.s.m.overflow.Inc()
		ss.s.logOnce("overflow:"+v.idText, "opc ua server queue overflowed; raise subscription.queue_size or lower the sampling rate", "node", v.idText)
	}
	return point.Point{Stream: v.stream, Time: pointTime(ss.s.cfg.Timestamp, dv, recv), Value: val, Quality: st}, true
}

// push queues points; false when ctx ended first.
func (ss *session) push(ctx context.Context, pts []point.Point) bool {
	if len(pts) == 0 {
		return true
	}
	ss.s.m.points.Add(float64(len(pts)))
	ss.s.markSeen(pts)
	return ss.q.push(ctx, pts)
}

// readValues reads the Value attribute of every variable, in requests of
// at most the server's read limit, and calls f with each result.
func (ss *session) readValues(ctx context.Context, f func(v *variable, dv *ua.DataValue, recv time.Time)) error {
	for lo := 0; lo < len(ss.vars); lo += ss.lim.read {
		hi := min(lo+ss.lim.read, len(ss.vars))
		req := &ua.ReadRequest{TimestampsToReturn: ua.TimestampsToReturnBoth}
		for _, v := range ss.vars[lo:hi] {
			req.NodesToRead = append(req.NodesToRead, &ua.ReadValueID{NodeID: v.id, AttributeID: ua.AttributeIDValue, DataEncoding: &ua.QualifiedName{}})
		}
		res, err := call[*ua.ReadResponse](ctx, ss.c, ss.s.cfg.RequestTimeout, req)
		if err != nil {
			return fmt.Errorf("read: %w", err)
		}
		if len(res.Results) != hi-lo {
			return fmt.Errorf("read: %d results for %d nodes", len(res.Results), hi-lo)
		}
		ss.s.m.messages.Inc()
		recv := time.Now()
		for i, dv := range res.Results {
			f(ss.vars[lo+i], dv, recv)
		}
	}
	return nil
}

// readOnce reads every value right after a reconnection, so that each
// stream has a point just after the gap. A value whose timestamp lies
// before the gap (it has not changed since) is stored at the time of the
// read, when it was known to hold.
func (ss *session) readOnce(ctx context.Context, gapStart time.Time) {
	var pts []point.Point
	err := ss.readValues(ctx, func(v *variable, dv *ua.DataValue, recv time.Time) {
		p, ok := ss.point(v, dv, recv)
		if !ok {
			return
		}
		if p.Time <= gapStart.UnixNano() {
			p.Time = recv.UnixNano()
		}
		pts = append(pts, p)
	})
	if err != nil {
		ss.s.m.error("read")
		ss.s.env.Logger.Warn("opc ua read after reconnection failed", "err", err)
		return
	}
	ss.push(ctx, pts)
}

// poll reads every value at the polling interval. With source timestamps,
// a value whose timestamp, status and value did not change since the last
// read is not stored again.
func (ss *session) poll(ctx context.Context) error {
	ss.last = make([]lastValue, len(ss.vars))
	idx := make(map[*variable]int, len(ss.vars))
	for i, v := range ss.vars {
		idx[v] = i
	}
	t := time.NewTicker(ss.s.cfg.Polling.Interval)
	defer t.Stop()
	ss.s.m.connected.Set(1)
	for {
		var pts []point.Point
		err := ss.readValues(ctx, func(v *variable, dv *ua.DataValue, recv time.Time) {
			p, ok := ss.point(v, dv, recv)
			if !ok {
				return
			}
			l := &ss.last[idx[v]]
			if ss.s.cfg.Timestamp == "source" && l.set && l.t == p.Time && l.status == dv.Status && sameValue(l.v, p.Value) {
				return
			}
			*l = lastValue{t: p.Time, status: dv.Status, v: p.Value, set: true}
			pts = append(pts, p)
		})
		if err != nil {
			ss.s.m.error("read")
			return err
		}
		if !ss.push(ctx, pts) {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func sameValue(a, b point.Value) bool {
	if a.Kind != b.Kind {
		return false
	}
	if a.Kind == point.KindFloat {
		return a.F == b.F || (a.F != a.F && b.F != b.F) // NaN equals NaN here
	}
	return a == b
}

// subscribe creates a subscription with a monitored item per variable and
// runs the Publish loop and its watchdog until something fails.
func (ss *session) subscribe(ctx context.Context) error {
	sc := ss.s.cfg.Subscription
	res, err := call[*ua.CreateSubscriptionResponse](ctx, ss.c, ss.s.cfg.RequestTimeout, &ua.CreateSubscriptionRequest{
		RequestedPublishingInterval: float64(sc.PublishingInterval) / float64(time.Millisecond),
		RequestedLifetimeCount:      sc.LifetimeCount,
		RequestedMaxKeepAliveCount:  sc.MaxKeepAliveCount,
		MaxNotificationsPerPublish:  sc.MaxNotificationsPerPublish,
		PublishingEnabled:           true,
	})
	if err != nil {
		ss.s.m.error("subscribe")
		return fmt.Errorf("creating the subscription: %w", err)
	}
	interval := time.Duration(res.RevisedPublishingInterval * float64(time.Millisecond))
	if interval <= 0 {
		interval = sc.PublishingInterval
	}
	keepAlive := res.RevisedMaxKeepAliveCount
	if keepAlive == 0 {
		keepAlive = sc.MaxKeepAliveCount
	}
	window := interval*time.Duration(keepAlive) + ss.s.cfg.WatchdogMargin
	if n, err := ss.monitor(ctx, res.SubscriptionID); err != nil {
		return err
	} else if n == 0 {
		return errors.New("no monitored item could be created")
	}
	ss.s.m.connected.Set(1)
	ss.s.env.Logger.Debug("opc ua subscription created", "id", res.SubscriptionID, "publishing_interval", interval,
		"max_keepalive_count", keepAlive, "watchdog", window)

	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var contact atomic.Int64 // unix ns of the last Publish response (data or keep-alive)
	var busy atomic.Int32    // publishers waiting for room in the queue
	contact.Store(time.Now().UnixNano())
	errc := make(chan error, publishers)
	var wg sync.WaitGroup
	for range publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errc <- ss.publishLoop(pctx, window+ss.s.cfg.RequestTimeout, &contact, &busy)
		}()
	}
	defer wg.Wait()
	defer cancel()

	check := time.NewTicker(max(window/10, 5*time.Millisecond))
	defer check.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			if err == nil { // this publisher gave way (too many requests); the others go on
				continue
			}
			ss.s.m.error("publish")
			return err
		case now := <-check.C:
			if busy.Load() > 0 {
				// We hold the server back ourselves (the store is slow):
				// silence is expected.
				contact.Store(now.UnixNano())
				continue
			}
			if now.Sub(time.Unix(0, contact.Load())) > window {
				return errWatchdog
			}
		}
	}
}

// monitor creates the monitored items, in calls of at most the server's
// limit. An item refused for its deadband filter is created again without
// it; other refused items are logged and left out. It returns how many
// items exist.
func (ss *session) monitor(ctx context.Context, subID uint32) (int, error) {
	sc := ss.s.cfg.Subscription
	item := func(i int, withFilter bool) *ua.MonitoredItemCreateRequest {
		v := ss.vars[i]
		var filter *ua.ExtensionObject
		if withFilter && (v.entry.deadband.typ != uint32(ua.DeadbandTypeNone) || ss.s.plan.trigger != ua.DataChangeTriggerStatusValue) {
			filter = ua.NewExtensionObject(&ua.DataChangeFilter{
				Trigger:       ss.s.plan.trigger,
				DeadbandType:  v.entry.deadband.typ,
				DeadbandValue: v.entry.deadband.value,
			})
		}
		return &ua.MonitoredItemCreateRequest{
			ItemToMonitor:  &ua.ReadValueID{NodeID: v.id, AttributeID: ua.AttributeIDValue, DataEncoding: &ua.QualifiedName{}},
			MonitoringMode: ua.MonitoringModeReporting,
			RequestedParameters: &ua.MonitoringParameters{
				ClientHandle:     uint32(i),
				SamplingInterval: float64(v.entry.sampling) / float64(time.Millisecond),
				Filter:           filter,
				QueueSize:        sc.QueueSize,
				DiscardOldest:    sc.DiscardOldest,
			},
		}
	}
	created := 0
	var retry []int
	create := func(idx []int, withFilter bool) error {
		for lo := 0; lo < len(idx); lo += ss.lim.monitor {
			hi := min(lo+ss.lim.monitor, len(idx))
			req := &ua.CreateMonitoredItemsRequest{SubscriptionID: subID, TimestampsToReturn: ua.TimestampsToReturnBoth}
			for _, i := range idx[lo:hi] {
				req.ItemsToCreate = append(req.ItemsToCreate, item(i, withFilter))
			}
			res, err := call[*ua.CreateMonitoredItemsResponse](ctx, ss.c, ss.s.cfg.RequestTimeout, req)
			if err != nil {
				ss.s.m.error("monitor")
				return fmt.Errorf("creating monitored items: %w", err)
			}
			if len(res.Results) != hi-lo {
				return fmt.Errorf("creating monitored items: %d results for %d", len(res.Results), hi-lo)
			}
			for k, r := range res.Results {
				i := idx[lo+k]
				v := ss.vars[i]
				switch {
				case r.StatusCode == ua.StatusOK:
					created++
				case withFilter && req.ItemsToCreate[k].RequestedParameters.Filter != nil && isFilterError(r.StatusCode):
					ss.s.m.error("filter")
					ss.s.env.Logger.Warn("opc ua server refused the deadband filter; monitoring without it",
						"node", v.idText, "status", r.StatusCode)
					retry = append(retry, i)
				default:
					ss.s.m.error("monitor")
					ss.s.env.Logger.Warn("opc ua server refused a monitored item; retried at the next reconnection",
						"node", v.idText, "status", r.StatusCode)
				}
			}
		}
		return nil
	}
	all := make([]int, len(ss.vars))
	for i := range all {
		all[i] = i
	}
	if err := create(all, true); err != nil {
		return 0, err
	}
	if len(retry) > 0 {
		again := retry
		retry = nil
		if err := create(again, false); err != nil {
			return 0, err
		}
	}
	return created, nil
}

func isFilterError(st ua.StatusCode) bool {
	switch st {
	case ua.StatusBadFilterNotAllowed, ua.StatusBadMonitoredItemFilterUnsupported,
		ua.StatusBadMonitoredItemFilterInvalid, ua.StatusBadDeadbandFilterInvalid:
		return true
	}
	return false
}

// publishLoop keeps one Publish request outstanding and handles its
// responses. It returns nil when ctx ends or when the server has too many
// Publish requests (this loop then gives way to the others), and the error
// otherwise.
func (ss *session) publishLoop(ctx context.Context, timeout time.Duration, contact *atomic.Int64, busy *atomic.Int32) error {
	for {
		req := &ua.PublishRequest{SubscriptionAcknowledgements: ss.takeAcks()}
		res, err := call[*ua.PublishResponse](ctx, ss.c, timeout, req)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, ua.StatusBadTooManyPublishRequests) {
			ss.returnAcks(req.SubscriptionAcknowledgements)
			return nil
		}
		if err != nil {
			return fmt.Errorf("publish: %w", err)
		}
		recv := time.Now()
		contact.Store(recv.UnixNano())
		msg := res.NotificationMessage
		if msg == nil || len(msg.NotificationData) == 0 {
			continue // keep-alive
		}
		ss.ack(res.SubscriptionID, msg.SequenceNumber)
		ss.s.m.messages.Inc()
		var pts []point.Point
		for _, nd := range msg.NotificationData {
			if nd == nil {
				continue
			}
			switch n := nd.Value.(type) {
			case *ua.DataChangeNotification:
				ss.s.m.notifications.Add(float64(len(n.MonitoredItems)))
				for _, it := range n.MonitoredItems {
					if it == nil || int(it.ClientHandle) >= len(ss.vars) {
						ss.s.m.error("unknown_handle")
						continue
					}
					if p, ok := ss.point(ss.vars[it.ClientHandle], it.Value, recv); ok {
						pts = append(pts, p)
					}
				}
			case *ua.StatusChangeNotification:
				if !point.IsGood(uint32(n.Status)) {
					return fmt.Errorf("subscription status changed to %v", n.Status)
				}
			}
		}
		busy.Add(1)
		ok := ss.push(ctx, pts)
		busy.Add(-1)
		contact.Store(time.Now().UnixNano())
		if !ok {
			return nil
		}
	}
}

func (ss *session) ack(sub, seq uint32) {
	ss.ackMu.Lock()
	defer ss.ackMu.Unlock()
	ss.acks = append(ss.acks, &ua.SubscriptionAcknowledgement{SubscriptionID: sub, SequenceNumber: seq})
}

func (ss *session) takeAcks() []*ua.SubscriptionAcknowledgement {
	ss.ackMu.Lock()
	defer ss.ackMu.Unlock()
	a := ss.acks
	ss.acks = nil
	if a == nil {
		a = []*ua.SubscriptionAcknowledgement{}
	}
	return a
}

func (ss *session) returnAcks(a []*ua.SubscriptionAcknowledgement) {
	ss.ackMu.Lock()
	defer ss.ackMu.Unlock()
	ss.acks = append(a, ss.acks...)
}
