package execution

import (
	"testing"
	"time"

	"github.com/squall-automation/squall/param"
)

func TestListQuery(t *testing.T) {
	t.Parallel()
	cases := []struct {
		f    Filter
		want string
	}{
		{Filter{}, "WorkflowType = 'squall.Execution' AND TaskQueue = 'q'"},
		{Filter{Action: "core.local", Status: "running"}, "WorkflowType = 'squall.Execution' AND TaskQueue = 'q' AND SquallAction = 'core.local' AND SquallStatus = 'running'"},
		{Filter{Parent: "null"}, "WorkflowType = 'squall.Execution' AND TaskQueue = 'q' AND SquallParent IS NULL"},
		// A quote in a value cannot change the query's shape.
		{Filter{User: "x' OR 'a'='a"}, `WorkflowType = 'squall.Execution' AND TaskQueue = 'q' AND SquallUser = 'x\' OR \'a\'=\'a'`},
	}
	for _, tc := range cases {
		if got := listQuery(tc.f, "q"); got != tc.want {
			t.Errorf("listQuery(%+v)\n got %s\nwant %s", tc.f, got, tc.want)
		}
	}
}

func TestTimeoutOf(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		params map[string]any
		want   time.Duration
	}{
		{map[string]any{"timeout": 60}, time.Minute},
		{map[string]any{"timeout": int64(5)}, 5 * time.Second},
		{map[string]any{"timeout": 1.5}, 1500 * time.Millisecond},
		{map[string]any{"timeout": "2"}, 2 * time.Second},
		{map[string]any{}, 0},
	} {
		if got := timeoutOf(tc.params); got != tc.want {
			t.Errorf("timeoutOf(%v) = %s, want %s", tc.params, got, tc.want)
		}
	}
	// core.http declares timeout as an action parameter.
	r := param.Resolved{Runner: map[string]any{"url": "x"}, Action: map[string]any{"timeout": 7}}
	if got := timeoutOf(shownTimeout(r)); got != 7*time.Second {
		t.Errorf("http timeout = %s", got)
	}
}

func TestMaskSecrets(t *testing.T) {
	t.Parallel()
	p := map[string]any{"password": "hunter2", "user": "me"}
	maskSecrets(p, []string{"password", "absent"})
	if p["password"] != MaskedValue || p["user"] != "me" || len(p) != 2 {
		t.Fatalf("masked: %v", p)
	}
}
