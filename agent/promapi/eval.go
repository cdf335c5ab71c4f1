package promapi

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/sluice-edge/sluice/agent/store"
	"github.com/sluice-edge/sluice/connectors/point"
	"github.com/sluice-edge/sluice/federation"
	"github.com/sluice-edge/sluice/policy"
)

// Limits of one query.
const (
	// MaxPoints is Prometheus' own limit of steps per series.
	MaxPoints = 11000
	// MaxBuckets bounds the summaries read per series.
	MaxBuckets = 100_000
	// maxWork bounds how many bucket visits combining windows may take.
	maxWork = 50_000_000
	// MaxRange bounds a range [r] and the lookback.
	MaxRange = 10 * 365 * 24 * time.Hour
)

// Times a query may name: 1950 to 2150, so no arithmetic on them
// overflows int64 nanoseconds.
var (
	minTime = time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	maxTime = time.Date(2150, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
)

// errorType is the Prometheus API's classification of an error.
type errorType string

const (
	errBadData  errorType = "bad_data"
	errExec     errorType = "execution"
	errInternal errorType = "internal"
	errTimeout  errorType = "timeout"
	errCanceled errorType = "canceled"
)

type apiError struct {
	typ errorType
	err error
}

func (e *apiError) Error() string { return e.err.Error() }
func (e *apiError) Unwrap() error { return e.err }

func badData(format string, a ...any) error {
	return &apiError{errBadData, fmt.Errorf(format, a...)}
}

// result is one series' values at the steps; has says which are set.
type result struct {
	labels Labels
	vals   []float64
	has    []bool
}

type vector []*result

// evaluator evaluates one query over the steps start, start+step, ...
// <= end (ns, on whole milliseconds). An instant query has one step and
// step 0.
type evaluator struct {
	ctx      context.Context
	h        *Handler
	caller   Caller
	u        *universe
	start    int64
	step     int64
	n        int
	lookback int64

	mu       sync.Mutex
	warnings []string
}

func (e *evaluator) warn(format string, a ...any) {
	e.mu.Lock()
	e.warnings = append(e.warnings, fmt.Sprintf(format, a...))
	e.mu.Unlock()
}

func (e *evaluator) at(i int) int64 { return e.start + int64(i)*e.step }

// check types an expression before anything is read: arithmetic needs a
// number on one side. It reports whether e is a vector.
func check(e Expr) (bool, error) {
	switch e := e.(type) {
	case *NumberLit:
		return false, nil
	case *Selector, *Call:
		if c, ok := e.(*Call); ok && c.Range > MaxRange {
			return false, badData("range [%s] is longer than %s", formatDuration(c.Range), formatDuration(MaxRange))
		}
		return true, nil
	case *Unary:
		return check(e.X)
	case *Binary:
		l, err := check(e.LHS)
		if err != nil {
			return false, err
		}
		r, err := check(e.RHS)
		if err != nil {
			return false, err
		}
		if l && r {
			return false, badData("arithmetic between two selections (%s %c %s) is not supported: one side must be a number", e.LHS, e.Op, e.RHS)
		}
		return l || r, nil
	}
	return false, badData("unsupported expression %T", e)
}

// eval returns a float64 (a number) or a vector.
func (e *evaluator) eval(x Expr) (any, error) {
	switch x := x.(type) {
	case *NumberLit:
		return x.Val, nil
	case *Selector:
		return e.each(e.u.match(x), e.selector)
	case *Call:
		return e.each(e.u.match(x.Sel), func(s *series) (*result, error) { return e.overTime(x, s) })
	case *Unary:
		v, err := e.eval(x.X)
		if err != nil {
			return nil, err
		}
		return apply(v, -1.0, '*', false), nil
	case *Binary:
		l, err := e.eval(x.LHS)
		if err != nil {
			return nil, err
		}
		r, err := e.eval(x.RHS)
		if err != nil {
			return nil, err
		}
		if lf, ok := l.(float64); ok {
			if rf, ok := r.(float64); ok {
				return arith(x.Op, lf, rf), nil
			}
			return apply(r, lf, x.Op, true), nil
		}
		return apply(l, r.(float64), x.Op, false), nil
	}
	return nil, badData("unsupported expression %T", x)
}

// apply does v op f (f op v when flip) to every value of a vector (or a
// number); arithmetic drops the metric name, as in Prometheus.
func apply(v any, f float64, op byte, flip bool) any {
	if g, ok := v.(float64); ok {
		if flip {
			return arith(op, f, g)
		}
		return arith(op, g, f)
	}
	vec := v.(vector)
	for _, r := range vec {
		r.labels = r.labels.without(nameLabel)
		for i := range r.vals {
			if flip {
				r.vals[i] = arith(op, f, r.vals[i])
			} else {
				r.vals[i] = arith(op, r.vals[i], f)
			}
		}
	}
	return vec
}

func arith(op byte, a, b float64) float64 {
	switch op {
	case '+':
		return a + b
	case '-':
		return a - b
	case '*':
		return a * b
	case '/':
		return a / b
	case '%':
		return math.Mod(a, b)
	case '^':
		return math.Pow(a, b)
	}
	return math.NaN()
}

// each evaluates f for every series, a few at a time. A shared stream
// its owner does not answer for is left out with a warning; any other
// error fails the query.
func (e *evaluator) each(list []*series, f func(*series) (*result, error)) (vector, error) {
	if max := e.h.opts.MaxSeries; len(list) > max {
		return nil, &apiError{errExec, fmt.Errorf("the query selects %d series, more than the limit of %d: narrow its selectors", len(list), max)}
	}
	out := make([]*result, len(list))
	errs := make([]error, len(list))
	sem := make(chan struct{}, e.h.opts.Parallel)
	var wg sync.WaitGroup
	for i, s := range list {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			out[i], errs[i] = f(s)
		}()
	}
	wg.Wait()
	vec := vector{}
	for i, r := range out {
		var pe *partnerError
		switch {
		case errors.As(errs[i], &pe):
			e.warn("%s left out: %v", list[i].describe(), pe.err)
		case errors.Is(errs[i], store.ErrNotFound):
			// deleted since it was listed
		case errs[i] != nil:
			return nil, errs[i]
		case r != nil:
			vec = append(vec, r)
		}
	}
	return vec, nil
}

// partnerError is a shared stream's read that failed on the way to or at
// the owner: the query goes on without it.
type partnerError struct{ err error }

func (e *partnerError) Error() string { return e.err.Error() }

func (e *evaluator) newResult(s *series) *result {
	return &result{labels: s.labels, vals: make([]float64, e.n), has: make([]bool, e.n)}
}

// value is a point's value as a number; bad quality is NaN (a gap in
// Grafana).
func value(p store.Sample) float64 {
	if point.IsBad(p.Quality) {
		return math.NaN()
	}
	f, ok := p.Value.AsFloat()
	if !ok {
		return math.NaN()
	}
	return f
}

// grid returns the buckets a plain selector (c == nil) or a call needs
// per series: count buckets of width from `from` on; per and m place the
// windows of a call (window i is buckets [i*per, i*per+m)). It fails when
// they are too many, before anything is read.
func (e *evaluator) grid(c *Call) (from, width, count, per, m int64, err error) {
	if c == nil {
		L := e.lookback
		if e.step == 0 {
			return e.start - L + 1, L, 1, 0, 1, nil
		}
		// Buckets of one step, ending at the steps, from k steps before
		// the first, so that the first step's lookback is covered.
		k := (L + e.step - 1) / e.step
		count = int64(e.n-1) + k
		if count > MaxBuckets {
			return 0, 0, 0, 0, 0, &apiError{errExec, fmt.Errorf("a step of %s with a lookback of %s needs %d summaries per series, over the limit of %d: use a coarser step",
				formatDuration(time.Duration(e.step)), formatDuration(time.Duration(L)), count, MaxBuckets)}
		}
		return e.start - k*e.step + 1, e.step, count, 1, k, nil
	}
	rng := int64(c.Range)
	width, per, m = rng, 0, 1 // instant: one bucket
	if e.step > 0 {
		width = gcd(rng, e.step)
		per, m = e.step/width, rng/width
	}
	count = int64(e.n-1)*per + m
	if count > MaxBuckets || int64(e.n)*m > maxWork {
		return 0, 0, 0, 0, 0, &apiError{errExec, fmt.Errorf("a range of [%s] over steps of %s needs %d summaries per series, over the limit of %d: use a range that is a multiple of the step (Grafana: [$__interval])",
			formatDuration(c.Range), formatDuration(time.Duration(e.step)), count, MaxBuckets)}
	}
	return e.start - rng + 1, width, count, per, m, nil
}

// checkGrids checks the grid of every selector and call of x.
func (e *evaluator) checkGrids(x Expr) error {
	switch x := x.(type) {
	case *Selector:
		_, _, _, _, _, err := e.grid(nil)
		return err
	case *Call:
		_, _, _, _, _, err := e.grid(x)
		return err
	case *Unary:
		return e.checkGrids(x.X)
	case *Binary:
		if err := e.checkGrids(x.LHS); err != nil {
			return err
		}
		return e.checkGrids(x.RHS)
	}
	return nil
}

// selector evaluates a plain selector Prometheus' way: at each step t the
// newest point in (t-lookback, t].
func (e *evaluator) selector(s *series) (*result, error) {
	r := e.newResult(s)
	L := e.lookback
	if e.step == 0 && !s.shared() { // instant, local: the store's latest within the lookback
		t := e.start
		p, ok, err := e.h.opts.Store.LatestIn(e.ctx, s.stream, store.Bounds{Floor: t - L + 1, Ceil: t + 1})
		if err != nil {
			return nil, err
		}
		if ok {
			r.vals[0], r.has[0] = value(p), true
		}
		return r, nil
	}
	from, width, count, _, k, err := e.grid(nil)
	if err != nil {
		return nil, err
	}
	sums, err := e.summaries(s, from, width, int(count))
	if err != nil {
		return nil, err
	}
	// The newest point at or before a step is the last of the newest
	// bucket with any; it counts if it lies within the lookback.
	last := -1
	for j := range sums {
		if sums[j].Count > 0 {
			last = j
		}
		i := j - int(k-1)
		if i < 0 || last < 0 {
			continue
		}
		if p := sums[last].Last; p.Time > e.at(i)-L {
			r.vals[i], r.has[i] = value(p), true
		}
	}
	return r, nil
}

// overTime evaluates f(sel[r]) at each step t over the points in
// (t-r, t], from summaries of buckets of gcd(r, step): each window is
// whole buckets.
func (e *evaluator) overTime(c *Call, s *series) (*result, error) {
	from, width, count, per, m, err := e.grid(c)
	if err != nil {
		return nil, err
	}
	sums, err := e.summaries(s, from, width, int(count))
	if err != nil {
		return nil, err
	}
	r := e.newResult(s)
	for i := 0; i < e.n; i++ {
		w := sums[int64(i)*per : int64(i)*per+m]
		r.vals[i], r.has[i] = combine(c.Func, w)
	}
	return r, nil
}

// combine computes an *_over_time function from the summaries of the
// buckets of one window. Statistics are over the good and uncertain
// points (bad ones are left out, as the store's summaries do);
// last_over_time is the newest point, NaN if bad.
func combine(fn string, w []store.Summary) (float64, bool) {
	if fn == "last_over_time" {
		for j := len(w) - 1; j >= 0; j-- {
			if w[j].Count > 0 {
				return value(w[j].Last), true
			}
		}
		return 0, false
	}
	var n, mean, m2, sum float64
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, b := range w {
		nb := float64(b.Count - b.Bad)
		if nb <= 0 {
			continue
		}
		// Chan et al.'s pairwise update of mean and variance.
		d := b.Mean - mean
		tot := n + nb
		mean += d * nb / tot
		m2 += b.StdDev*b.StdDev*nb + d*d*n*nb/tot
		n = tot
		sum += b.Mean * nb
		lo, hi = math.Min(lo, b.Min), math.Max(hi, b.Max)
	}
	if n == 0 {
		return 0, false
	}
	switch fn {
	case "avg_over_time":
		return mean, true
	case "min_over_time":
		return lo, true
	case "max_over_time":
		return hi, true
	case "sum_over_time":
		return sum, true
	case "count_over_time":
		return n, true
	case "stddev_over_time":
		return math.Sqrt(m2 / n), true
	case "stdvar_over_time":
		return m2 / n, true
	}
	return 0, false
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// summaries reads count buckets of width from `from` on: from the store
// for local streams, from the owner's agent (which decides with its own
// state) for shared ones. The answer has one Summary per bucket, in
// order; buckets the owner left out (outside what its share allows) are
// empty.
func (e *evaluator) summaries(s *series, from, width int64, count int) ([]store.Summary, error) {
	end := from + int64(count)*width
	if !s.shared() {
		return e.h.opts.Store.Summaries(e.ctx, s.stream, from, end, width, store.Unbounded)
	}
	if s.minInterval > 0 && time.Duration(width) < s.minInterval {
		return nil, &partnerError{fmt.Errorf("it is shared only as summaries of %s or coarser, and this query needs %s: use a step and range of at least %s",
			formatDuration(s.minInterval), formatDuration(time.Duration(width)), formatDuration(s.minInterval))}
	}
	rq := federation.PartnerRead{
		Community: s.community, Owner: s.owner, User: e.caller.User, Roles: e.caller.Roles(s.community).Vouched(),
		ReadQuery: federation.ReadQuery{Stream: s.stream, Kind: policy.ReadSummaries, Start: from, End: end,
			Interval: time.Duration(width), Align: "epoch", Offset: time.Duration(mod(from, width)), TimeFormat: "ns"},
	}
	got, err := e.partnerRead(rq)
	if err != nil {
		if e.ctx.Err() != nil {
			return nil, e.ctx.Err()
		}
		return nil, &partnerError{err}
	}
	out := make([]store.Summary, count)
	for _, sm := range got {
		if sm.Start < from || (sm.Start-from)%width != 0 {
			continue // not on the grid asked for: an owner that placed it otherwise
		}
		if j := (sm.Start - from) / width; j < int64(count) {
			out[j] = sm
		}
	}
	return out, nil
}

// partnerRead asks the owner within the handler's bound on reads in
// flight to it; a throttled read (429) is tried once more after the
// owner's Retry-After, if that is at most maxRetryWait.
func (e *evaluator) partnerRead(rq federation.PartnerRead) ([]store.Summary, error) {
	for try := 0; ; try++ {
		release, err := e.h.partnerSlot(e.ctx, rq.Owner)
		if err != nil {
			return nil, err
		}
		got, err := e.h.opts.Partners.Summaries(e.ctx, rq)
		release()
		var pe *federation.PeerError
		if try > 0 || !errors.As(err, &pe) || pe.Status != http.StatusTooManyRequests {
			return got, err
		}
		wait := time.Second
		if s, err := strconv.Atoi(pe.Retry); err == nil {
			wait = time.Duration(s) * time.Second
		}
		if wait > maxRetryWait {
			return nil, err
		}
		select {
		case <-time.After(wait):
		case <-e.ctx.Done():
			return nil, e.ctx.Err()
		}
	}
}

// maxRetryWait is the longest Retry-After a throttled partner read waits.
const maxRetryWait = 5 * time.Second

func mod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}

// sortVector orders series by their labels, as Prometheus does.
func sortVector(v vector) {
	sort.Slice(v, func(i, j int) bool { return less(v[i].labels, v[j].labels) })
}
