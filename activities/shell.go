package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/squall-automation/squall/pyfmt"
)

// st2's exit codes that map to statuses (PROC_EXIT_CODE_TO_LIVEACTION_STATUS_MAP
// in st2's local runner); any other non-zero code is "failed".
const (
	exitKilled     = -9  // SIGKILL: what a timed-out action reports
	exitTerminated = -15 // SIGTERM from outside: st2 calls it abandoned
)

var (
	sudoBadPassword = regexp.MustCompile(`sudo: \d+ incorrect password attempts`)
	sudoPromptUser  = regexp.MustCompile(`\[sudo\] password for (.+?):`)
)

func (r *Runners) runLocalShellCmd(ctx context.Context, req RunRequest) (RunResult, error) {
	cmd := stringParam(req.RunnerParams, "cmd")
	if strings.TrimSpace(cmd) == "" {
		return invalidRequest("local-shell-cmd: runner parameter \"cmd\" is empty")
	}
	return r.runLocal(ctx, req, []string{"bash", "-c", cmd}, false)
}

func (r *Runners) runLocalShellScript(ctx context.Context, req RunRequest) (RunResult, error) {
	script, err := entryPointPath(req)
	if err != nil {
		return invalidRequest("local-shell-script: %v", err)
	}
	// st2 runs "chmod +x <script>" before every run (pack files often lose
	// their mode bits in archives); do the same when the mode needs it.
	if fi, err := os.Stat(script); err == nil && fi.Mode().Perm()&0o111 != 0o111 {
		_ = os.Chmod(script, fi.Mode().Perm()|0o111) // read-only packs: exec reports it
	}
	kwargOp := "--"
	if op, ok := req.RunnerParams["kwarg_op"].(string); ok {
		kwargOp = op
	}
	argv := append([]string{script}, ScriptArgs(req.ActionParams, req.PositionalOrder, kwargOp)...)
	return r.runLocal(ctx, req, argv, true)
}

// runLocal runs argv for the local-shell-* runners and shapes st2's result.
// A script without a "#!" line is handed to /bin/sh, as the shell st2 starts
// it from would do.
func (r *Runners) runLocal(ctx context.Context, req RunRequest, argv []string, script bool) (RunResult, error) {
	timeout, err := actionTimeout(req, localDefaultTimeout)
	if err != nil {
		return invalidRequest("%s: %v", req.Runner, err)
	}
	dir := stringParam(req.RunnerParams, "cwd")
	if dir == "" {
		dir = os.TempDir()
	}

	var stdin []byte
	sudoPassword := stringParam(req.RunnerParams, "sudo_password")
	wrap := func(argv []string) []string { return argv }
	if boolParam(req.RunnerParams, "sudo", false) {
		if _, err := exec.LookPath("sudo"); err != nil {
			return invalidRequest("%s: the action asks for sudo (runner parameter \"sudo\"), but sudo is not installed on this worker", req.Runner)
		}
		// -E keeps the environment built below, as st2 does.
		prefix := []string{"sudo", "-E"}
		if sudoPassword != "" {
			prefix = append(prefix, "-S")
			stdin = []byte(sudoPassword + "\n")
		}
		prefix = append(prefix, "--")
		wrap = func(argv []string) []string { return append(append([]string{}, prefix...), argv...) }
	}

	spec := procSpec{dir: dir, env: r.actionEnv(req), stdin: stdin, timeout: timeout}
	full := wrap(argv)
	spec.path, spec.args = full[0], full[1:]
	if err := ctx.Err(); err != nil {
		return stopError(ctx, RunResult{})
	}
	out, err := r.runProcess(ctx, req, spec)
	if err != nil && script && errors.Is(err, syscall.ENOEXEC) {
		full = wrap(append([]string{"/bin/sh"}, argv...))
		spec.path, spec.args = full[0], full[1:]
		out, err = r.runProcess(ctx, req, spec)
	}
	if err != nil {
		return failedResult("%s: start %s: %v", req.Runner, argv[0], err), nil
	}
	res := localResult(out, timeout)
	if sudoPassword != "" && sudoBadPassword.MatchString(out.stderr) {
		user := "unknown"
		if m := sudoPromptUser.FindStringSubmatch(out.stderr); m != nil {
			user = m[1]
		}
		res.Result["error"] = fmt.Sprintf("Invalid sudo password provided or sudo is not configured for this user (%s)", user)
		res.Result["return_code"] = -1
		res.Result["failed"], res.Result["succeeded"] = true, false
		res.Status = StatusFailed
	}
	if out.stopped {
		return stopError(ctx, res)
	}
	return res, nil
}

// localResult is st2's local runner result: {failed, succeeded, return_code,
// stdout, stderr[, error]}, stdout and stderr stripped of one trailing
// newline and replaced by their JSON value when they hold valid JSON.
func localResult(out procOutcome, timeout time.Duration) RunResult {
	exit := out.exitCode
	var errMsg string
	if out.timedOut {
		errMsg = fmt.Sprintf("Action failed to complete in %s seconds", formatSeconds(timeout))
		exit = exitKilled
	}
	ok := exit == 0
	result := map[string]any{
		"failed":      !ok,
		"succeeded":   ok,
		"return_code": exit,
		"stdout":      jsonOrString(stripShellChars(out.stdout), out.stdoutCut),
		"stderr":      jsonOrString(stripShellChars(out.stderr), out.stderrCut),
	}
	if errMsg != "" {
		result["error"] = errMsg
	}
	if out.stdoutCut {
		result["stdout_truncated"] = true
	}
	if out.stderrCut {
		result["stderr_truncated"] = true
	}
	status := StatusFailed
	switch exit {
	case 0:
		status = StatusSucceeded
	case exitKilled:
		status = StatusTimeout
	case exitTerminated:
		status = StatusAbandoned
	}
	return RunResult{Status: status, Result: result}
}

// jsonOrString mirrors st2's jsonify.json_loads on stdout/stderr: output that
// is a JSON document becomes that value (so `echo '{"a":1}'` gives
// result.stdout.a). A truncated stream is never parsed.
func jsonOrString(s string, truncated bool) any {
	if truncated || !json.Valid([]byte(s)) {
		return s
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber() // keep large integers exact
	var v any
	if err := dec.Decode(&v); err != nil {
		return s
	}
	return v
}

// entryPointPath resolves <pack>/actions/<entry_point>, refusing anything
// that ends up outside the pack directory (after following symlinks).
func entryPointPath(req RunRequest) (string, error) {
	if req.EntryPoint == "" {
		return "", errors.New("the action has no entry_point")
	}
	if req.PackPath == "" {
		return "", errors.New("the run request has no pack path")
	}
	if filepath.IsAbs(req.EntryPoint) {
		return "", fmt.Errorf("entry_point %q must be relative to the pack's actions directory", req.EntryPoint)
	}
	outside := fmt.Errorf("entry_point %q is not located inside the pack directory", req.EntryPoint)
	// Lexically first, so that nothing about files outside the pack (not
	// even whether they exist) shows in the error; then with symlinks
	// resolved.
	if !within(req.PackPath, filepath.Join(req.PackPath, "actions", req.EntryPoint)) {
		return "", outside
	}
	pack, err := filepath.EvalSymlinks(req.PackPath)
	if err != nil {
		return "", fmt.Errorf("pack directory: %w", err)
	}
	p, err := filepath.EvalSymlinks(filepath.Join(pack, "actions", req.EntryPoint))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("entry_point %q does not exist in pack %q", req.EntryPoint, req.Pack)
		}
		return "", fmt.Errorf("entry_point %q: %w", req.EntryPoint, err)
	}
	if !within(pack, p) {
		return "", outside
	}
	return p, nil
}

// within reports whether path is dir or below it (both cleaned, lexically).
func within(dir, path string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// ScriptArgs builds a local-shell-script command line the way st2's
// ShellScriptAction does, as an argv list (no shell, so no quoting):
//
//   - named arguments first: every action parameter without a position, as
//     <kwarg_op><name>=<value>; None and "" are left out; true becomes the
//     bare <kwarg_op><name> and false is left out; other values are
//     rendered as Python's str() would (lists as ['a', 'b'], objects as
//     {'k': 'v'}). st2 follows dict order; Squall sorts by name.
//   - then the positional arguments in position order, serialized by st2's
//     serialize_positional_argument: null "", booleans "1"/"0", arrays
//     comma-joined, objects as compact JSON, the rest as text. Positions are
//     kept even when a value is missing (it becomes "").
func ScriptArgs(params map[string]any, positional []string, kwargOp string) []string {
	isPositional := make(map[string]bool, len(positional))
	for _, name := range positional {
		isPositional[name] = true
	}
	names := make([]string, 0, len(params))
	for name := range params {
		if !isPositional[name] {
			names = append(names, name)
		}
	}
	sort.Strings(names)

	var args []string
	for _, name := range names {
		switch v := params[name].(type) {
		case nil:
		case string:
			if v != "" {
				args = append(args, kwargOp+name+"="+v)
			}
		case bool:
			if v {
				args = append(args, kwargOp+name)
			}
		default:
			args = append(args, kwargOp+name+"="+pythonStr(v))
		}
	}
	for _, name := range positional {
		args = append(args, positionalArg(params[name]))
	}
	return args
}

func positionalArg(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case bool:
		if x {
			return "1"
		}
		return "0"
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = pythonStr(e)
		}
		return strings.Join(parts, ",")
	case []string:
		return strings.Join(x, ",")
	case map[string]any:
		if len(x) == 0 {
			return ""
		}
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(x); err != nil {
			return pythonStr(x)
		}
		return strings.TrimSuffix(b.String(), "\n")
	default:
		return pythonStr(x)
	}
}

// pythonStr is Python's str() of a JSON-decoded parameter value, which st2
// applies to named script arguments, HTTP parameters and environment values.
// JSON does not tell 3 from 3.0, and action parameters declared "integer"
// arrive as whole float64s, so whole numbers below 1e16 print as integers
// (as Python's int would); other floats follow Python's repr.
func pythonStr(v any) string { return pyfmt.Str(wholeFloatsAsInts(v)) }

// wholeFloatsAsInts returns v with its whole float64s below 1e16 (exact in
// an int64) replaced by int64s; containers are copied, not changed.
func wholeFloatsAsInts(v any) any {
	switch x := v.(type) {
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1e16 {
			return int64(x)
		}
	case float32:
		return wholeFloatsAsInts(float64(x))
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = wholeFloatsAsInts(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = wholeFloatsAsInts(e)
		}
		return out
	}
	return v
}
