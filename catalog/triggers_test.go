package catalog

import "testing"

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
