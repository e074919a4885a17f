package testenv

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// WaitProcessesGone waits until none of pids is a live process (zombies
// count as gone: they are dead and only wait for their new parent to reap
// them), failing the test after 5 seconds.
func WaitProcessesGone(t testing.TB, pids []int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for _, pid := range pids {
		for {
			stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			if err != nil {
				break
			}
			fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
			if len(fields) > 0 && (fields[0] == "Z" || fields[0] == "X") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("process %d is still running: %s", pid, stat)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// ReadPIDs waits until the file at path holds at least n whitespace-separated
// PIDs (written by the processes a test starts) and returns the first n.
func ReadPIDs(t testing.TB, path string, n int) []int {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		fields := strings.Fields(string(b))
		if len(fields) >= n {
			pids := make([]int, 0, n)
			for _, f := range fields[:n] {
				pid, err := strconv.Atoi(f)
				if err != nil {
					t.Fatalf("pid file: %v", err)
				}
				pids = append(pids, pid)
			}
			return pids
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid file %s has %q", path, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
