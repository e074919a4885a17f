// Package procgroup runs a child process (an action, a sensor) as the leader
// of its own process group tied to the life of the worker, and kills that
// group as a whole without ever signalling an unrelated process.
//
// Two rules matter and are easy to get subtly wrong, which is why they live
// here once:
//
//   - The child leads a new process group (Setpgid), so everything it
//     spawns can be killed with it, and it has SIGKILL as its parent-death
//     signal (Pdeathsig), so a crashed worker does not leave it running
//     unsupervised. Pdeathsig fires when the *thread* that forked the child
//     exits, so the fork happens on a locked OS thread that stays alive
//     until the child has been reaped.
//   - A group is addressed by its leader's PID. Linux does not hand out a
//     PID that is still some group's ID, so while members remain a signal
//     to the group cannot reach anyone else; once the leader is reaped and
//     the members are gone, the ID is free for reuse (e.g. by a Postgres
//     backend, which calls setsid), so Kill stops as soon as it finds the
//     group empty.
package procgroup

import (
	"errors"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"time"
)

// pollInterval is how often a terminating process group is checked.
const pollInterval = 50 * time.Millisecond

// Group is a started child process and the process group it leads.
type Group struct {
	// Pid is the leader's PID, which is also the group's ID.
	Pid int

	cmd    *exec.Cmd
	exited chan error
}

// Start starts cmd as the leader of a new process group with SIGKILL as its
// parent-death signal, and reaps it in the background. It returns once the
// process runs or could not be started. cmd.SysProcAttr is replaced.
//
// The death signal reaches the leader only: descendants of a child whose
// worker crashed (SIGKILL, OOM) outlive it; a graceful shutdown is expected
// to Kill the whole group. The kernel also clears it when the child executes
// a setuid binary such as sudo.
//
// Handing cmd *os.File values (not other readers or writers) for its
// standard streams keeps exec from starting copying goroutines, so the
// leader is reaped when it exits and the caller decides how long to read.
func Start(cmd *exec.Cmd) (*Group, error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	g := &Group{cmd: cmd, exited: make(chan error, 1)}
	started := make(chan error, 1)
	go func() {
		// Go may retire an OS thread at will (e.g. when a goroutine that
		// locked it returns), which would kill a healthy child. So the fork
		// happens on a locked thread, and this goroutine keeps it locked
		// until the child has been reaped: the thread lives exactly as long
		// as the process. Wait blocks in wait4 and would occupy a thread
		// anyway, so this costs nothing extra.
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			runtime.UnlockOSThread()
			started <- err
			return
		}
		started <- nil
		werr := cmd.Wait()
		runtime.UnlockOSThread()
		g.exited <- werr
		close(g.exited)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	g.Pid = cmd.Process.Pid
	return g, nil
}

// Exited receives Wait's error once the leader has been reaped, and is then
// closed.
func (g *Group) Exited() <-chan error { return g.exited }

// ExitCode is the leader's exit status, or -N for death by signal N
// (Python's subprocess convention, which st2's statuses and payloads are
// keyed on). It is valid once Exited has delivered; before, it is -1.
func (g *Group) ExitCode() int { return ExitCode(g.cmd.ProcessState) }

// ExitCode is the exit status in state, -N for death by signal N, or -1 when
// state is nil.
func ExitCode(state *os.ProcessState) int {
	if state == nil {
		return -1
	}
	if ws, ok := state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return -int(ws.Signal())
	}
	return state.ExitCode()
}

// Kill ends the process group: SIGTERM first (so the child can clean up),
// SIGKILL to whatever is left after grace. It returns once the leader has
// been reaped and either the whole group is gone or the grace period ran out
// and SIGKILL was sent.
//
// Once the leader is reaped, the group is probed with signal 0 every
// pollInterval and Kill returns when the probe finds it gone (ESRCH): from
// then on the ID may name someone else's group.
func (g *Group) Kill(grace time.Duration) {
	_ = syscall.Kill(-g.Pid, syscall.SIGTERM)
	deadline := time.NewTimer(grace)
	defer deadline.Stop()
	poll := time.NewTicker(pollInterval)
	defer poll.Stop()
	exited := g.exited
	leaderDone := false
	for {
		select {
		case <-exited:
			// A closed channel would be ready forever: stop selecting it.
			leaderDone, exited = true, nil
		case <-poll.C:
			if leaderDone && errors.Is(syscall.Kill(-g.Pid, 0), syscall.ESRCH) {
				return // the whole group is gone
			}
		case <-deadline.C:
			_ = syscall.Kill(-g.Pid, syscall.SIGKILL)
			if !leaderDone {
				<-g.exited
			}
			return
		}
	}
}
