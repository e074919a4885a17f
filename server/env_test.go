package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/squall-automation/squall/auth"
	"github.com/squall-automation/squall/catalog"
	"github.com/squall-automation/squall/execution"
	"github.com/squall-automation/squall/ingest"
	"github.com/squall-automation/squall/internal/testenv"
	"github.com/squall-automation/squall/pack"
	"github.com/squall-automation/squall/workflows"
)

const (
	testUser     = "st2admin"
	testPassword = "Ch@ngeMe"
)

// env is one API server over a fresh migrated database.
type env struct {
	t      *testing.T
	srv    *Server
	ts     *httptest.Server
	pool   *pgxpool.Pool
	store  *catalog.Store
	execs  *testExecutions
	events *testEvents
	// ruleChanges counts Deps.RuleChanged calls.
	ruleChanges *atomic.Int32
	packsDir    string
	token       string
}

type envOption func(*Config)

func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	pool := testenv.Pool(t)
	store := catalog.New(pool)
	dir := t.TempDir()
	htpasswd := filepath.Join(dir, "htpasswd")
	if err := auth.EnsureUser(htpasswd, testUser, testPassword); err != nil {
		t.Fatal(err)
	}
	packsDir := filepath.Join(dir, "packs")
	if err := os.MkdirAll(packsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		HtpasswdFile: htpasswd,
		TokenTTL:     time.Hour,
		PacksPaths:   []string{packsDir},
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	for _, o := range opts {
		o(&cfg)
	}
	execs := &testExecutions{store: store, byID: map[string]*execution.Execution{}}
	events := &testEvents{store: store}
	ruleChanges := &atomic.Int32{}
	srv := New(cfg, Deps{Catalog: store, Executions: execs, Events: events, RuleChanged: func() { ruleChanges.Add(1) }})
	srv.streamPoll = 10 * time.Millisecond
	srv.statusPoll = 20 * time.Millisecond
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	e := &env{t: t, srv: srv, ts: ts, pool: pool, store: store, execs: execs, events: events,
		ruleChanges: ruleChanges, packsDir: packsDir}
	e.token = e.login(testUser, testPassword)
	return e
}

func (e *env) login(user, pass string) string {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.ts.URL+"/auth/v1/tokens", nil)
	req.SetBasicAuth(user, pass)
	resp := e.send(req)
	if resp.status != http.StatusCreated {
		e.t.Fatalf("login: %d %s", resp.status, resp.body)
	}
	var tok tokenResponse
	resp.decode(e.t, &tok)
	return tok.Token
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

func (r response) fault(t *testing.T) string {
	t.Helper()
	var f faultBody
	r.decode(t, &f)
	if f.Faultstring == "" {
		t.Fatalf("no faultstring in %d %s", r.status, r.body)
	}
	return f.Faultstring
}

func (e *env) send(req *http.Request) response {
	e.t.Helper()
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("%s %s: read body: %v", req.Method, req.URL, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: body}
}

// do sends an authenticated request; body is JSON-encoded unless it is a
// string (sent as is).
func (e *env) do(method, path string, body any) response {
	e.t.Helper()
	return e.doWith(method, path, body, map[string]string{"X-Auth-Token": e.token})
}

func (e *env) doWith(method, path string, body any, headers map[string]string) response {
	e.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, e.ts.URL+path, r)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	return e.send(req)
}

// corpusDir is StackStorm's contrib packs (metadata only).
func corpusDir(t *testing.T) string {
	t.Helper()
	return testenv.ST2Packs(t)
}

// installCorpusPack copies a corpus pack into the env's packs directory and
// creates empty files for its action and sensor entry points (the corpus is
// metadata only), so that it loads with every check on, as a real pack does.
func (e *env) installCorpusPack(name string) string {
	e.t.Helper()
	src := filepath.Join(corpusDir(e.t), name)
	dst := filepath.Join(e.packsDir, name)
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
	if err != nil {
		e.t.Fatal(err)
	}
	p, err := pack.Load(dst, pack.LoadOptions{SkipEntryPointCheck: true})
	if err != nil {
		e.t.Fatalf("load corpus pack %s: %v", name, err)
	}
	var entries []string
	for _, a := range p.Actions {
		if a.EntryPoint != "" {
			entries = append(entries, filepath.Join(dst, "actions", a.EntryPoint))
		}
	}
	for _, s := range p.Sensors {
		if s.EntryPoint != "" {
			entries = append(entries, filepath.Join(dst, "sensors", s.EntryPoint))
		}
	}
	for _, f := range entries {
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			e.t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte("#!/bin/sh\n"), 0o755); err != nil {
			e.t.Fatal(err)
		}
	}
	return dst
}

// writePack writes a pack of files (path relative to the pack -> content)
// under the env's packs directory.
func (e *env) writePack(name string, files map[string]string) string {
	e.t.Helper()
	dir := filepath.Join(e.packsDir, name)
	for _, rel := range slices.Sorted(maps.Keys(files)) {
		path := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			e.t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(files[rel]), 0o644); err != nil {
			e.t.Fatal(err)
		}
	}
	return dir
}

// testExecutions implements the Executions interface in memory for
// handler-shape tests; the real service over Temporal is tested by the
// execution package and end to end. Like the real service it resolves
// actions in the catalog and reports secret_parameters in the execution's
// action, but it stores parameters unmasked, so that every masked value a
// test sees was masked by the server.
type testExecutions struct {
	store *catalog.Store

	mu    sync.Mutex
	byID  map[string]*execution.Execution
	order []string // oldest first
	runs  []execution.RunRequest
}

func (x *testExecutions) Run(ctx context.Context, req execution.RunRequest) (*execution.Execution, error) {
	act, err := x.store.GetAction(ctx, req.Action)
	if err != nil {
		if errors.Is(err, catalog.ErrNotFound) {
			return nil, fmt.Errorf("%w: %q", execution.ErrActionNotFound, req.Action)
		}
		return nil, err
	}
	if !act.Enabled {
		return nil, &execution.InvalidInputError{Msg: fmt.Sprintf("Unable to execute. Action %q is disabled.", act.Ref)}
	}
	specs := secretSpecs(act.RunnerType, act.Parameters)
	for name := range req.Parameters {
		if _, ok := specs[name]; !ok {
			return nil, &execution.InvalidInputError{Msg: fmt.Sprintf("Additional properties are not allowed (%q was unexpected)", name)}
		}
	}
	var secrets []any
	for _, name := range slices.Sorted(maps.Keys(act.Parameters)) {
		if isSecret(act.Parameters[name]) {
			secrets = append(secrets, name)
		}
	}
	ex := &execution.Execution{
		ID:             catalog.NewID(),
		Action:         map[string]any{"ref": act.Ref, "runner_type": act.RunnerType, "secret_parameters": secrets},
		Runner:         map[string]any{"name": act.RunnerType},
		Parameters:     maps.Clone(req.Parameters),
		Status:         execution.StatusRequested,
		StartTimestamp: isoTime(time.Now()),
		Context:        map[string]any{"user": req.User},
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	x.byID[ex.ID] = ex
	x.order = append(x.order, ex.ID)
	x.runs = append(x.runs, req)
	return copyExecution(ex), nil
}

func copyExecution(ex *execution.Execution) *execution.Execution {
	c := *ex
	c.Parameters = maps.Clone(ex.Parameters)
	c.Context = maps.Clone(ex.Context)
	return &c
}

func (x *testExecutions) setStatus(id, status string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.byID[id].Status = status
}

func (x *testExecutions) lastRun() execution.RunRequest {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.runs[len(x.runs)-1]
}

func (x *testExecutions) Get(_ context.Context, id string) (*execution.Execution, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	ex, ok := x.byID[id]
	if !ok {
		return nil, fmt.Errorf("%w: %s", execution.ErrNotFound, id)
	}
	return copyExecution(ex), nil
}

func (x *testExecutions) List(_ context.Context, f execution.Filter) ([]*execution.Execution, int, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	var match []*execution.Execution
	for i := len(x.order) - 1; i >= 0; i-- { // newest first
		ex := x.byID[x.order[i]]
		if f.Action != "" && ex.Action["ref"] != f.Action {
			continue
		}
		if f.Status != "" && ex.Status != f.Status {
			continue
		}
		if f.User != "" && ex.Context["user"] != f.User {
			continue
		}
		match = append(match, copyExecution(ex))
	}
	total := len(match)
	if f.Offset >= len(match) {
		return nil, total, nil
	}
	match = match[f.Offset:]
	if f.Limit > 0 && f.Limit < len(match) {
		match = match[:f.Limit]
	}
	return match, total, nil
}

func (x *testExecutions) Cancel(ctx context.Context, id, _ string) (*execution.Execution, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	ex, ok := x.byID[id]
	if !ok {
		return nil, fmt.Errorf("%w: %s", execution.ErrNotFound, id)
	}
	if isFinalStatus(ex.Status) {
		return nil, &execution.InvalidInputError{Msg: fmt.Sprintf("Action cannot be canceled. State = %s.", ex.Status)}
	}
	ex.Status = execution.StatusCanceling
	return copyExecution(ex), nil
}

func (x *testExecutions) ReRun(ctx context.Context, id string, params map[string]any, user string) (*execution.Execution, error) {
	orig, err := x.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	merged := maps.Clone(orig.Parameters)
	if merged == nil {
		merged = map[string]any{}
	}
	maps.Copy(merged, params)
	ref, _ := orig.Action["ref"].(string)
	return x.Run(ctx, execution.RunRequest{Action: ref, Parameters: merged, User: user})
}

// testEvents implements Events for handler tests: it records each event and
// stores it as a processed trigger instance in the real catalog, as the
// ingest Dispatcher does for a trigger no rule listens to (the path that
// needs no Temporal), with ingest's dedupe-key IDs. err, when set, refuses
// every event.
type testEvents struct {
	store *catalog.Store

	mu     sync.Mutex
	events []ingest.Event
	err    error
}

func (x *testEvents) Dispatch(ctx context.Context, ev ingest.Event) (ingest.Accepted, error) {
	x.mu.Lock()
	err := x.err
	x.events = append(x.events, ev)
	x.mu.Unlock()
	if err != nil {
		return ingest.Accepted{}, err
	}
	id := catalog.NewID()
	if ev.DedupeKey != "" {
		id = workflows.TriggerInstanceIDFor("dedupe/" + ev.TriggerType + "/" + ev.DedupeKey)
	}
	inserted, err := x.store.RecordTriggerInstance(ctx, catalog.TriggerInstance{
		ID: id, TriggerType: ev.TriggerType, TriggerParams: ev.TriggerParams, Payload: ev.Payload,
		OccurrenceTime: ev.OccurredAt, TraceTag: ev.TraceTag, Status: catalog.TriggerInstanceProcessed,
	})
	if err != nil {
		return ingest.Accepted{}, err
	}
	return ingest.Accepted{TriggerInstanceID: id, Duplicate: !inserted}, nil
}

func (x *testEvents) fail(err error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.err = err
}

func (x *testEvents) all() []ingest.Event {
	x.mu.Lock()
	defer x.mu.Unlock()
	return slices.Clone(x.events)
}

func (x *testEvents) last(t *testing.T) ingest.Event {
	t.Helper()
	evs := x.all()
	if len(evs) == 0 {
		t.Fatal("no event dispatched")
	}
	return evs[len(evs)-1]
}
