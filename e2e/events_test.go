package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// webhook posts a JSON body to /api/v1/webhooks/<url> and returns the status.
func (a *api) webhook(url string, body any, headers map[string]string) int {
	a.t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", a.base+"/api/v1/webhooks/"+url, bytes.NewReader(b))
	req.Header.Set("X-Auth-Token", a.token)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

type enforcement struct {
	ID                string `json:"id"`
	TriggerInstanceID string `json:"trigger_instance_id"`
	ExecutionID       string `json:"execution_id"`
	Status            string `json:"status"`
	FailureReason     string `json:"failure_reason"`
	Rule              struct {
		Ref string `json:"ref"`
	} `json:"rule"`
}

func (a *api) enforcements(rule string) []enforcement {
	a.t.Helper()
	var list []enforcement
	if code := a.do("GET", "/api/v1/ruleenforcements?rule_ref="+rule+"&limit=-1", nil, &list); code != 200 {
		a.t.Fatalf("list enforcements of %s: %d", rule, code)
	}
	return list
}

// waitEnforcements polls until a rule has at least n enforcements.
func (a *api) waitEnforcements(rule string, n int, timeout time.Duration) []enforcement {
	a.t.Helper()
	deadline := time.Now().Add(timeout)
	var list []enforcement
	for time.Now().Before(deadline) {
		list = a.enforcements(rule)
		if len(list) >= n {
			return list
		}
		time.Sleep(200 * time.Millisecond)
	}
	a.t.Fatalf("rule %s: %d enforcements after %s, want %d", rule, len(list), timeout, n)
	return nil
}

func startEventStack(t *testing.T) (*stack, *api) {
	t.Helper()
	s := newStack(t)
	s.start("server", "server")
	s.start("worker-1", "worker")
	s.waitHealthy(60 * time.Second)
	a := s.login()
	if out, code := s.cli("login", adminUser, "-p", adminPassword); code != 0 {
		t.Fatalf("login: %s", out)
	}
	if out, code := s.cli("pack", "register", repoPath(t, "e2e/testdata/e2eev")); code != 0 {
		t.Fatalf("pack register: %s", out)
	}
	return s, a
}

// TestEventPipeline: webhook -> rule (st2 criteria and CEL) -> action,
// actiontrigger chaining, a timer rule and a Python sensor.
func TestEventPipeline(t *testing.T) {
	s, a := startEventStack(t)

	t.Run("webhook fires criteria and CEL rules", func(t *testing.T) {
		if code := a.webhook("e2e/unknown", map[string]any{}, nil); code != 404 {
			t.Fatalf("unknown webhook: %d, want 404", code)
		}
		body := map[string]any{"severity": "critical", "name": "db-1", "count": 7}
		if code := a.webhook("e2e/alerts", body, map[string]string{"X-Source": "e2e"}); code != 202 {
			t.Fatalf("webhook: %d", code)
		}
		for rule, want := range map[string]string{"e2eev.alert_criteria": "criteria db-1", "e2eev.alert_cel": "cel 7"} {
			enf := a.waitEnforcements(rule, 1, 30*time.Second)[0]
			if enf.Status != "succeeded" || enf.ExecutionID == "" {
				t.Fatalf("%s enforcement: %+v", rule, enf)
			}
			ex := a.wait(enf.ExecutionID, 30*time.Second)
			if ex.Status != "succeeded" || ex.Result["stdout"] != want {
				t.Fatalf("%s execution: %+v", rule, ex)
			}
		}
		// A payload neither rule matches starts nothing.
		if code := a.webhook("e2e/alerts", map[string]any{"severity": "low", "name": "web", "count": 1}, nil); code != 202 {
			t.Fatalf("webhook: %d", code)
		}
		time.Sleep(2 * time.Second)
		if n := len(a.enforcements("e2eev.alert_criteria")); n != 1 {
			t.Fatalf("criteria rule fired %d times, want 1", n)
		}
	})

	t.Run("actiontrigger chains actions", func(t *testing.T) {
		ex := a.wait(a.run("e2eev.marker", nil).ID, 30*time.Second)
		enf := a.waitEnforcements("e2eev.chain", 1, 30*time.Second)[0]
		chained := a.wait(enf.ExecutionID, 30*time.Second)
		if chained.Result["stdout"] != "chained "+ex.ID {
			t.Fatalf("chained: %+v", chained)
		}
	})

	t.Run("interval timer fires", func(t *testing.T) {
		if out, code := s.cli("rule", "enable", "e2eev.tick"); code != 0 {
			t.Fatalf("enable tick: %s", out)
		}
		defer s.cli("rule", "disable", "e2eev.tick")
		list := a.waitEnforcements("e2eev.tick", 3, 30*time.Second)
		ex := a.wait(list[0].ExecutionID, 30*time.Second)
		if !strings.HasPrefix(fmt.Sprint(ex.Result["stdout"]), "tick ") {
			t.Fatalf("tick: %+v", ex)
		}
	})

	t.Run("python sensor dispatches to a rule", func(t *testing.T) {
		var sensor map[string]any
		if code := a.do("PUT", "/api/v1/sensortypes/e2eev.Poller", map[string]any{"enabled": true}, &sensor); code != 200 {
			t.Fatalf("enable sensor: %d %v", code, sensor)
		}
		defer a.do("PUT", "/api/v1/sensortypes/e2eev.Poller", map[string]any{"enabled": false}, nil)
		enf := a.waitEnforcements("e2eev.on_polled", 2, 60*time.Second)[0]
		ex := a.wait(enf.ExecutionID, 30*time.Second)
		if !strings.HasPrefix(fmt.Sprint(ex.Result["stdout"]), "polled ") {
			t.Fatalf("polled: %+v", ex)
		}
	})
}

// TestWebhookBurstSurvivesKills sends a burst of webhooks, each matching two
// rules, while the worker and the API are killed -9 and restarted. Clients
// retry with their Idempotency-Key until they get a 202. Afterwards every
// event has exactly one execution per matching rule: counted.
func TestWebhookBurstSurvivesKills(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts processes")
	}
	s, a := startEventStack(t)
	const events = 60
	body := func(i int) map[string]any {
		return map[string]any{"severity": "critical", "name": fmt.Sprintf("db-%d", i), "count": 10 + i}
	}
	var wg sync.WaitGroup
	acked := make([]bool, events)
	jobs := make(chan int, events)
	for i := 0; i < events; i++ {
		jobs <- i
	}
	close(jobs)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				deadline := time.Now().Add(3 * time.Minute)
				for time.Now().Before(deadline) {
					if a.webhook("e2e/alerts", body(i), map[string]string{"X-Source": "e2e", "Idempotency-Key": fmt.Sprintf("burst-%d", i)}) == 202 {
						acked[i] = true
						break
					}
					time.Sleep(100 * time.Millisecond)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	s.kill("worker-1")
	time.Sleep(500 * time.Millisecond)
	s.start("worker-2", "worker")
	time.Sleep(300 * time.Millisecond)
	s.kill("server")
	time.Sleep(500 * time.Millisecond)
	s.start("server-2", "server")
	s.waitHealthy(60 * time.Second)
	time.Sleep(200 * time.Millisecond)
	s.kill("worker-2")
	s.start("worker-3", "worker")
	wg.Wait()
	for i, ok := range acked {
		if !ok {
			t.Fatalf("event %d was never acknowledged", i)
		}
	}
	// Re-deliver a few acknowledged events with their keys: still one each.
	for i := 0; i < 5; i++ {
		if code := a.webhook("e2e/alerts", body(i), map[string]string{"X-Source": "e2e", "Idempotency-Key": fmt.Sprintf("burst-%d", i)}); code != 202 {
			t.Fatalf("redelivery: %d", code)
		}
	}
	for _, rule := range []string{"e2eev.alert_criteria", "e2eev.alert_cel"} {
		list := a.waitEnforcements(rule, events, 3*time.Minute)
		seen := map[string]bool{}
		execs := map[string]bool{}
		for _, e := range list {
			if seen[e.TriggerInstanceID] {
				t.Fatalf("%s fired twice for trigger instance %s", rule, e.TriggerInstanceID)
			}
			seen[e.TriggerInstanceID] = true
			execs[e.ExecutionID] = true
		}
		if len(list) != events || len(execs) != events {
			t.Fatalf("%s: %d enforcements, %d executions for %d events", rule, len(list), len(execs), events)
		}
		// Every execution finishes: none stays running after the kills.
		for id := range execs {
			if ex := a.wait(id, 2*time.Minute); ex.Status != "succeeded" {
				t.Fatalf("%s execution %s: %s", rule, id, ex.Status)
			}
		}
		// Visibility agrees: count the executions Temporal holds for the rule.
		var page []execution
		req, _ := http.NewRequest("GET", a.base+"/api/v1/executions?rule="+rule+"&limit=1", nil)
		req.Header.Set("X-Auth-Token", a.token)
		deadline := time.Now().Add(30 * time.Second)
		for {
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = json.NewDecoder(resp.Body).Decode(&page)
			resp.Body.Close()
			total := resp.Header.Get("X-Total-Count")
			if total == fmt.Sprint(events) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: Temporal counts %s executions, want %d", rule, total, events)
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
}
