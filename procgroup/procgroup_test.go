package procgroup

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/squall-automation/squall/internal/testenv"
)

// startSh starts script with sh as a group leader; its output goes to
// /dev/null.
func startSh(t *testing.T, script string) *Group {
	t.Helper()
	g, err := Start(exec.Command("sh", "-c", script))
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		// A failed test must not leave sleepers behind.
		_ = syscall.Kill(-g.Pid, syscall.SIGKILL)
	})
	return g
}

func TestStartMakesAGroupLeader(t *testing.T) {
	t.Parallel()
	g := startSh(t, "sleep 100")
	pgid, err := syscall.Getpgid(g.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if pgid != g.Pid {
		t.Errorf("pgid = %d, want the leader's pid %d", pgid, g.Pid)
	}
	g.Kill(time.Second)
}

func TestStartFailure(t *testing.T) {
	t.Parallel()
	g, err := Start(exec.Command(filepath.Join(t.TempDir(), "missing")))
	if err == nil || g != nil {
		t.Fatalf("Start = %v, %v; want an error", g, err)
	}
}

func TestExitCode(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		script string
		want   int
	}{
		{"exit 0", 0},
		{"exit 3", 3},
		{"kill -TERM $$", -int(syscall.SIGTERM)},
		{"kill -KILL $$", -int(syscall.SIGKILL)},
	} {
		g := startSh(t, tc.script)
		select {
		case <-g.Exited():
		case <-time.After(5 * time.Second):
			t.Fatalf("%q did not exit", tc.script)
		}
		if got := g.ExitCode(); got != tc.want {
			t.Errorf("%q: ExitCode = %d, want %d", tc.script, got, tc.want)
		}
		if _, ok := <-g.Exited(); ok {
			t.Errorf("%q: Exited delivered twice; want it closed", tc.script)
		}
	}
	if got := ExitCode(nil); got != -1 {
		t.Errorf("ExitCode(nil) = %d, want -1", got)
	}
}

// A group where one member ignores SIGTERM: only the SIGKILL after the grace
// period ends it, and Kill returns after the leader has been reaped.
func TestKillEscalatesToSIGKILL(t *testing.T) {
	t.Parallel()
	pidFile := filepath.Join(t.TempDir(), "pids")
	g := startSh(t, fmt.Sprintf(`sleep 100 & echo $! >> %[1]s; (trap '' TERM; sleep 100) & echo $! >> %[1]s; echo $$ >> %[1]s; sleep 100`, pidFile))
	pids := testenv.ReadPIDs(t, pidFile, 3)
	const grace = 500 * time.Millisecond
	start := time.Now()
	g.Kill(grace)
	if elapsed := time.Since(start); elapsed < grace || elapsed > 10*time.Second {
		t.Errorf("Kill took %v, want the grace period (%v) and not much more", elapsed, grace)
	}
	select {
	case <-g.Exited():
	default:
		t.Error("Kill returned before the leader was reaped")
	}
	if got := g.ExitCode(); got != -int(syscall.SIGTERM) {
		t.Errorf("ExitCode = %d, want -15 (the leader dies of SIGTERM)", got)
	}
	testenv.WaitProcessesGone(t, pids)
}

// When SIGTERM ends the whole group, Kill returns without waiting out the
// grace period.
func TestKillReturnsOnceGroupIsGone(t *testing.T) {
	t.Parallel()
	pidFile := filepath.Join(t.TempDir(), "pids")
	g := startSh(t, fmt.Sprintf(`sleep 100 & echo $! >> %[1]s; echo $$ >> %[1]s; sleep 100`, pidFile))
	pids := testenv.ReadPIDs(t, pidFile, 2)
	start := time.Now()
	g.Kill(time.Minute)
	if elapsed := time.Since(start); elapsed > 10*time.Second {
		t.Errorf("Kill took %v; the group was gone long before", elapsed)
	}
	if got := g.ExitCode(); got != -int(syscall.SIGTERM) {
		t.Errorf("ExitCode = %d, want -15", got)
	}
	testenv.WaitProcessesGone(t, pids)
}

// A leader that exited (and whose exit was already consumed) leaves a
// member behind: Kill still ends the group through the leader's PID, which
// the live member keeps from being reused.
func TestKillAfterLeaderExited(t *testing.T) {
	t.Parallel()
	pidFile := filepath.Join(t.TempDir(), "pids")
	g := startSh(t, fmt.Sprintf(`sleep 100 & echo $! >> %[1]s; exit 3`, pidFile))
	pids := testenv.ReadPIDs(t, pidFile, 1)
	select {
	case <-g.Exited():
	case <-time.After(5 * time.Second):
		t.Fatal("the leader did not exit")
	}
	start := time.Now()
	g.Kill(time.Minute)
	if elapsed := time.Since(start); elapsed > 10*time.Second {
		t.Errorf("Kill took %v", elapsed)
	}
	if got := g.ExitCode(); got != 3 {
		t.Errorf("ExitCode = %d, want 3", got)
	}
	testenv.WaitProcessesGone(t, pids)
}

// TestWorkerDeathKillsChild starts a child in a helper process (this test
// binary again), kills the helper with SIGKILL as a crashing worker would
// die, and checks that the child died with it (Pdeathsig). While the helper
// lives, it retires OS threads (the caller's included) as fast as it can:
// the child must not die with the thread that happened to fork it.
func TestWorkerDeathKillsChild(t *testing.T) {
	if pidFile := os.Getenv("SQUALL_TEST_DEATH_HELPER"); pidFile != "" {
		// Start is called from a goroutine that ends with its thread locked,
		// so the runtime ends that thread (never the main one, which it
		// keeps) right after a fork could have happened on it.
		type started struct {
			g   *Group
			err error
		}
		res := make(chan started)
		var spawn func()
		spawn = func() {
			runtime.LockOSThread()
			if syscall.Gettid() == os.Getpid() {
				go spawn() // keep the main thread here; the next goroutine gets another
				select {}
			}
			g, err := Start(exec.Command("sh", "-c", fmt.Sprintf("echo $$ > %s; exec sleep 100", pidFile)))
			res <- started{g, err}
		}
		go spawn()
		r := <-res
		if r.err != nil {
			t.Fatal(r.err)
		}
		g := r.g
		go func() {
			for {
				done := make(chan struct{})
				go func() {
					// Exiting while locked makes the runtime end the thread.
					runtime.LockOSThread()
					close(done)
				}()
				<-done
				time.Sleep(time.Millisecond)
			}
		}()
		<-g.Exited()
		t.Fatal("the helper's child finished; it should have been killed with the helper")
		return
	}
	t.Parallel()
	pidFile := filepath.Join(t.TempDir(), "pid")
	helper := exec.Command(os.Args[0], "-test.run=^TestWorkerDeathKillsChild$", "-test.count=1")
	helper.Env = append(os.Environ(), "SQUALL_TEST_DEATH_HELPER="+pidFile)
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	pids := testenv.ReadPIDs(t, pidFile, 1)
	// Let the helper's runtime shuffle goroutines across threads for a
	// moment: the child must not die while its worker lives.
	time.Sleep(300 * time.Millisecond)
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", pids[0])); err != nil {
		t.Fatalf("child died while the worker was alive: %v", err)
	}
	_ = helper.Process.Kill()
	_ = helper.Wait()
	testenv.WaitProcessesGone(t, pids)
}
