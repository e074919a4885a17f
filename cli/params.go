package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// parseParams turns `squall run` arguments into action parameters the way
// st2 does:
//   - name=value sets a parameter; the value stays a string, the server casts
//     it to the declared type (st2's API does the same for strings);
//   - @name=path sets the parameter to the content of the file at path
//     (relative to the working directory); for core.http it becomes
//     file_content/file_name and the method defaults to POST, as in st2;
//   - the first argument without "=" and everything after it, joined by
//     spaces, become the "cmd" parameter (`squall run core.local -- ls -l`).
func parseParams(args []string, actionRef string) (map[string]any, error) {
	params := map[string]any{}
	fileName := ""
	for i, arg := range args {
		name, value, ok := strings.Cut(arg, "=")
		if !ok {
			params["cmd"] = strings.Join(args[i:], " ")
			break
		}
		isFile := strings.HasPrefix(name, "@")
		name = strings.TrimPrefix(name, "@")
		if name == "" {
			return nil, usageErrorf("invalid parameter %q: no name before '='", arg)
		}
		if !isFile {
			params[name] = value
			continue
		}
		path, err := filepath.Abs(value)
		if err != nil {
			return nil, fmt.Errorf("parameter %s: %w", name, err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			return nil, fmt.Errorf("parameter %s: file %q doesn't exist: %w", name, value, err)
		}
		if !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("parameter %s: %q is not a file", name, value)
		}
		content, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("parameter %s: %w", name, err)
		}
		if actionRef == "core.http" {
			// The http runner uploads the file as the request body.
			params["file_content"] = string(content)
			fileName = filepath.Base(path)
			continue
		}
		params[name] = string(content)
	}
	if _, ok := params["file_content"]; ok && fileName != "" {
		if _, ok := params["method"]; !ok {
			params["method"] = "POST"
		}
		if _, ok := params["file_name"]; !ok {
			params["file_name"] = fileName
		}
	}
	return params, nil
}

// Environment variables `run -e` never passes on: they describe the CLI's
// session, not what the action should see (st2's list).
var envBlacklist = map[string]bool{
	"pwd": true, "mail": true, "username": true, "user": true, "path": true,
	"home": true, "ps1": true, "shell": true, "pythonpath": true, "ssh_tty": true,
	"ssh_connection": true, "lang": true, "ls_colors": true, "logname": true,
	"oldpwd": true, "term": true, "xdg_session_id": true,
}

// inheritedEnv is the CLI's environment for the "env" parameter of `run -e`.
func inheritedEnv(environ []string) map[string]any {
	env := map[string]any{}
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || envBlacklist[strings.ToLower(k)] {
			continue
		}
		env[k] = v
	}
	return env
}
