package sensors

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"time"
)

// groupPollInterval is how often a terminating process group is checked.
const groupPollInterval = 50 * time.Millisecond

// proc is a running sensor process with its three pipes.
//
// The spawning code mirrors activities/process.go (which is internal to the
// runners and shaped around one-shot actions); the two rules that matter are
// repeated here on purpose: a sensor has its own process group, so killing
// it kills what it started, and it dies with the thread that forked it.
type proc struct {
	cmd    *exec.Cmd
	pid    int
	stdin  *os.File // our end: messages to the sensor
	stdout *os.File // our end: the sensor's protocol messages
	stderr *os.File // our end: the sensor's free-form output
	// exited receives Wait's error once the process has been reaped, then
	// is closed.
	exited chan error
	// state is valid once exited has delivered.
	state *os.ProcessState
}

// startProc starts path with args in dir, with env, and returns once the
// process runs (or could not be started).
func startProc(path string, args []string, dir string, env []string) (*proc, error) {
	var parentEnds, childEnds []*os.File
	closeAll := func(fs []*os.File) {
		for _, f := range fs {
			_ = f.Close()
		}
	}
	pipe := func(parentReads bool) (*os.File, error) {
		r, w, err := os.Pipe()
		if err != nil {
			return nil, fmt.Errorf("create pipe: %w", err)
		}
		if parentReads {
			parentEnds, childEnds = append(parentEnds, r), append(childEnds, w)
			return r, nil
		}
		parentEnds, childEnds = append(parentEnds, w), append(childEnds, r)
		return w, nil
	}
	inW, err := pipe(false)
	if err != nil {
		closeAll(append(parentEnds, childEnds...))
		return nil, err
	}
	outR, err := pipe(true)
	if err != nil {
		closeAll(append(parentEnds, childEnds...))
		return nil, err
	}
	errR, err := pipe(true)
	if err != nil {
		closeAll(append(parentEnds, childEnds...))
		return nil, err
	}

	cmd := exec.Command(path, args...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = childEnds[0], childEnds[1], childEnds[2]
	// Setpgid: the sensor and its children form one group that a stop kills
	// as a whole. Pdeathsig: if the worker process dies (crash, OOM kill),
	// the kernel kills the sensor, so that the copy Temporal starts on
	// another worker after the heartbeat timeout is the only one.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}

	p := &proc{cmd: cmd, stdin: inW, stdout: outR, stderr: errR, exited: make(chan error, 1)}
	started := make(chan error, 1)
	go func() {
		// Pdeathsig fires when the *thread* that forked the child exits.
		// Go retires OS threads at will, which would kill a healthy sensor;
		// so the fork happens on a locked thread that stays locked (and
		// alive) until the child has been reaped.
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			runtime.UnlockOSThread()
			started <- err
			return
		}
		started <- nil
		werr := cmd.Wait()
		runtime.UnlockOSThread()
		p.state = cmd.ProcessState
		p.exited <- werr
		close(p.exited)
	}()
	startErr := <-started
	// The child holds its own copies; ours must go or readers never see EOF.
	closeAll(childEnds)
	if startErr != nil {
		closeAll(parentEnds)
		return nil, startErr
	}
	p.pid = cmd.Process.Pid
	return p, nil
}

// exitCode is the exit status, or -N for death by signal N (Python's
// subprocess convention, which st2's process_exit payload uses).
func (p *proc) exitCode() int {
	if p.state == nil {
		return -1
	}
	if ws, ok := p.state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return -int(ws.Signal())
	}
	return p.state.ExitCode()
}

// kill ends the process group: SIGTERM first (a Python sensor runs its
// cleanup), SIGKILL to whatever is left after grace. It returns once the
// leader has been reaped and the group is gone (or SIGKILLed).
//
// The group is addressed by the leader's PID even after the leader has been
// reaped; Linux does not reuse a PID that is still a group's ID.
func (p *proc) kill(grace time.Duration) {
	_ = syscall.Kill(-p.pid, syscall.SIGTERM)
	deadline := time.NewTimer(grace)
	defer deadline.Stop()
	poll := time.NewTicker(groupPollInterval)
	defer poll.Stop()
	exited := p.exited
	leaderDone := false
	for {
		select {
		case <-exited:
			leaderDone, exited = true, nil
		case <-poll.C:
			if leaderDone && errors.Is(syscall.Kill(-p.pid, 0), syscall.ESRCH) {
				return
			}
		case <-deadline.C:
			_ = syscall.Kill(-p.pid, syscall.SIGKILL)
			if !leaderDone {
				<-p.exited
			}
			return
		}
	}
}

// closePipes releases our ends of the pipes.
func (p *proc) closePipes() {
	_ = p.stdin.Close()
	_ = p.stdout.Close()
	_ = p.stderr.Close()
}
