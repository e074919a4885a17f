// Command squall is Squall's single binary: the CLI that talks to the REST
// API (login, run, execution, action, pack, ...) and the daemons (up, server,
// worker, temporal, migrate).
package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/squall-automation/squall/cli"
)

func main() {
	root := &cobra.Command{
		Use:           "squall",
		Short:         "Squall: StackStorm's event-driven automation on Temporal",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	cli.AddCommands(root)
	root.AddCommand(upCmd(), serverCmd(), workerCmd(), temporalCmd(), migrateCmd(), testServicesCmd())
	os.Exit(cli.Execute(root))
}
