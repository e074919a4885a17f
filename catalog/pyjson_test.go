package catalog

import (
	"crypto/md5"
	"encoding/hex"
	"testing"
)

// Expected values are Python 3's json.dumps(v, sort_keys=True) and its MD5,
// which st2 hashes into trigger uids.
func TestPyJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      any
		want    string
		wantMD5 string
	}{
		{map[string]any{}, `{}`, "99914b932bd37a50b983c5e7c90ae93b"},
		{map[string]any{"url": "my/hook"}, `{"url": "my/hook"}`, "d8abcd4400870a77e79bdbcbaf2526cb"},
		{
			map[string]any{"b": []any{int64(1), 2.0, nil, true}, "a": map[string]any{"z": "é\n\"x", "y": 1e-05}},
			`{"a": {"y": 1e-05, "z": "\u00e9\n\"x"}, "b": [1, 2.0, null, true]}`, "3d854d033b550452460b05341b4aba36",
		},
		{map[string]any{"delta": int64(30), "unit": "seconds"}, `{"delta": 30, "unit": "seconds"}`, "c7cf86e43a8afaa09bf8b322bb91eaf9"},
		{
			map[string]any{"x": 1e16, "y": 1e15, "z": 0.1, "e": "😀\x7f"},
			`{"e": "\ud83d\ude00\u007f", "x": 1e+16, "y": 1000000000000000.0, "z": 0.1}`, "66fc89796cf2a7e590775c85e8dc7fdc",
		},
	}
	for _, tt := range tests {
		got := pyJSON(tt.in)
		if got != tt.want {
			t.Errorf("pyJSON(%v) = %s, want %s", tt.in, got, tt.want)
			continue
		}
		sum := md5.Sum([]byte(got))
		if h := hex.EncodeToString(sum[:]); h != tt.wantMD5 {
			t.Errorf("md5(%s) = %s, want %s", got, h, tt.wantMD5)
		}
	}
}

func TestTriggerRef(t *testing.T) {
	t.Parallel()
	ref, err := TriggerRef("core.st2.IntervalTimer", nil)
	if err != nil || ref != "core.st2.IntervalTimer" {
		t.Fatalf("TriggerRef without parameters = %q, %v", ref, err)
	}
	a, err := TriggerRef("core.st2.webhook", map[string]any{"url": "a"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := TriggerRef("core.st2.webhook", map[string]any{"url": "b"})
	again, _ := TriggerRef("core.st2.webhook", map[string]any{"url": "a"})
	if a == b || a != again || len(a) != len("core.")+24 || a[:5] != "core." || !IsID(a[5:]) {
		t.Fatalf("TriggerRef(url a) = %q, (url b) = %q, again %q", a, b, again)
	}
	if _, err := TriggerRef("core.st2.webhook", map[string]any{"f": func() {}}); err == nil {
		t.Fatal("TriggerRef of unencodable parameters succeeded")
	}
	tr := newTrigger("core.st2.webhook", map[string]any{"url": "my/hook"}, "core.st2.webhook {\"url\":\"my/hook\"}", "")
	if tr.UID != "trigger:core:"+tr.Name+":d8abcd4400870a77e79bdbcbaf2526cb" || tr.Pack != "core" || tr.Ref != "core."+tr.Name {
		t.Fatalf("newTrigger = %+v", tr)
	}
}
