package sensors

import (
	"fmt"
	"os"
	"os/exec"

	"github.com/squall-automation/squall/procgroup"
)

// proc is a running sensor process with its three pipes. The process leads
// its own group (procgroup): a stop kills the sensor and whatever it
// started, and if the worker process dies (crash, OOM kill) the kernel
// kills the sensor, so that the copy Temporal starts on another worker after
// the heartbeat timeout is the only one.
type proc struct {
	*procgroup.Group
	stdin  *os.File // our end: messages to the sensor
	stdout *os.File // our end: the sensor's protocol messages
	stderr *os.File // our end: the sensor's free-form output
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
	group, startErr := procgroup.Start(cmd)
	// The child holds its own copies; ours must go or readers never see EOF.
	closeAll(childEnds)
	if startErr != nil {
		closeAll(parentEnds)
		return nil, startErr
	}
	return &proc{Group: group, stdin: inW, stdout: outR, stderr: errR}, nil
}

// closePipes releases our ends of the pipes.
func (p *proc) closePipes() {
	_ = p.stdin.Close()
	_ = p.stdout.Close()
	_ = p.stderr.Close()
}
