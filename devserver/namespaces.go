package devserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	namespacepb "go.temporal.io/api/namespace/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// setupBudget bounds namespace setup when the caller's context has no deadline.
const setupBudget = 2 * time.Minute

// setupNamespaces registers the namespaces with their retention and adds missing search
// attributes, through the frontend API so that the same code serves SQLite and Postgres and
// re-running it on every start changes nothing that is already right.
func (s *Server) setupNamespaces(ctx context.Context, opts *Options) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, setupBudget)
		defer cancel()
	}
	c, err := s.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()

	changed := map[string][]string{} // namespace → search attributes to wait for
	for _, ns := range opts.Namespaces {
		if err := ensureNamespace(ctx, c.WorkflowService(), ns, opts.Retention, s.log); err != nil {
			return err
		}
		added, err := ensureSearchAttributes(ctx, c.OperatorService(), ns, opts.SearchAttributes, s.log)
		if err != nil {
			return err
		}
		if len(added) > 0 {
			changed[ns] = added
		}
	}
	for ns, names := range changed {
		if err := waitSearchAttributes(ctx, c.WorkflowService(), ns, names); err != nil {
			return err
		}
	}
	if len(changed) > 0 {
		// The frontend now knows the new attributes; history and matching reload namespaces
		// on the same period but at their own moment. One more period covers them, so that a
		// workflow started right after Start may upsert the attributes.
		if err := sleep(ctx, namespaceRefresh+200*time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}

// dial connects to the frontend, retrying while it finishes starting.
func (s *Server) dial(ctx context.Context) (client.Client, error) {
	quiet := slog.New(levelHandler{inner: s.log.Handler(), level: slog.LevelError})
	var lastErr error
	for {
		c, err := client.DialContext(ctx, client.Options{
			HostPort: s.frontend,
			Logger:   sdklog.NewStructuredLogger(quiet),
		})
		if err == nil {
			return c, nil
		}
		lastErr = err
		if sleep(ctx, 200*time.Millisecond) != nil {
			return nil, fmt.Errorf("devserver: connect to the frontend at %s: %w", s.frontend, lastErr)
		}
	}
}

func ensureNamespace(ctx context.Context, wf workflowservice.WorkflowServiceClient, ns string, retention time.Duration, log *slog.Logger) error {
	err := retry(ctx, func() error {
		_, err := wf.RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
			Namespace:                        ns,
			Description:                      "Registered by Squall",
			WorkflowExecutionRetentionPeriod: durationpb.New(retention),
		})
		return err
	})
	if err == nil {
		log.Info("namespace registered", "namespace", ns, "retention", retention)
		return nil
	}
	if !hasCode(err, codes.AlreadyExists) {
		return fmt.Errorf("devserver: register namespace %q: %w", ns, err)
	}
	var desc *workflowservice.DescribeNamespaceResponse
	if err := retry(ctx, func() (err error) {
		desc, err = wf.DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: ns})
		return err
	}); err != nil {
		return fmt.Errorf("devserver: describe namespace %q: %w", ns, err)
	}
	if desc.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration() == retention {
		return nil
	}
	if err := retry(ctx, func() error {
		_, err := wf.UpdateNamespace(ctx, &workflowservice.UpdateNamespaceRequest{
			Namespace: ns,
			Config:    &namespacepb.NamespaceConfig{WorkflowExecutionRetentionTtl: durationpb.New(retention)},
		})
		return err
	}); err != nil {
		return fmt.Errorf("devserver: update retention of namespace %q: %w", ns, err)
	}
	log.Info("namespace retention updated", "namespace", ns, "retention", retention)
	return nil
}

// ensureSearchAttributes adds the attributes of want that ns lacks and returns their names.
// An attribute that exists with another type is an error: changing it would need its data
// reindexed, which is for an operator to decide.
func ensureSearchAttributes(ctx context.Context, op operatorservice.OperatorServiceClient, ns string, want map[string]enumspb.IndexedValueType, log *slog.Logger) ([]string, error) {
	if len(want) == 0 {
		return nil, nil
	}
	var have *operatorservice.ListSearchAttributesResponse
	if err := retry(ctx, func() (err error) {
		have, err = op.ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: ns})
		return err
	}); err != nil {
		return nil, fmt.Errorf("devserver: list search attributes of namespace %q: %w", ns, err)
	}
	missing := map[string]enumspb.IndexedValueType{}
	for _, name := range slices.Sorted(maps.Keys(want)) {
		typ := want[name]
		existing, ok := have.GetCustomAttributes()[name]
		if !ok {
			if _, system := have.GetSystemAttributes()[name]; system {
				return nil, fmt.Errorf("devserver: search attribute %q is a Temporal system attribute: pick another name", name)
			}
			missing[name] = typ
			continue
		}
		if existing != typ {
			return nil, fmt.Errorf("devserver: search attribute %q in namespace %q has type %s, want %s: "+
				"remove it (temporal operator search-attribute remove) or rename ours",
				name, ns, existing, typ)
		}
	}
	if len(missing) == 0 {
		return nil, nil
	}
	if err := retry(ctx, func() error {
		_, err := op.AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{Namespace: ns, SearchAttributes: missing})
		return err
	}); err != nil {
		return nil, fmt.Errorf("devserver: add search attributes %v to namespace %q: %w", slices.Sorted(maps.Keys(missing)), ns, err)
	}
	names := slices.Sorted(maps.Keys(missing))
	log.Info("search attributes added", "namespace", ns, "attributes", names)
	return names, nil
}

// waitSearchAttributes waits until the frontend accepts a visibility query naming every
// attribute in names, i.e. until its namespace cache has the new aliases.
func waitSearchAttributes(ctx context.Context, wf workflowservice.WorkflowServiceClient, ns string, names []string) error {
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = "`" + n + "` IS NULL"
	}
	query := strings.Join(parts, " OR ")
	for {
		_, err := wf.CountWorkflowExecutions(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: ns, Query: query})
		if err == nil {
			return nil
		}
		if !hasCode(err, codes.InvalidArgument) && !hasCode(err, codes.Unavailable) && !hasCode(err, codes.NotFound) {
			return fmt.Errorf("devserver: check search attributes %v in namespace %q: %w", names, ns, err)
		}
		if sleep(ctx, 100*time.Millisecond) != nil {
			return fmt.Errorf("devserver: search attributes %v in namespace %q not usable yet: %w", names, ns, err)
		}
	}
}

// retry calls fn until it succeeds, fails with something other than the transient errors of a
// server that is still starting, or ctx ends.
func retry(ctx context.Context, fn func() error) error {
	for {
		err := fn()
		// NotFound: a namespace just registered may not have reached every cache yet.
		if err == nil || !(hasCode(err, codes.Unavailable) || hasCode(err, codes.NotFound) || hasCode(err, codes.DeadlineExceeded)) {
			return err
		}
		if sleep(ctx, 200*time.Millisecond) != nil {
			return err
		}
	}
}

// hasCode reports whether err carries gRPC code c, whether it arrived as a raw status or
// already converted to a serviceerror by the SDK.
func hasCode(err error, c codes.Code) bool {
	var withStatus interface{ Status() *status.Status }
	if errors.As(err, &withStatus) {
		return withStatus.Status().Code() == c
	}
	return status.Code(err) == c
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
