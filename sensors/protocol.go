package sensors

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/squall-automation/squall/catalog"
)

// The JSON-lines protocol between Squall and a sensor process; PROTOCOL.md
// is its specification. The Python wrapper speaks it too, so this is the one
// implementation for every process sensor.

// maxLineBytes bounds one message from a sensor. A dispatch becomes a
// Temporal workflow input, which Temporal caps at 2 MiB.
const maxLineBytes = 2 << 20

// sensorMessage is one line a sensor writes on stdout.
type sensorMessage struct {
	Dispatch *dispatchMessage `json:"dispatch,omitempty"`
	Log      *logMessage      `json:"log,omitempty"`
	KV       *kvRequest       `json:"kv,omitempty"`
	// ID correlates a kv request with its answer; any JSON value.
	ID json.RawMessage `json:"id,omitempty"`
}

type dispatchMessage struct {
	Trigger   string         `json:"trigger"`
	Payload   map[string]any `json:"payload"`
	TraceTag  string         `json:"trace_tag,omitempty"`
	DedupeKey string         `json:"dedupe_key,omitempty"`
}

type logMessage struct {
	Level   string `json:"level"`
	Message string `json:"message"`
	Logger  string `json:"logger,omitempty"`
}

type kvRequest struct {
	Op     string   `json:"op"` // get, set, delete, list
	Name   string   `json:"name,omitempty"`
	Value  *string  `json:"value,omitempty"`
	TTL    *float64 `json:"ttl,omitempty"` // seconds
	Local  bool     `json:"local,omitempty"`
	Scope  string   `json:"scope,omitempty"`
	User   string   `json:"user,omitempty"`
	Secret bool     `json:"secret,omitempty"`
	Prefix string   `json:"prefix,omitempty"`
}

// kvResponse answers a kv request on the sensor's stdin.
type kvResponse struct {
	ID     json.RawMessage `json:"id"`
	Result any             `json:"result"`
	Error  string          `json:"error,omitempty"`
}

// initMessage is the first line a sensor reads on stdin.
type initMessage struct {
	Init sensorInfo `json:"init"`
}

type sensorInfo struct {
	Ref          string         `json:"ref"`
	Pack         string         `json:"pack"`
	Name         string         `json:"name"`
	ClassName    string         `json:"class_name"`
	EntryPoint   string         `json:"entry_point"` // absolute path of the sensor's file
	PackPath     string         `json:"pack_path"`
	PollInterval int            `json:"poll_interval,omitempty"`
	TriggerTypes []string       `json:"trigger_types"`
	Config       map[string]any `json:"config"`
}

// triggersMessage tells a sensor the triggers of its types that rules use.
type triggersMessage struct {
	Triggers []catalog.Trigger `json:"triggers"`
}

// session is the Go end of one sensor process's protocol.
type session struct {
	r   *run
	wmu sync.Mutex
	w   io.Writer
}

// send writes one message line to the sensor. A sensor that has exited makes
// it fail with EPIPE; callers only log that.
func (s *session) send(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode message for the sensor: %w", err)
	}
	b = append(b, '\n')
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if _, err := s.w.Write(b); err != nil {
		return fmt.Errorf("write to the sensor: %w", err)
	}
	return nil
}

// serve reads the sensor's messages until EOF and handles them in order.
// Dispatches are handled inline, so a sensor that dispatches faster than
// Squall accepts is slowed down by its full pipe rather than buffered here.
func (s *session) serve(ctx context.Context, rd io.Reader) {
	br := bufio.NewReaderSize(rd, 64<<10)
	for {
		line, tooLong, err := readLine(br, maxLineBytes)
		if tooLong {
			s.r.log.Warn("sensor wrote a message larger than the limit; dropped it", "limit_bytes", maxLineBytes)
		} else if len(bytes.TrimSpace(line)) > 0 {
			s.handle(ctx, line)
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrClosedPipe) && ctx.Err() == nil {
				s.r.log.Debug("reading the sensor's output stopped", "error", err)
			}
			return
		}
	}
}

// readLine returns the next line without its newline. A line longer than
// limit is consumed and reported as tooLong.
func readLine(br *bufio.Reader, limit int) (line []byte, tooLong bool, err error) {
	for {
		chunk, isPrefix, rerr := br.ReadLine()
		if len(line)+len(chunk) > limit {
			tooLong = true
			line = line[:0]
		} else if !tooLong {
			line = append(line, chunk...)
		}
		if rerr != nil {
			return line, tooLong, rerr
		}
		if !isPrefix {
			return line, tooLong, nil
		}
	}
}

func (s *session) handle(ctx context.Context, line []byte) {
	var msg sensorMessage
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber() // payload integers stay exact
	if err := dec.Decode(&msg); err != nil || (msg.Dispatch == nil && msg.Log == nil && msg.KV == nil) {
		// Not a protocol message: a sensor that prints is still useful to
		// see in the logs.
		s.r.log.Info("sensor output", "line", truncate(string(line), 4096))
		return
	}
	switch {
	case msg.Dispatch != nil:
		d := msg.Dispatch
		if d.Trigger == "" {
			s.r.log.Warn("sensor dispatched without a trigger; dropped")
			return
		}
		ev := s.r.eventFor(d.Trigger, d.Payload)
		ev.TraceTag, ev.DedupeKey = d.TraceTag, d.DedupeKey
		reason, err := checkPayload(ctx, s.r.a.deps.Store, ev.TriggerType, ev.Payload)
		if reason != "" {
			s.r.log.Error("sensor event dropped", "trigger", d.Trigger, "reason", reason)
			return
		}
		if err != nil {
			// The catalog is unreachable; ingest will wait for it anyway.
			s.r.log.Warn("payload not checked against its schema", "trigger", d.Trigger, "error", err)
		}
		if err := s.r.dispatch(ctx, ev); err != nil {
			s.r.log.Warn("dispatch abandoned", "trigger", d.Trigger, "error", err)
		}
	case msg.Log != nil:
		s.r.sensorLog(msg.Log)
	case msg.KV != nil:
		resp := kvResponse{ID: msg.ID}
		if len(resp.ID) == 0 {
			resp.ID = json.RawMessage("null")
		}
		res, err := s.r.kv(ctx, *msg.KV)
		if err != nil {
			resp.Error = err.Error()
		} else {
			resp.Result = res
		}
		if err := s.send(resp); err != nil {
			s.r.log.Debug("answering a kv request failed", "error", err)
		}
	}
}

// sensorLog logs a sensor's log record at its level.
func (r *run) sensorLog(m *logMessage) {
	level := slog.LevelInfo
	switch strings.ToLower(m.Level) {
	case "debug", "audit":
		level = slog.LevelDebug
	case "warn", "warning":
		level = slog.LevelWarn
	case "error", "critical", "fatal", "exception":
		level = slog.LevelError
	}
	attrs := []any{}
	if m.Logger != "" {
		attrs = append(attrs, "logger", m.Logger)
	}
	r.log.Log(context.Background(), level, m.Message, attrs...)
}

// kv runs one datastore request. "local" names live under st2's per-sensor
// prefix "<pack>.<class name>:" (st2common/services/datastore.py), so two
// sensors' state never collides.
func (r *run) kv(ctx context.Context, req kvRequest) (any, error) {
	kvs := r.a.deps.Store
	scope, err := catalog.NormalizeKVScope(req.Scope)
	if err != nil {
		return nil, err
	}
	user := ""
	if scope == catalog.KVUserScope {
		if req.User == "" {
			return nil, errors.New("a user-scoped key needs a user")
		}
		user = req.User
	}
	name := req.Name
	if req.Local {
		name = r.localKeyPrefix() + name
	}
	opCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	switch req.Op {
	case "get":
		if req.Name == "" {
			return nil, errors.New("get: no name")
		}
		kv, err := kvs.GetKV(opCtx, scope, user, name)
		if errors.Is(err, catalog.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return kv, nil
	case "set":
		if req.Name == "" {
			return nil, errors.New("set: no name")
		}
		if req.Value == nil {
			return nil, errors.New("set: no value (a string)")
		}
		var ttl time.Duration
		if req.TTL != nil {
			if *req.TTL <= 0 {
				return nil, errors.New("set: ttl must be a positive number of seconds")
			}
			ttl = time.Duration(*req.TTL * float64(time.Second))
		}
		return kvs.SetKV(opCtx, catalog.KeyValuePair{
			Name: name, Value: *req.Value, Scope: scope, User: user, Secret: req.Secret,
		}, ttl)
	case "delete":
		if req.Name == "" {
			return nil, errors.New("delete: no name")
		}
		err := kvs.DeleteKV(opCtx, scope, user, name)
		if errors.Is(err, catalog.ErrNotFound) {
			return false, nil
		}
		if err != nil {
			return nil, err
		}
		return true, nil
	case "list":
		prefix := req.Prefix
		if req.Local {
			prefix = r.localKeyPrefix() + prefix
		}
		items, err := kvs.ListKV(opCtx, scope, user, prefix)
		if err != nil {
			return nil, err
		}
		if items == nil {
			items = []catalog.KeyValuePair{}
		}
		return items, nil
	}
	return nil, fmt.Errorf("unknown kv op %q (want get, set, delete or list)", req.Op)
}

// localKeyPrefix is st2's datastore prefix local to a sensor class.
func (r *run) localKeyPrefix() string {
	return r.rec.Pack + "." + r.rec.ClassName + ":"
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
