// Command squall-bench measures end-to-end action execution through the REST
// API of a running Squall: it POSTs executions at a fixed concurrency, polls
// each until it is final, and reports throughput, latency percentiles and the
// peak RSS of the Squall process.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

type result struct {
	Name        string  `json:"name"`
	Action      string  `json:"action"`
	Concurrency int     `json:"concurrency"`
	Count       int     `json:"count"`
	Errors      int     `json:"errors"`
	Seconds     float64 `json:"seconds"`
	PerSecond   float64 `json:"per_second"`
	P50ms       float64 `json:"p50_ms"`
	P90ms       float64 `json:"p90_ms"`
	P99ms       float64 `json:"p99_ms"`
	RSSIdleMB   float64 `json:"rss_idle_mb,omitempty"`
	RSSPeakMB   float64 `json:"rss_peak_mb,omitempty"`
}

func main() {
	api := flag.String("api", "http://127.0.0.1:9101", "Squall API URL")
	user := flag.String("user", "st2admin", "user")
	password := flag.String("password", os.Getenv("SQUALL_ADMIN_PASSWORD"), "password")
	action := flag.String("action", "core.local", "action ref")
	params := flag.String("params", `{"cmd":"true"}`, "parameters as JSON")
	n := flag.Int("n", 200, "executions")
	conc := flag.String("c", "1,4,16", "concurrencies, comma-separated")
	pid := flag.Int("pid", 0, "Squall process ID, for RSS")
	warmup := flag.Int("warmup", 20, "executions before measuring")
	poll := flag.Duration("poll", 5*time.Millisecond, "poll interval while waiting for an execution")
	out := flag.String("json", "", "append results as JSON lines to this file")
	flag.Parse()

	token, err := login(*api, *user, *password)
	if err != nil {
		fail(err)
	}
	var p map[string]any
	if err := json.Unmarshal([]byte(*params), &p); err != nil {
		fail(fmt.Errorf("--params: %w", err))
	}
	b := &bench{api: *api, token: token, action: *action, params: p, poll: *poll}
	idle := rssMB(*pid, "VmRSS")
	b.run(*warmup, 4)
	fmt.Printf("%-14s %5s %6s %6s %9s %8s %8s %8s\n", "action", "conc", "count", "errors", "exec/s", "p50 ms", "p90 ms", "p99 ms")
	for _, cs := range strings.Split(*conc, ",") {
		c, err := strconv.Atoi(strings.TrimSpace(cs))
		if err != nil || c <= 0 {
			fail(fmt.Errorf("bad concurrency %q", cs))
		}
		lat, errs, elapsed := b.run(*n, c)
		r := result{
			Name: "api-execution", Action: *action, Concurrency: c, Count: len(lat), Errors: errs,
			Seconds: elapsed.Seconds(), PerSecond: float64(len(lat)) / elapsed.Seconds(),
			P50ms: pct(lat, 50), P90ms: pct(lat, 90), P99ms: pct(lat, 99),
			RSSIdleMB: idle, RSSPeakMB: rssMB(*pid, "VmHWM"),
		}
		fmt.Printf("%-14s %5d %6d %6d %9.1f %8.1f %8.1f %8.1f\n", r.Action, c, r.Count, errs, r.PerSecond, r.P50ms, r.P90ms, r.P99ms)
		if *out != "" {
			f, err := os.OpenFile(*out, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
			if err == nil {
				_ = json.NewEncoder(f).Encode(r)
				f.Close()
			}
		}
	}
	if *pid > 0 {
		fmt.Printf("squall RSS: idle %.1f MB, peak %.1f MB\n", idle, rssMB(*pid, "VmHWM"))
	}
}

type bench struct {
	api, token, action string
	params             map[string]any
	poll               time.Duration
	client             http.Client
}

// run executes n actions with c in flight; it returns each one's latency
// from POST to the first GET that shows a final status.
func (b *bench) run(n, c int) ([]time.Duration, int, time.Duration) {
	var mu sync.Mutex
	var lat []time.Duration
	errs := 0
	jobs := make(chan struct{}, n)
	for i := 0; i < n; i++ {
		jobs <- struct{}{}
	}
	close(jobs)
	start := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < c; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				t0 := time.Now()
				err := b.one()
				d := time.Since(t0)
				mu.Lock()
				if err != nil {
					errs++
					if errs <= 3 {
						fmt.Fprintln(os.Stderr, "error:", err)
					}
				} else {
					lat = append(lat, d)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return lat, errs, time.Since(start)
}

func (b *bench) one() error {
	body, _ := json.Marshal(map[string]any{"action": b.action, "parameters": b.params})
	var ex struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	if err := b.do("POST", "/api/v1/executions", body, 201, &ex); err != nil {
		return err
	}
	for {
		switch ex.Status {
		case "succeeded":
			return nil
		case "failed", "timeout", "abandoned", "canceled":
			return fmt.Errorf("execution %s %s", ex.ID, ex.Status)
		}
		time.Sleep(b.poll)
		if err := b.do("GET", "/api/v1/executions/"+ex.ID, nil, 200, &ex); err != nil {
			return err
		}
	}
}

func (b *bench) do(method, path string, body []byte, want int, out any) error {
	req, _ := http.NewRequest(method, b.api+path, bytes.NewReader(body))
	req.Header.Set("X-Auth-Token", b.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := b.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, data)
	}
	return json.Unmarshal(data, out)
}

func login(api, user, password string) (string, error) {
	req, _ := http.NewRequest("POST", api+"/auth/v1/tokens", strings.NewReader("{}"))
	req.SetBasicAuth(user, password)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var tok struct {
		Token string `json:"token"`
	}
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 201 || json.Unmarshal(data, &tok) != nil {
		return "", fmt.Errorf("login: %d %s", resp.StatusCode, data)
	}
	return tok.Token, nil
}

func pct(d []time.Duration, p float64) float64 {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(float64(len(s)-1) * p / 100)
	return float64(s[i].Microseconds()) / 1000
}

// rssMB reads a VmRSS/VmHWM line of /proc/<pid>/status, in MB.
func rssMB(pid int, field string) float64 {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, field+":") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				kb, _ := strconv.ParseFloat(f[1], 64)
				return kb / 1024
			}
		}
	}
	return 0
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "squall-bench:", err)
	os.Exit(1)
}
