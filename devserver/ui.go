package devserver

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uiserveroptions "github.com/temporalio/ui-server/v2/server/server_options"
)

// startUI serves the Temporal Web UI against our frontend and waits until it accepts
// connections, so UIAddress is usable when Start returns.
func (s *Server) startUI(ctx context.Context, opts *Options) error {
	host := opts.FrontendIP
	s.ui = uiserver.NewServer(uiserveroptions.WithConfigProvider(&uiconfig.Config{
		Host:                host,
		Port:                opts.UIPort,
		TemporalGRPCAddress: s.frontend,
		EnableUI:            true,
		DefaultNamespace:    opts.Namespaces[0],
		// Plain HTTP on a development host: a Secure CSRF cookie would never be sent back
		// and every action in the UI would fail. Same setting as `temporal server start-dev`.
		CORS:     uiconfig.CORS{CookieInsecure: true},
		HideLogs: true,
		// No calls to temporal.io from a server that may be air-gapped.
		DisableNewsFetch:   true,
		NotifyOnNewVersion: false,
	}))
	// Start blocks until Stop; it returns an error (after logging it) only if it could not
	// listen, which checkPortFree makes unlikely.
	go func() {
		if err := s.ui.Start(); err != nil {
			s.log.Error("temporal UI stopped", "error", err)
		}
	}()
	addr := net.JoinHostPort(dialHost(host), strconv.Itoa(opts.UIPort))
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := (&net.Dialer{Timeout: time.Second}).DialContext(ctx, "tcp", addr)
		if err == nil {
			_ = conn.Close()
			break
		}
		if time.Now().After(deadline) || sleep(ctx, 50*time.Millisecond) != nil {
			return fmt.Errorf("devserver: UI did not start listening on %s: %w", addr, err)
		}
	}
	s.uiAddr = "http://" + addr
	return nil
}
