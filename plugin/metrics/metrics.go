package metrics

import (
	"github.com/teleport-go/teleport/internal/routeset"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	tp "github.com/teleport-go/teleport"
)

// Unmatched is the route label of a received pull or push whose path is no
// registered route.
const Unmatched = routeset.Unmatched

// DefaultBuckets are the latency histogram buckets used when New is given
// none: 100µs to about 6.5s, each four times the last, since RPCs on a
// local network take well under the 5ms where prometheus.DefBuckets start.
var DefaultBuckets = prometheus.ExponentialBuckets(0.0001, 4, 9)

// Plugin is a tp.Plugin whose hooks feed prometheus metrics, and a
// prometheus.Collector of them. Make it with New.
type Plugin struct {
	routes routeset.Set

	serverPulls  obsCache // route, code
	serverPushes obsCache // route
	clientPulls  obsCache // route, code
	clientPushes obsCache // route
	unanswered   obsCache // route

	sessionsOpen   prometheus.Gauge
	sessionsOpened *prometheus.CounterVec
	sessionsClosed prometheus.Counter
	dialed         prometheus.Counter
	accepted       prometheus.Counter

	collectors []prometheus.Collector
	streams    *streamMetrics

	// pending holds the client pulls sent and not yet observed, keyed by
	// session and seq: the reply's ReadCtx does not lead to its PullCmd.
	pending sync.Map // pullKey -> *clientPull

	// timedOut, when set by a test, is called after a timeout was
	// observed, which happens on a goroutine of the context's.
	timedOut func()
}

var (
	_ prometheus.Collector        = (*Plugin)(nil)
	_ tp.PostRegPlugin            = (*Plugin)(nil)
	_ tp.PostDialPlugin           = (*Plugin)(nil)
	_ tp.PostAcceptPlugin         = (*Plugin)(nil)
	_ tp.PostDisconnectPlugin     = (*Plugin)(nil)
	_ tp.PostReadPullHeaderPlugin = (*Plugin)(nil)
	_ tp.PostWriteReplyPlugin     = (*Plugin)(nil)
	_ tp.PostReadPushHeaderPlugin = (*Plugin)(nil)
	_ tp.PostReadPushBodyPlugin   = (*Plugin)(nil)
	_ tp.PreWritePullPlugin       = (*Plugin)(nil)
	_ tp.PostReadReplyBodyPlugin  = (*Plugin)(nil)
	_ tp.PostWritePushPlugin      = (*Plugin)(nil)
)

// New returns a Plugin whose metric names start with namespace (none when
// empty) and whose latency histograms have buckets (DefaultBuckets when
// none are given, in seconds).
func New(namespace string, buckets ...float64) *Plugin {
	if len(buckets) == 0 {
		buckets = DefaultBuckets
	}
	p := new(Plugin)
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		v := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help}, labels)
		p.collectors = append(p.collectors, v)
		return v
	}
	histogram := func(name, help string, labels ...string) *prometheus.HistogramVec {
		v := prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: name, Help: help, Buckets: buckets}, labels)
		p.collectors = append(p.collectors, v)
		return v
	}
	p.serverPulls = obsCache{
		withCode: true,
		count:    counter("server_pulls_total", "Pulls received and answered, by route and reply code (0: success).", "route", "code"),
		dur:      histogram("server_pull_duration_seconds", "Time from reading a pull's header to writing its reply.", "route", "code"),
	}
	p.serverPushes = obsCache{
		count: counter("server_pushes_total", "Pushes received and decoded, by route.", "route"),
		dur:   histogram("server_push_duration_seconds", "Time from reading a push's header to decoding its body (the handler excluded).", "route"),
	}
	p.clientPulls = obsCache{
		withCode: true,
		count:    counter("client_pulls_total", "Pulls sent and ended by a reply or a timeout, by route and code (0: success).", "route", "code"),
		dur:      histogram("client_pull_duration_seconds", "Time from sending a pull to decoding its reply, or to its timeout.", "route", "code"),
	}
	p.unanswered = obsCache{
		count: counter("client_pulls_unanswered_total", "Pulls sent whose session closed before a reply or a timeout was seen.", "route"),
	}
	p.clientPushes = obsCache{
		count: counter("client_pushes_total", "Pushes written, by route.", "route"),
	}
	p.sessionsOpen = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Name: "sessions_open", Help: "Sessions open now."})
	p.sessionsOpened = counter("sessions_opened_total", "Sessions opened, by side: dial or accept.", "side")
	p.sessionsClosed = prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "sessions_closed_total", Help: "Sessions closed."})
	p.collectors = append(p.collectors, p.sessionsOpen, p.sessionsClosed)
	p.streams = newStreamMetrics(namespace, func(c prometheus.Collector) { p.collectors = append(p.collectors, c) })
	p.dialed = p.sessionsOpened.WithLabelValues("dial")
	p.accepted = p.sessionsOpened.WithLabelValues("accept")
	return p
}

// Name returns "metrics".
func (p *Plugin) Name() string { return "metrics" }

// Describe sends the descriptions of every metric of p.
func (p *Plugin) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range p.collectors {
		c.Describe(ch)
	}
}

// Collect sends the current value of every metric of p.
func (p *Plugin) Collect(ch chan<- prometheus.Metric) {
	for _, c := range p.collectors {
		c.Collect(ch)
	}
}

// PostReg learns the route names used as server route labels.
func (p *Plugin) PostReg(h *tp.Handler) *tp.Rerror {
	p.routes.Add(h)
	return nil
}

// obsCache keeps the counter and histogram of each label pair, so that
// the hot path does one sync.Map load instead of hashing label values and
// formatting the code.
type obsCache struct {
	withCode bool // the vectors have a code label after route
	count    *prometheus.CounterVec
	dur      *prometheus.HistogramVec // nil: count only
	m        sync.Map                 // obsKey -> *observers
}

type obsKey struct {
	route string
	code  int32
}

type observers struct {
	count prometheus.Counter
	dur   prometheus.Observer // nil when the cache has no histogram
}

// get returns the observers of route and code; code is ignored by the
// vectors without a code label.
func (c *obsCache) get(route string, code int32) *observers {
	k := obsKey{route, code}
	if v, ok := c.m.Load(k); ok {
		return v.(*observers)
	}
	lvs := []string{route}
	if c.withCode {
		lvs = append(lvs, strconv.Itoa(int(code)))
	}
	o := &observers{count: c.count.WithLabelValues(lvs...)}
	if c.dur != nil {
		o.dur = c.dur.WithLabelValues(lvs...)
	}
	v, _ := c.m.LoadOrStore(k, o)
	return v.(*observers)
}

// codeOf returns the code of the Rerror in a reply's metadata, 0 for none.
func codeOf(rerr *tp.Rerror) int32 {
	if rerr == nil {
		return 0
	}
	return rerr.Code
}
