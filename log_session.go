package tp

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/teleport-go/teleport/socket"
)

// The per-message log lines. Each checks its level first, so a filtered
// line costs an atomic load and nothing else.

// logHandled logs a handled pull (INFO) or push (DEBUG), and any handler
// slower than SlowCometDuration at WARNING.
func (s *session) logHandled(c *handlerCtx, kind string) {
	cost := time.Duration(monoNow() - c.start)
	slow := s.peer.cfg.SlowCometDuration > 0 && cost > s.peer.cfg.SlowCometDuration
	level := levelDebug
	if kind == "pull" {
		level = levelInfo
	}
	if slow {
		level = levelWarn
	}
	if !enabled(level) {
		return
	}
	code := int32(0)
	if c.rerr != nil {
		code = c.rerr.Code
	}
	line := s.lineOf(kind+" handled", &c.input, code, cost, slow)
	if s.peer.cfg.PrintBody {
		line += " in=" + bodyForLog(c.input.Body())
		if kind == "pull" {
			line += " out=" + bodyForLog(c.output.Body())
		}
	}
	logAt(level, line)
}

// logPullDone logs the end of a pull this side sent (DEBUG, or WARNING
// when slow).
func (s *session) logPullDone(cmd *PullCmd) {
	slow := s.peer.cfg.SlowCometDuration > 0 && cmd.cost > s.peer.cfg.SlowCometDuration
	level := levelDebug
	if slow {
		level = levelWarn
	}
	if !enabled(level) {
		return
	}
	code := int32(0)
	if cmd.rerr != nil {
		code = cmd.rerr.Code
	}
	line := s.lineOf("pull done", &cmd.output, code, cmd.cost, slow)
	if s.peer.cfg.PrintBody {
		line += " in=" + bodyForLog(cmd.output.Body()) + " out=" + bodyForLog(cmd.reply)
	}
	logAt(level, line)
}

// logPush logs a push this side sent (DEBUG).
func (s *session) logPush(out *socket.Packet, cost time.Duration, rerr *Rerror) {
	if !enabled(levelDebug) {
		return
	}
	code := int32(0)
	if rerr != nil {
		code = rerr.Code
	}
	line := s.lineOf("push sent", out, code, cost, false)
	if s.peer.cfg.PrintBody {
		line += " in=" + bodyForLog(out.Body())
	}
	logAt(levelDebug, line)
}

// lineOf formats the common part of a message's log line.
func (s *session) lineOf(what string, p *socket.Packet, code int32, cost time.Duration, slow bool) string {
	id, addr := s.Id(), s.RemoteAddr().String()
	line := "tp: " + what + ": session=" + id
	if addr != id {
		line += " remote=" + addr
	}
	line += fmt.Sprintf(" uri=%s seq=%d code=%d", p.Uri(), p.Seq(), code)
	if s.peer.cfg.CountTime || slow {
		line += " cost=" + cost.String()
	}
	if slow {
		line += " (slow)"
	}
	return line
}

// maxLoggedBody bounds a body in a log line.
const maxLoggedBody = 1024

// bodyForLog renders a body as JSON, truncated past maxLoggedBody bytes.
func bodyForLog(body interface{}) string {
	var b []byte
	switch v := body.(type) {
	case nil:
		return "null"
	case []byte:
		b = v
	case *[]byte:
		b = *v
	case *socket.RawBody:
		b = *v
	default:
		var err error
		if b, err = json.Marshal(v); err != nil {
			b = []byte(fmt.Sprintf("%+v", v))
		}
	}
	if len(b) > maxLoggedBody {
		return string(b[:maxLoggedBody]) + fmt.Sprintf("...(%d bytes)", len(b))
	}
	return string(b)
}

// logAt writes line at level, already known to be enabled.
func logAt(level logLevel, line string) {
	line = escapeString(line)
	l := logger()
	switch level {
	case levelWarn:
		l.Warnf("%s", line)
	case levelInfo:
		l.Infof("%s", line)
	default:
		l.Debugf("%s", line)
	}
}
