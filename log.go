package tp

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Logger is what teleport logs through. Fatalf logs and exits the process
// and Panicf logs and panics; the library itself calls neither.
type Logger interface {
	// Printf logs at PRINT, a line shown at every level but OFF.
	Printf(format string, args ...interface{})
	// Fatalf logs at CRITICAL, then exits the process.
	Fatalf(format string, args ...interface{})
	// Panicf logs at CRITICAL, then panics with the message.
	Panicf(format string, args ...interface{})
	// Criticalf logs at CRITICAL.
	Criticalf(format string, args ...interface{})
	// Errorf logs at ERROR.
	Errorf(format string, args ...interface{})
	// Warnf logs at WARNING.
	Warnf(format string, args ...interface{})
	// Noticef logs at NOTICE.
	Noticef(format string, args ...interface{})
	// Infof logs at INFO.
	Infof(format string, args ...interface{})
	// Debugf logs at DEBUG.
	Debugf(format string, args ...interface{})
	// Tracef logs at TRACE.
	Tracef(format string, args ...interface{})
}

// logLevel orders the levels of SetLoggerLevel; a line is written when its
// level is at most the level set.
type logLevel int32

const (
	levelOff logLevel = iota
	levelPrint
	levelCritical
	levelError
	levelWarn
	levelNotice
	levelInfo
	levelDebug
	levelTrace
)

var levelNames = [...]string{"OFF", "PRINT", "CRITICAL", "ERROR", "WARNING", "NOTICE", "INFO", "DEBUG", "TRACE"}

// DefaultLoggerLevel is NOTICE: lifecycle events, slow calls and errors are
// logged, while the per-message lines (INFO and below) cost nothing until
// asked for.
const DefaultLoggerLevel = "NOTICE"

var (
	curLevel  atomic.Int32
	curLogger atomic.Pointer[loggerHolder]
)

type loggerHolder struct{ l Logger }

func init() {
	curLevel.Store(int32(levelNotice))
	SetLogger(nil)
}

// SetLogger sets the logger; nil restores the default, slog's text handler
// on stderr.
func SetLogger(l Logger) {
	if l == nil {
		l = NewSlogLogger(newLinesHandler(os.Stderr))
	}
	curLogger.Store(&loggerHolder{l})
}

// SetLoggerLevel sets the most detailed level written: "OFF", "PRINT",
// "CRITICAL", "ERROR", "WARNING", "NOTICE", "INFO", "DEBUG" or "TRACE"
// (case-insensitive). It panics on another name.
func SetLoggerLevel(level string) {
	for i, name := range levelNames {
		if strings.EqualFold(level, name) || (name == "WARNING" && strings.EqualFold(level, "WARN")) {
			curLevel.Store(int32(i))
			return
		}
	}
	panic(fmt.Sprintf("tp: SetLoggerLevel: unknown level %q, want one of %v", level, levelNames))
}

// LoggerLevel returns the name of the level set.
func LoggerLevel() string { return levelNames[curLevel.Load()] }

// enabled is checked before any formatting, so a filtered line costs one
// atomic load.
func enabled(l logLevel) bool { return logLevel(curLevel.Load()) >= l }

func logger() Logger { return curLogger.Load().l }

// Printf logs at PRINT, shown at every level but OFF.
func Printf(format string, args ...interface{}) {
	if enabled(levelPrint) {
		logger().Printf("%s", escapeLine(format, args))
	}
}

// Fatalf logs at CRITICAL and exits the process with status 1.
func Fatalf(format string, args ...interface{}) { logger().Fatalf("%s", escapeLine(format, args)) }

// Panicf logs at CRITICAL and panics with the message.
func Panicf(format string, args ...interface{}) { logger().Panicf("%s", escapeLine(format, args)) }

// errorWithStack logs at ERROR a line, escaped like every other, followed
// by stack, the goroutine's own stack, as it is (the default handler
// prints it indented below the line).
func errorWithStack(stack []byte, format string, args ...interface{}) {
	if enabled(levelError) {
		logger().Errorf("%s\n%s", escapeLine(format, args), stack)
	}
}

// escapeLine formats a log line and escapes in it every character that
// could forge a line or rewrite a terminal: control characters (newlines,
// carriage returns, ANSI escape sequences) and Unicode's C1 controls and
// bidirectional overrides become Go escapes (\n, \x1b, \u202e). URIs,
// ids, metadata and error texts that a remote peer chose can thus appear
// in any line, at any level, without a forged line following them. A tab
// is kept.
func escapeLine(format string, args []interface{}) string {
	return escapeString(fmt.Sprintf(format, args...))
}

// escapeString is escapeLine of a line already formatted.
func escapeString(line string) string {
	for i, r := range line {
		if needsEscape(r) {
			return escapeFrom(line, i)
		}
	}
	return line
}

func needsEscape(r rune) bool {
	switch {
	case r == '\t':
		return false
	case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f, r == utf8.RuneError:
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x200e, r == 0x200f:
		return true
	}
	return false
}

// escapeFrom escapes line from byte i, the first that needs it.
func escapeFrom(line string, i int) string {
	var b strings.Builder
	b.Grow(len(line) + 16)
	b.WriteString(line[:i])
	for len(line[i:]) > 0 {
		r, size := utf8.DecodeRuneInString(line[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, "\\x%02x", line[i])
		case needsEscape(r):
			q := strconv.QuoteRune(r) // 'x' with the escape inside
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(line[i : i+size])
		}
		i += size
	}
	return b.String()
}

// Criticalf logs at CRITICAL.
func Criticalf(format string, args ...interface{}) {
	if enabled(levelCritical) {
		logger().Criticalf("%s", escapeLine(format, args))
	}
}

// Errorf logs at ERROR.
func Errorf(format string, args ...interface{}) {
	if enabled(levelError) {
		logger().Errorf("%s", escapeLine(format, args))
	}
}

// Warnf logs at WARNING.
func Warnf(format string, args ...interface{}) {
	if enabled(levelWarn) {
		logger().Warnf("%s", escapeLine(format, args))
	}
}

// Noticef logs at NOTICE.
func Noticef(format string, args ...interface{}) {
	if enabled(levelNotice) {
		logger().Noticef("%s", escapeLine(format, args))
	}
}

// Infof logs at INFO.
func Infof(format string, args ...interface{}) {
	if enabled(levelInfo) {
		logger().Infof("%s", escapeLine(format, args))
	}
}

// Debugf logs at DEBUG.
func Debugf(format string, args ...interface{}) {
	if enabled(levelDebug) {
		logger().Debugf("%s", escapeLine(format, args))
	}
}

// Tracef logs at TRACE.
func Tracef(format string, args ...interface{}) {
	if enabled(levelTrace) {
		logger().Tracef("%s", escapeLine(format, args))
	}
}

// slog levels for teleport's levels, spaced so that handlers filtering on
// the standard slog levels keep working.
const (
	slogTrace    = slog.LevelDebug - 4
	slogNotice   = slog.LevelInfo + 2
	slogCritical = slog.LevelError + 4
	slogPrint    = slog.LevelError + 8
)

func replaceLevelName(groups []string, a slog.Attr) slog.Attr {
	if a.Key != slog.LevelKey || len(groups) > 0 {
		return a
	}
	switch a.Value.Any().(slog.Level) {
	case slogTrace:
		a.Value = slog.StringValue("TRACE")
	case slogNotice:
		a.Value = slog.StringValue("NOTICE")
	case slogCritical:
		a.Value = slog.StringValue("CRITICAL")
	case slogPrint:
		a.Value = slog.StringValue("PRINT")
	}
	return a
}

// NewSlogLogger adapts any slog.Handler to Logger. Teleport's levels map to
// slog levels: TRACE -8, DEBUG -4, INFO 0, NOTICE 2, WARNING 4, ERROR 8,
// CRITICAL 12, PRINT 16.
func NewSlogLogger(h slog.Handler) Logger { return slogLogger{h} }

type slogLogger struct{ h slog.Handler }

func (l slogLogger) log(level slog.Level, format string, args []interface{}) {
	ctx := context.Background()
	if !l.h.Enabled(ctx, level) {
		return
	}
	var pcs [1]uintptr
	runtime.Callers(4, pcs[:]) // the caller of the package-level function
	r := slog.NewRecord(time.Now(), level, fmt.Sprintf(format, args...), pcs[0])
	_ = l.h.Handle(ctx, r)
}

func (l slogLogger) Printf(f string, a ...interface{})    { l.log(slogPrint, f, a) }
func (l slogLogger) Criticalf(f string, a ...interface{}) { l.log(slogCritical, f, a) }
func (l slogLogger) Errorf(f string, a ...interface{})    { l.log(slog.LevelError, f, a) }
func (l slogLogger) Warnf(f string, a ...interface{})     { l.log(slog.LevelWarn, f, a) }
func (l slogLogger) Noticef(f string, a ...interface{})   { l.log(slogNotice, f, a) }
func (l slogLogger) Infof(f string, a ...interface{})     { l.log(slog.LevelInfo, f, a) }
func (l slogLogger) Debugf(f string, a ...interface{})    { l.log(slog.LevelDebug, f, a) }
func (l slogLogger) Tracef(f string, a ...interface{})    { l.log(slogTrace, f, a) }

func (l slogLogger) Fatalf(f string, a ...interface{}) {
	l.log(slogCritical, f, a)
	os.Exit(1)
}

func (l slogLogger) Panicf(f string, a ...interface{}) {
	l.log(slogCritical, f, a)
	panic(fmt.Sprintf(f, a...))
}

// linesHandler is the default logger's handler: slog's text handler, but a
// message of several lines (a panic's stack) prints its first line as the
// record and the others below it as they are, indented, instead of one
// line of \n escapes.
type linesHandler struct {
	slog.Handler
	w  io.Writer
	mu *sync.Mutex // one record and its lines at a time
}

func newLinesHandler(w io.Writer) linesHandler {
	return linesHandler{
		Handler: slog.NewTextHandler(w, &slog.HandlerOptions{
			Level:       slog.Level(-100), // the level filter is ours
			ReplaceAttr: replaceLevelName,
		}),
		w:  w,
		mu: new(sync.Mutex),
	}
}

func (h linesHandler) Handle(ctx context.Context, r slog.Record) error {
	first, rest, multi := strings.Cut(r.Message, "\n")
	h.mu.Lock()
	defer h.mu.Unlock()
	if !multi {
		return h.Handler.Handle(ctx, r)
	}
	head := slog.NewRecord(r.Time, r.Level, first, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		head.AddAttrs(a)
		return true
	})
	if err := h.Handler.Handle(ctx, head); err != nil {
		return err
	}
	var b strings.Builder
	for line := range strings.Lines(rest) {
		b.WriteString("\t")
		b.WriteString(line)
	}
	if !strings.HasSuffix(rest, "\n") {
		b.WriteByte('\n')
	}
	_, err := io.WriteString(h.w, b.String())
	return err
}

func (h linesHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return linesHandler{h.Handler.WithAttrs(attrs), h.w, h.mu}
}

func (h linesHandler) WithGroup(name string) slog.Handler {
	return linesHandler{h.Handler.WithGroup(name), h.w, h.mu}
}
