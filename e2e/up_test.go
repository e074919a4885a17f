package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestUpKeepsDataAcrossRestarts runs `squall up` exactly as `make run` does
// (private Postgres, embedded Temporal with SQLite, bundled packs, generated
// admin password), runs an action through the CLI, stops it with Ctrl-C
// (SIGINT), starts it again and finds the same execution and password.
func TestUpKeepsDataAcrossRestarts(t *testing.T) {
	bin := squallBin(t)
	if testing.Short() {
		t.Skip("starts a whole stack")
	}
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	_ = os.MkdirAll(home, 0o700)
	apiPort, tport, uiPort, pgPort := freePort(t), freePort(t), freePort(t), freePort(t)
	apiURL := fmt.Sprintf("http://127.0.0.1:%d", apiPort)
	env := append(os.Environ(),
		"HOME="+home,
		"SQUALL_DATA_DIR="+filepath.Join(dir, "data"),
		"SQUALL_DATABASE_URL=", "SQUALL_TEMPORAL_ADDRESS=",
		fmt.Sprintf("SQUALL_API_ADDR=127.0.0.1:%d", apiPort),
		"SQUALL_API_URL="+apiURL,
		fmt.Sprintf("SQUALL_TEMPORAL_PORT=%d", tport),
		fmt.Sprintf("SQUALL_UI_PORT=%d", uiPort),
		fmt.Sprintf("SQUALL_POSTGRES_PORT=%d", pgPort),
		"SQUALL_PACKS_PATHS="+repoPath(t, "packs"),
		"SQUALL_ADMIN_PASSWORD=",
	)
	up := func(name string) (*exec.Cmd, string) {
		logPath := filepath.Join(dir, name+".log")
		f, err := os.Create(logPath)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "up")
		cmd.Env = env
		cmd.Stdout, cmd.Stderr = f, f
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			f.Close()
			if t.Failed() {
				b, _ := os.ReadFile(logPath)
				t.Logf("---- %s ----\n%s", name, tail(string(b), 8000))
			}
		})
		s := &stack{t: t, apiURL: apiURL}
		s.waitHealthy(180 * time.Second)
		return cmd, logPath
	}
	stop := func(cmd *exec.Cmd) {
		_ = cmd.Process.Signal(syscall.SIGINT)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("squall up did not stop cleanly on SIGINT: %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Fatal("squall up did not stop within 60 s of SIGINT")
		}
	}
	cli := func(args ...string) string {
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("squall %v: %v\n%s", args, err, out)
		}
		return string(out)
	}

	first, _ := up("up-1")
	pw, err := os.ReadFile(filepath.Join(dir, "data", "admin-password"))
	if err != nil {
		t.Fatalf("admin password not saved: %v", err)
	}
	password := strings.TrimSpace(string(pw))
	cli("login", "st2admin", "-p", password)
	var ex execution
	if err := json.Unmarshal([]byte(cli("run", "core.local", "cmd=echo persisted", "-j")), &ex); err != nil || ex.Status != "succeeded" {
		t.Fatalf("run core.local: %+v %v", ex, err)
	}
	stop(first)

	second, _ := up("up-2")
	defer stop(second)
	pw2, _ := os.ReadFile(filepath.Join(dir, "data", "admin-password"))
	if strings.TrimSpace(string(pw2)) != password {
		t.Fatal("the admin password changed across restarts")
	}
	cli("login", "st2admin", "-p", password) // the htpasswd entry survived
	var again execution
	if err := json.Unmarshal([]byte(cli("execution", "get", ex.ID, "-j")), &again); err != nil {
		t.Fatal(err)
	}
	if again.Status != "succeeded" || again.Result["stdout"] != "persisted" {
		t.Fatalf("execution after restart: %+v", again)
	}
}
