package activities

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/squall-automation/squall/embedfs"
)

// pythonShim is Squall's stand-in for the parts of StackStorm a Python action
// imports (st2common.runners.base_action.Action) plus the wrapper that loads
// and runs an action. InstallShim writes it to ShimDir.
//
//go:embed python
var pythonShim embed.FS

const (
	shimRoot          = "python"
	shimWrapper       = "squall_action_wrapper.py"
	invalidStatusExit = 220 // the wrapper's "run() returned a non-boolean status"
)

// InstallShim writes the Python shim to ShimDir (creating it). Workers call
// it at startup so that a broken directory shows up before the first action;
// python-script runs call it lazily otherwise. Files are replaced atomically,
// so workers sharing a ShimDir never see a half-written file.
func (r *Runners) InstallShim() error {
	r.shimMu.Lock()
	defer r.shimMu.Unlock()
	if r.shimInstalled != "" {
		return nil
	}
	dir := r.ShimDir
	if dir == "" {
		var err error
		if dir, err = embedfs.DefaultDir("python-shim"); err != nil {
			return fmt.Errorf("install python shim: %w", err)
		}
	}
	if err := embedfs.Install(pythonShim, shimRoot, dir); err != nil {
		return fmt.Errorf("install python shim in %s: %w", dir, err)
	}
	r.shimInstalled = dir
	return nil
}

// pythonRequest is what the wrapper reads from stdin. Parameters and config
// travel this way, never in argv, where any local user could read secrets.
type pythonRequest struct {
	Pack       string         `json:"pack"`
	FilePath   string         `json:"file_path"`
	PackPath   string         `json:"pack_path"`
	Parameters map[string]any `json:"parameters"`
	Config     map[string]any `json:"config"`
	User       string         `json:"user,omitempty"`
	LogLevel   string         `json:"log_level,omitempty"`
}

func (r *Runners) runPythonScript(ctx context.Context, req RunRequest) (RunResult, error) {
	file, err := entryPointPath(req)
	if err != nil {
		return invalidRequest("python-script: %v", err)
	}
	timeout, err := actionTimeout(req, pythonDefaultTimeout)
	if err != nil {
		return invalidRequest("python-script: %v", err)
	}
	if err := r.InstallShim(); err != nil {
		// The worker's disk, not the request: worth retrying (elsewhere).
		return RunResult{}, fmt.Errorf("python-script: %w", err)
	}
	params := req.ActionParams
	if params == nil {
		params = map[string]any{}
	}
	payload, err := json.Marshal(pythonRequest{
		Pack: req.Pack, FilePath: file, PackPath: req.PackPath,
		Parameters: params, Config: req.Config, User: req.User,
		LogLevel: stringParam(req.RunnerParams, "log_level"),
	})
	if err != nil {
		return invalidRequest("python-script: encode parameters: %v", err)
	}
	python := r.Python
	if python == "" {
		python = "python3"
	}
	if err := ctx.Err(); err != nil {
		return stopError(ctx, RunResult{})
	}
	out, err := r.runProcess(ctx, req, procSpec{
		path:        python,
		args:        []string{"-u", filepath.Join(r.shimInstalled, shimWrapper)}, // -u: output streams live
		dir:         os.TempDir(),
		env:         r.actionEnv(req, "PYTHONPATH"), // st2 does not let users override it either
		stdin:       payload,
		timeout:     timeout,
		resultPipe:  true,
		resultLimit: maxPythonResultBytes,
	})
	if err != nil {
		return failedResult("python-script: start %s: %v", python, err), nil
	}
	res := pythonResult(out, timeout)
	if out.stopped {
		return stopError(ctx, res)
	}
	return res, nil
}

// pythonResult is st2's python-script result: {result, exit_code, stdout,
// stderr[, error]}. The status is failed when the process exits non-zero or
// run() returned (False, x); result is the string "None" when the action
// produced no result at all (it raised, or was killed), as in st2.
func pythonResult(out procOutcome, timeout time.Duration) RunResult {
	exit := out.exitCode
	if out.timedOut {
		exit = exitKilled
	}
	var result any = "None"
	var status *bool
	var errMsg string
	if len(out.result) > 0 && !out.resultOverflow {
		var decoded struct {
			Result any   `json:"result"`
			Status *bool `json:"status"`
		}
		dec := json.NewDecoder(bytes.NewReader(out.result))
		dec.UseNumber()
		if err := dec.Decode(&decoded); err != nil {
			errMsg = fmt.Sprintf("the action's result could not be decoded: %v", err)
		} else {
			result, status = decoded.Result, decoded.Status
		}
	}
	if out.resultOverflow {
		errMsg = fmt.Sprintf("the action's result is larger than %d bytes, more than Squall can pass on", maxPythonResultBytes)
	}

	res := map[string]any{
		"result":    result,
		"exit_code": exit,
		"stdout":    out.stdout,
		"stderr":    out.stderr,
	}
	if out.stdoutCut {
		res["stdout_truncated"] = true
	}
	if out.stderrCut {
		res["stderr_truncated"] = true
	}

	st := StatusFailed
	switch {
	case out.timedOut:
		st = StatusTimeout
		errMsg = fmt.Sprintf("Action failed to complete in %s seconds", formatSeconds(timeout))
	case exit == invalidStatusExit:
		errMsg = out.stderr
	case errMsg != "":
	case exit == 0 && (status == nil || *status):
		st = StatusSucceeded
	}
	if errMsg != "" {
		res["error"] = errMsg
	}
	return RunResult{Status: st, Result: res}
}
