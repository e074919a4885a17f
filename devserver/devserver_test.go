package devserver

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"go.temporal.io/server/common/dynamicconfig"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

const (
	testNamespace = "squall-devserver-test"
	testTaskQueue = "devserver-test"
	testWorkflow  = "devserver-test-wf"

	// childDirEnv makes TestPersistedAcrossProcesses act as the second process.
	childDirEnv  = "SQUALL_DEVSERVER_CHILD_DIR"
	childPortEnv = "SQUALL_DEVSERVER_CHILD_PORT"
)

var (
	refKey    = temporal.NewSearchAttributeKeyKeyword("SquallTestRef")
	statusKey = temporal.NewSearchAttributeKeyKeyword("SquallTestStatus")

	testSearchAttributes = map[string]enumspb.IndexedValueType{
		refKey.GetName():    enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		statusKey.GetName(): enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	}
)

// greet is the trivial workflow run against the server: it upserts a search attribute, which
// must have been registered by Start, and returns a greeting.
func greet(ctx workflow.Context, name string) (string, error) {
	if err := workflow.UpsertTypedSearchAttributes(ctx, statusKey.ValueSet("done")); err != nil {
		return "", err
	}
	return "hello " + name, nil
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
}

func mustFreePort(t *testing.T) int {
	t.Helper()
	p, err := freePortOn("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func startServer(t *testing.T, opts Options) *Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	started := time.Now()
	s, err := Start(ctx, opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Logf("server started in %s at %s", time.Since(started).Round(time.Millisecond), s.FrontendHostPort())
	t.Cleanup(s.Stop)
	return s
}

func dialTest(t *testing.T, s *Server) client.Client {
	t.Helper()
	c, err := client.Dial(client.Options{
		HostPort:  s.FrontendHostPort(),
		Namespace: testNamespace,
		Logger:    sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler)),
	})
	if err != nil {
		t.Fatalf("dial %s: %v", s.FrontendHostPort(), err)
	}
	t.Cleanup(c.Close)
	return c
}

// runGreeting runs greet to completion on s and checks it is findable by both search attributes.
func runGreeting(t *testing.T, s *Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := dialTest(t, s)
	w := worker.New(c, testTaskQueue, worker.Options{})
	w.RegisterWorkflow(greet)
	if err := w.Start(); err != nil {
		t.Fatalf("worker: %v", err)
	}
	defer w.Stop()

	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                    testWorkflow,
		TaskQueue:             testTaskQueue,
		TypedSearchAttributes: temporal.NewSearchAttributes(refKey.ValueSet("ref-1")),
	}, greet, "squall")
	if err != nil {
		t.Fatalf("start workflow: %v", err)
	}
	var got string
	if err := run.Get(ctx, &got); err != nil {
		t.Fatalf("workflow: %v", err)
	}
	if got != "hello squall" {
		t.Fatalf("workflow result %q", got)
	}

	// Visibility is updated asynchronously after the upsert.
	query := fmt.Sprintf("%s = 'done' AND %s = 'ref-1'", statusKey.GetName(), refKey.GetName())
	for {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: testNamespace, Query: query})
		if err != nil {
			t.Fatalf("ListWorkflow %q: %v", query, err)
		}
		if n := len(resp.GetExecutions()); n == 1 && resp.GetExecutions()[0].GetExecution().GetWorkflowId() == testWorkflow {
			return
		} else if n > 1 {
			t.Fatalf("ListWorkflow %q: %d executions, want 1", query, n)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("workflow not found by %q before timeout", query)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// checkPersisted checks that the completed workflow and both search attributes are still there.
func checkPersisted(t *testing.T, s *Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := dialTest(t, s)
	desc, err := c.DescribeWorkflowExecution(ctx, testWorkflow, "")
	if err != nil {
		t.Fatalf("DescribeWorkflowExecution after restart: %v", err)
	}
	if st := desc.GetWorkflowExecutionInfo().GetStatus(); st != enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
		t.Errorf("status after restart = %s, want completed", st)
	}
	sas, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: testNamespace})
	if err != nil {
		t.Fatal(err)
	}
	for name, typ := range testSearchAttributes {
		if got := sas.GetCustomAttributes()[name]; got != typ {
			t.Errorf("search attribute %s = %s after restart, want %s", name, got, typ)
		}
	}
	ns, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: testNamespace})
	if err != nil {
		t.Fatal(err)
	}
	if got := ns.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration(); got != 48*time.Hour {
		t.Errorf("retention = %s, want 48h", got)
	}
}

func sqliteOptions(t *testing.T, dir string, frontendPort int) Options {
	return Options{
		DataDir:          dir,
		FrontendPort:     frontendPort,
		Namespaces:       []string{testNamespace},
		Retention:        48 * time.Hour,
		SearchAttributes: testSearchAttributes,
		Logger:           testLogger(t),
	}
}

// TestSQLite runs a workflow on a file-backed server, restarts it in-process, then starts it
// in a separate process to prove the history is on disk and not only in the plugin's
// process-wide connection pool.
func TestSQLite(t *testing.T) {
	if dir := os.Getenv(childDirEnv); dir != "" {
		port, err := strconv.Atoi(os.Getenv(childPortEnv))
		if err != nil {
			t.Fatal(err)
		}
		checkPersisted(t, startServer(t, sqliteOptions(t, dir, port)))
		return
	}

	dir := t.TempDir()
	port := mustFreePort(t)
	opts := sqliteOptions(t, dir, port)
	opts.UIPort = mustFreePort(t)
	s := startServer(t, opts)
	runGreeting(t, s)

	if !strings.HasPrefix(s.UIAddress(), "http://127.0.0.1:") {
		t.Errorf("UIAddress = %q", s.UIAddress())
	}
	resp, err := http.Get(s.UIAddress() + "/")
	if err != nil {
		t.Fatalf("GET UI: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(strings.ToLower(string(body)), "<html") {
		t.Errorf("GET %s/: status %d, body %.200q", s.UIAddress(), resp.StatusCode, body)
	}

	s.Stop()
	s.Stop() // idempotent
	if _, err := os.Stat(filepath.Join(dir, DatabaseFile)); err != nil {
		t.Fatalf("database file: %v", err)
	}

	// Same process, same DataDir: registration of namespace and search attributes must be a
	// no-op this time, and the workflow must still be there.
	opts.UIPort = 0
	s = startServer(t, opts)
	checkPersisted(t, s)
	s.Stop()

	cmd := exec.Command(os.Args[0], "-test.run=^TestSQLite$", "-test.v")
	cmd.Env = append(os.Environ(), childDirEnv+"="+dir, childPortEnv+"="+strconv.Itoa(port))
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestSQLite") {
		t.Fatalf("second process did not find the persisted workflow: %v\n%s", err, out)
	}
}

// TestInMemory checks the ephemeral mode starts and serves the default namespace.
func TestInMemory(t *testing.T) {
	s := startServer(t, Options{FrontendPort: mustFreePort(t), Logger: testLogger(t)})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := client.Dial(client.Options{HostPort: s.FrontendHostPort(), Logger: sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ns, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: DefaultNamespace})
	if err != nil {
		t.Fatalf("describe %q: %v", DefaultNamespace, err)
	}
	if got := ns.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration(); got != DefaultRetention {
		t.Errorf("retention = %s, want %s", got, DefaultRetention)
	}
	if s.UIAddress() != "" {
		t.Errorf("UIAddress = %q with UIPort 0", s.UIAddress())
	}
}

// TestPostgres runs the workflow with Postgres persistence, restarting once so that the
// schema set-up runs against an existing schema. It uses the cluster named by
// TEST_DATABASE_URL, in databases of its own.
func TestPostgres(t *testing.T) {
	raw := os.Getenv("TEST_DATABASE_URL")
	if raw == "" {
		t.Skip("TEST_DATABASE_URL not set: skipping the Postgres persistence test")
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("TEST_DATABASE_URL: %v", err)
	}
	port := 5432
	if p := u.Port(); p != "" {
		if port, err = strconv.Atoi(p); err != nil {
			t.Fatal(err)
		}
	}
	password, _ := u.User.Password()
	pg := &PostgresOptions{
		Host:               u.Hostname(),
		Port:               port,
		User:               u.User.Username(),
		Password:           password,
		Database:           "devserver_temporal",
		VisibilityDatabase: "devserver_temporal_visibility",
	}
	if db := strings.TrimPrefix(u.Path, "/"); db != "" {
		pg.MaintenanceDatabase = db
	}
	dropDatabases(t, raw, pg.Database, pg.VisibilityDatabase)

	opts := Options{
		Postgres:         pg,
		FrontendPort:     mustFreePort(t),
		Namespaces:       []string{testNamespace},
		Retention:        48 * time.Hour,
		SearchAttributes: testSearchAttributes,
		Logger:           testLogger(t),
	}
	s := startServer(t, opts)
	runGreeting(t, s)
	s.Stop()

	s = startServer(t, opts)
	checkPersisted(t, s)
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"both stores", Options{DataDir: "x", Postgres: &PostgresOptions{User: "u"}}, "not both"},
		{"bad ip", Options{FrontendIP: "localhost"}, "not an IP"},
		{"bad port", Options{UIPort: 70000}, "UIPort 70000 out of range"},
		{"dup namespace", Options{Namespaces: []string{"a", "a"}}, "listed twice"},
		{"untyped attribute", Options{SearchAttributes: map[string]enumspb.IndexedValueType{"X": enumspb.INDEXED_VALUE_TYPE_UNSPECIFIED}}, "needs a name and a type"},
		{"postgres without user", Options{Postgres: &PostgresOptions{}}, "Postgres.User is required"},
		{"same databases", Options{Postgres: &PostgresOptions{User: "u", Database: "t", VisibilityDatabase: "t"}}, "must differ"},
		{"negative retention", Options{Retention: -time.Hour}, "negative Retention"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.applyDefaults()
			err := tt.opts.validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("validate() = %v, want error containing %q", err, tt.want)
			}
		})
	}
	ok := Options{}
	ok.applyDefaults()
	if err := ok.validate(); err != nil {
		t.Errorf("zero Options: %v", err)
	}
}

func TestStartRefusesTakenPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, err = Start(context.Background(), Options{FrontendPort: l.Addr().(*net.TCPAddr).Port, Logger: testLogger(t)})
	if err == nil || !strings.Contains(err.Error(), "set FrontendPort") {
		t.Fatalf("Start on a taken port: %v", err)
	}
}

func TestDialHost(t *testing.T) {
	for in, want := range map[string]string{
		"0.0.0.0":   "127.0.0.1",
		"::":        "127.0.0.1",
		"":          "127.0.0.1",
		"10.0.0.5":  "10.0.0.5",
		"127.0.0.1": "127.0.0.1",
	} {
		if got := dialHost(in); got != want {
			t.Errorf("dialHost(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestHasCode(t *testing.T) {
	tests := []struct {
		err  error
		code codes.Code
		want bool
	}{
		{serviceerror.NewNamespaceAlreadyExists("x"), codes.AlreadyExists, true},
		{fmt.Errorf("wrapped: %w", serviceerror.NewUnavailable("x")), codes.Unavailable, true},
		{status.Error(codes.InvalidArgument, "x"), codes.InvalidArgument, true},
		{status.Error(codes.InvalidArgument, "x"), codes.NotFound, false},
		{errors.New("plain"), codes.Unavailable, false},
	}
	for _, tt := range tests {
		if got := hasCode(tt.err, tt.code); got != tt.want {
			t.Errorf("hasCode(%v, %s) = %v, want %v", tt.err, tt.code, got, tt.want)
		}
	}
}

func TestDynamicConfigOverrides(t *testing.T) {
	dc := dynamicConfig(map[string]any{"frontend.namespaceRPS": 5})
	if got := dc[dynamicconfig.FrontendMaxNamespaceRPSPerInstance.Key()]; got != 5 {
		t.Errorf("override not applied: %v", got)
	}
	if got := dc[dynamicconfig.ForceSearchAttributesCacheRefreshOnRead.Key()]; got != true {
		t.Errorf("default lost: %v", got)
	}
}

// dropDatabases removes this test's own databases so every run sets the schema up afresh.
func dropDatabases(t *testing.T, url string, names ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect to TEST_DATABASE_URL: %v", err)
	}
	defer conn.Close(ctx)
	for _, n := range names {
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{n}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Fatalf("drop %s: %v", n, err)
		}
	}
}

// The SQLite file keeps the visibility indexes Squall and the Web UI query
// by, and loses those nothing queries by.
func TestSQLiteVisibilityIndexesTrimmed(t *testing.T) {
	dir := t.TempDir()
	if _, err := prepareSQLite(dir); err != nil {
		t.Fatal(err)
	}
	// A second start finds the file trimmed already.
	if _, err := prepareSQLite(dir); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, DatabaseFile))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	has := func(name string) bool {
		var n int
		if err := db.QueryRow("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = ?", name).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 1
	}
	for _, keep := range []string{"default_idx", "by_workflow_type", "by_status", "by_task_queue", "by_keyword_01", "by_temporal_namespace_division"} {
		if !has(keep) {
			t.Errorf("index %s was dropped", keep)
		}
	}
	for _, gone := range unusedVisibilityIndexes {
		if has(gone) {
			t.Errorf("index %s is still there", gone)
		}
	}
}
