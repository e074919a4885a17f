package activities

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/squall-automation/squall/internal/testenv"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
)

// memSink is the test's OutputSink: it keeps what it is sent, per stream.
type memSink struct {
	mu     sync.Mutex
	data   map[string]*bytes.Buffer
	calls  map[string]int
	maxLen int
}

func newMemSink() *memSink {
	return &memSink{data: map[string]*bytes.Buffer{}, calls: map[string]int{}}
}

func (s *memSink) AppendOutput(_ context.Context, _ string, attempt int32, stream string, data []byte) error {
	if attempt < 1 {
		return fmt.Errorf("attempt %d", attempt)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.data[stream] == nil {
		s.data[stream] = &bytes.Buffer{}
	}
	s.data[stream].Write(data)
	s.calls[stream]++
	s.maxLen = max(s.maxLen, len(data))
	return nil
}

func (s *memSink) stream(name string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.data[name] == nil {
		return nil
	}
	return bytes.Clone(s.data[name].Bytes())
}

func newRunners(t *testing.T) (*Runners, *memSink) {
	t.Helper()
	sink := newMemSink()
	return &Runners{
		Output:            sink,
		ShimDir:           t.TempDir(),
		HeartbeatInterval: 100 * time.Millisecond,
		KillGracePeriod:   500 * time.Millisecond,
	}, sink
}

// run executes Run as a Temporal activity; ctx, when given, is the worker's
// background context (cancelling it cancels the activity).
func run(t *testing.T, r *Runners, req RunRequest, ctx ...context.Context) (RunResult, error) {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	if len(ctx) > 0 {
		env.SetWorkerOptions(worker.Options{BackgroundActivityContext: ctx[0]})
	}
	env.RegisterActivity(r)
	val, err := env.ExecuteActivity(r.Run, req)
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.Type() == ErrTypeInvalidRequest {
		if !appErr.NonRetryable() {
			t.Errorf("%s error is retryable", ErrTypeInvalidRequest)
		}
		return RunResult{Status: statusInvalid, Result: map[string]any{"error": appErr.Message()}}, nil
	}
	if err != nil {
		return RunResult{}, err
	}
	var res RunResult
	if err := val.Get(&res); err != nil {
		t.Fatalf("decode result: %v", err)
	}
	return res, nil
}

// statusInvalid stands for an ErrTypeInvalidRequest error in the tests' tables.
const statusInvalid = "(invalid request)"

func cmdReq(cmd string, runnerParams map[string]any) RunRequest {
	rp := map[string]any{"cmd": cmd}
	for k, v := range runnerParams {
		rp[k] = v
	}
	return RunRequest{
		ExecutionID: "exec-1", Runner: RunnerLocalShellCmd, ActionRef: "core.local", Pack: "core",
		RunnerParams: rp,
	}
}

func TestLocalShellCmd(t *testing.T) {
	t.Parallel()
	cwd := t.TempDir()
	tests := []struct {
		name       string
		cmd        string
		params     map[string]any
		wantStatus string
		wantRC     float64
		wantStdout any
		wantStderr any
	}{
		{name: "success", cmd: "echo hello", wantStatus: "succeeded", wantStdout: "hello", wantStderr: ""},
		{name: "failure with stderr", cmd: "echo out; echo oops >&2; exit 3",
			wantStatus: "failed", wantRC: 3, wantStdout: "out", wantStderr: "oops"},
		{name: "exit 1", cmd: "exit 1", wantStatus: "failed", wantRC: 1, wantStdout: "", wantStderr: ""},
		{name: "one trailing newline stripped", cmd: `printf 'a\n\n'`, wantStatus: "succeeded", wantStdout: "a\n", wantStderr: ""},
		{name: "crlf stripped", cmd: `printf 'a\r\n'`, wantStatus: "succeeded", wantStdout: "a", wantStderr: ""},
		{name: "JSON stdout is parsed", cmd: `echo '{"a": [1, "b"]}'`, wantStatus: "succeeded",
			wantStdout: map[string]any{"a": []any{float64(1), "b"}}, wantStderr: ""},
		{name: "env and ST2 variables", cmd: `echo "$FOO $ST2_ACTION_PACK_NAME $ST2_ACTION_EXECUTION_ID $ST2_ACTION_API_URL"`,
			params:     map[string]any{"env": map[string]any{"FOO": "bar", "ST2_ACTION_PACK_NAME": "spoofed"}},
			wantStatus: "succeeded", wantStdout: "bar core exec-1 http://api.example/v1", wantStderr: ""},
		{name: "cwd", cmd: "pwd", params: map[string]any{"cwd": cwd}, wantStatus: "succeeded", wantStdout: cwd, wantStderr: ""},
		{name: "killed by SIGTERM from outside is abandoned", cmd: "kill -TERM $$",
			wantStatus: "abandoned", wantRC: -15, wantStdout: "", wantStderr: ""},
		{name: "bash syntax", cmd: `[[ 1 == 1 ]] && echo yes`, wantStatus: "succeeded", wantStdout: "yes", wantStderr: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, _ := newRunners(t)
			r.APIURL = "http://api.example/v1"
			res, err := run(t, r, cmdReq(tt.cmd, tt.params))
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != tt.wantStatus {
				t.Errorf("status = %q, want %q (result %v)", res.Status, tt.wantStatus, res.Result)
			}
			wantOK := tt.wantStatus == "succeeded"
			if res.Result["succeeded"] != wantOK || res.Result["failed"] != !wantOK {
				t.Errorf("succeeded/failed = %v/%v", res.Result["succeeded"], res.Result["failed"])
			}
			if res.Result["return_code"] != tt.wantRC {
				t.Errorf("return_code = %v, want %v", res.Result["return_code"], tt.wantRC)
			}
			if fmt.Sprint(res.Result["stdout"]) != fmt.Sprint(tt.wantStdout) {
				t.Errorf("stdout = %#v, want %#v", res.Result["stdout"], tt.wantStdout)
			}
			if fmt.Sprint(res.Result["stderr"]) != fmt.Sprint(tt.wantStderr) {
				t.Errorf("stderr = %#v, want %#v", res.Result["stderr"], tt.wantStderr)
			}
		})
	}
}

func TestLocalShellCmdStreamsToSink(t *testing.T) {
	t.Parallel()
	r, sink := newRunners(t)
	res, err := run(t, r, cmdReq("echo one; sleep 0.3; echo two; echo err >&2", nil))
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != StatusSucceeded {
		t.Fatalf("status %q", res.Status)
	}
	if got := string(sink.stream("stdout")); got != "one\ntwo\n" {
		t.Errorf("sink stdout = %q", got)
	}
	if got := string(sink.stream("stderr")); got != "err\n" {
		t.Errorf("sink stderr = %q", got)
	}
}

// A command that leaves two sleeping children; the shell and both children
// write their PIDs so the test can check that all of them were killed.
func sleepersCmd(pidFile string) string {
	return fmt.Sprintf(`sleep 100 & echo $! >> %[1]s; (trap '' TERM; sleep 100) & echo $! >> %[1]s; echo $$ >> %[1]s; echo started; sleep 100`, pidFile)
}

func TestLocalShellCmdTimeoutKillsProcessGroup(t *testing.T) {
	t.Parallel()
	r, sink := newRunners(t)
	pidFile := filepath.Join(t.TempDir(), "pids")
	start := time.Now()
	res, err := run(t, r, cmdReq(sleepersCmd(pidFile), map[string]any{"timeout": 1}))
	if err != nil {
		t.Fatal(err)
	}
	if elapsed := time.Since(start); elapsed > 10*time.Second {
		t.Errorf("took %v", elapsed)
	}
	if res.Status != StatusTimeout {
		t.Errorf("status = %q, want timeout", res.Status)
	}
	if res.Result["return_code"] != float64(-9) {
		t.Errorf("return_code = %v, want -9", res.Result["return_code"])
	}
	if res.Result["error"] != "Action failed to complete in 1 seconds" {
		t.Errorf("error = %v", res.Result["error"])
	}
	if res.Result["stdout"] != "started" {
		t.Errorf("stdout = %v", res.Result["stdout"])
	}
	if got := string(sink.stream("stdout")); got != "started\n" {
		t.Errorf("sink stdout = %q", got)
	}
	// One child ignores SIGTERM: only the SIGKILL after the grace period ends it.
	testenv.WaitProcessesGone(t, testenv.ReadPIDs(t, pidFile, 3))
}

func TestLocalShellCmdCancellation(t *testing.T) {
	t.Parallel()
	r, _ := newRunners(t)
	pidFile := filepath.Join(t.TempDir(), "pids")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		testenv.ReadPIDs(t, pidFile, 3)
		cancel()
	}()
	start := time.Now()
	_, err := run(t, r, cmdReq(sleepersCmd(pidFile), map[string]any{"timeout": 60}), ctx)
	var canceled *temporal.CanceledError
	if !errors.As(err, &canceled) {
		t.Fatalf("err = %v (%T), want a CanceledError", err, err)
	}
	if elapsed := time.Since(start); elapsed > 10*time.Second {
		t.Errorf("took %v", elapsed)
	}
	var partial RunResult
	if err := canceled.Details(&partial); err != nil {
		t.Fatalf("details: %v", err)
	}
	if partial.Status != StatusCanceled || partial.Result["stdout"] != "started" {
		t.Errorf("details = %+v", partial)
	}
	testenv.WaitProcessesGone(t, testenv.ReadPIDs(t, pidFile, 3))
}

func TestLocalShellCmdLargeOutput(t *testing.T) {
	t.Parallel()
	r, sink := newRunners(t)
	const size = 20_000_000
	res, err := run(t, r, cmdReq(fmt.Sprintf(`head -c %d /dev/zero | tr '\0' 'a'; echo end >&2`, size), nil))
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != StatusSucceeded {
		t.Fatalf("status %q: %v", res.Status, res.Result["error"])
	}
	stdout, _ := res.Result["stdout"].(string)
	if len(stdout) > DefaultMaxOutputBytes+200 {
		t.Errorf("result stdout is %d bytes, want about %d", len(stdout), DefaultMaxOutputBytes)
	}
	if res.Result["stdout_truncated"] != true {
		t.Error("stdout_truncated not set")
	}
	if !strings.Contains(stdout, fmt.Sprintf("[%d bytes omitted", size-DefaultMaxOutputBytes)) {
		t.Errorf("no omission marker in %q...", stdout[DefaultMaxOutputBytes/2-10:DefaultMaxOutputBytes/2+100])
	}
	if !strings.HasPrefix(stdout, "aaaa") || !strings.HasSuffix(stdout, "aaaa") {
		t.Error("head or tail missing")
	}
	if _, cut := res.Result["stderr_truncated"]; cut || res.Result["stderr"] != "end" {
		t.Errorf("stderr = %v", res.Result["stderr"])
	}
	got := sink.stream("stdout")
	if len(got) != size || bytes.Count(got, []byte("a")) != size {
		t.Errorf("sink got %d bytes, want %d 'a's", len(got), size)
	}
	sink.mu.Lock()
	calls, maxLen := sink.calls["stdout"], sink.maxLen
	sink.mu.Unlock()
	if calls > 2*size/flushBytes || maxLen > flushBytes {
		t.Errorf("sink got %d writes of at most %d bytes; want batches of up to %d", calls, maxLen, flushBytes)
	}
}

func TestLocalShellCmdSudoMissing(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("sudo"); err == nil {
		t.Skip("sudo is installed here")
	}
	r, _ := newRunners(t)
	res, err := run(t, r, cmdReq("id -u", map[string]any{"sudo": true}))
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != statusInvalid || !strings.Contains(fmt.Sprint(res.Result["error"]), "sudo is not installed") {
		t.Errorf("got %+v", res)
	}
}

func TestNoopAndUnsupported(t *testing.T) {
	t.Parallel()
	r, _ := newRunners(t)
	res, err := run(t, r, RunRequest{ExecutionID: "e", Runner: RunnerNoop, ActionRef: "core.noop"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"failed": false, "succeeded": true, "return_code": float64(0), "stdout": "", "stderr": ""}
	if res.Status != StatusSucceeded || fmt.Sprint(res.Result) != fmt.Sprint(want) {
		t.Errorf("noop = %+v", res)
	}

	_, err = run(t, r, RunRequest{ExecutionID: "e", Runner: "orquesta", ActionRef: "examples.wf"})
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) {
		t.Fatalf("err = %v, want an ApplicationError", err)
	}
	if appErr.Type() != ErrTypeUnsupportedRunner || !appErr.NonRetryable() {
		t.Errorf("type %q non-retryable %v", appErr.Type(), appErr.NonRetryable())
	}
	if !strings.Contains(appErr.Error(), `runner "orquesta" is not supported by Squall yet`) {
		t.Errorf("message %q", appErr.Error())
	}
}

func TestCapture(t *testing.T) {
	t.Parallel()
	c := capture{limit: 10}
	for _, s := range []string{"01234", "5678", "9"} {
		c.write([]byte(s))
	}
	if got, cut := c.text(); got != "0123456789" || cut {
		t.Errorf("at the limit: %q %v", got, cut)
	}
	for i := 0; i < 100; i++ {
		c.write([]byte("xyz"))
	}
	c.write([]byte("END"))
	got, cut := c.text()
	if !cut || !strings.HasPrefix(got, "01234\n") || !strings.HasSuffix(got, "\nyzEND") ||
		!strings.Contains(got, "[303 bytes omitted") {
		t.Errorf("over the limit: %q %v", got, cut)
	}
	if len(c.tail) > 10 {
		t.Errorf("tail buffer grew to %d", len(c.tail))
	}

	u := capture{limit: 6}
	u.write([]byte("ééé"))      // 6 bytes: fits
	u.write([]byte("abcdéfgé")) // cut inside runes on both sides
	got, _ = u.text()
	if strings.ContainsRune(got, '\uFFFD') || !strings.HasPrefix(got, "é") {
		t.Errorf("runes split: %q", got)
	}
}
