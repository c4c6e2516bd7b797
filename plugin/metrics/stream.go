package metrics

import (
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	tp "github.com/teleport-go/teleport"
	"github.com/teleport-go/teleport/internal/routeset"
)

var (
	_ tp.PreStreamOpenPlugin    = (*Plugin)(nil)
	_ tp.PostStreamAcceptPlugin = (*Plugin)(nil)
	_ tp.StreamMsgPlugin        = (*Plugin)(nil)
	_ tp.PostStreamEndPlugin    = (*Plugin)(nil)
)

// streamMetrics are the stream series: open now, ended, and the messages
// and bytes each way, by route and side ("open": this side opened the
// stream; "accept": the other side did). A stream's route label is its
// path: on the accepting side it is always a registered route (an open
// to any other path is refused before the hooks), on the opening side it
// is the path the caller chose, as for pulls.
type streamMetrics struct {
	open     *prometheus.GaugeVec   // route, side
	ended    *prometheus.CounterVec // route, side, code
	messages *prometheus.CounterVec // route, side, direction
	bytes    *prometheus.CounterVec // route, side, direction
	cache    sync.Map               // streamKey -> *streamObservers
}

type streamKey struct {
	route  string
	opened bool
}

// streamObservers are one route and side's series, found once.
type streamObservers struct {
	open                 prometheus.Gauge
	msgsSent, msgsRecv   prometheus.Counter
	bytesSent, bytesRecv prometheus.Counter
}

func newStreamMetrics(namespace string, add func(prometheus.Collector)) *streamMetrics {
	m := &streamMetrics{
		open:     prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: "streams_open", Help: "Streams open now, by route and side (open: opened here; accept: opened by the other side)."}, []string{"route", "side"}),
		ended:    prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "streams_total", Help: "Streams ended, by route, side and code (0: ended well)."}, []string{"route", "side", "code"}),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "stream_messages_total", Help: "Stream messages, by route, side and direction (sent or received)."}, []string{"route", "side", "direction"}),
		bytes:    prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "stream_bytes_total", Help: "Body bytes of stream messages, by route, side and direction (sent or received)."}, []string{"route", "side", "direction"}),
	}
	add(m.open)
	add(m.ended)
	add(m.messages)
	add(m.bytes)
	return m
}

func sideOf(opened bool) string {
	if opened {
		return "open"
	}
	return "accept"
}

func (m *streamMetrics) get(info tp.StreamInfo) *streamObservers {
	k := streamKey{routeset.Path(info.Uri()), info.Opened()}
	if v, ok := m.cache.Load(k); ok {
		return v.(*streamObservers)
	}
	side := sideOf(k.opened)
	o := &streamObservers{
		open:      m.open.WithLabelValues(k.route, side),
		msgsSent:  m.messages.WithLabelValues(k.route, side, "sent"),
		msgsRecv:  m.messages.WithLabelValues(k.route, side, "received"),
		bytesSent: m.bytes.WithLabelValues(k.route, side, "sent"),
		bytesRecv: m.bytes.WithLabelValues(k.route, side, "received"),
	}
	v, _ := m.cache.LoadOrStore(k, o)
	return v.(*streamObservers)
}

// PreStreamOpen counts a stream this side opens.
func (p *Plugin) PreStreamOpen(info tp.StreamInfo) *tp.Rerror {
	p.streams.get(info).open.Inc()
	return nil
}

// PostStreamAccept counts a stream the other side opened.
func (p *Plugin) PostStreamAccept(info tp.StreamInfo) *tp.Rerror {
	p.streams.get(info).open.Inc()
	return nil
}

// StreamMsg counts a message and its bytes.
func (p *Plugin) StreamMsg(info tp.StreamInfo, sent bool, size int) *tp.Rerror {
	o := p.streams.get(info)
	if sent {
		o.msgsSent.Inc()
		o.bytesSent.Add(float64(size))
	} else {
		o.msgsRecv.Inc()
		o.bytesRecv.Add(float64(size))
	}
	return nil
}

// PostStreamEnd counts a stream's end, by its code.
func (p *Plugin) PostStreamEnd(info tp.StreamInfo) *tp.Rerror {
	o := p.streams.get(info)
	o.open.Dec()
	code := int32(0)
	if rerr := info.Err(); rerr != nil {
		code = rerr.Code
	}
	p.streams.ended.WithLabelValues(routeset.Path(info.Uri()), sideOf(info.Opened()), strconv.Itoa(int(code))).Inc()
	return nil
}
