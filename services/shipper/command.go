package shipper

import (
	"os"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/vigil-soc/vigil/pkg/service"
)

// Build returns the shipper's components when it runs as its own process
// (`vigil shipper`, vigil-shipper): it also sets the process's soft memory
// limit to shipper.memory_limit, unless GOMEMLIMIT is set.
func Build(deps service.Deps) ([]service.Named, error) {
	s, err := New(deps)
	if err != nil {
		return nil, err
	}
	if limit := deps.Config.Shipper.MemoryLimit; limit > 0 && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(limit)
	}
	return []service.Named{{Name: "shipper", Component: s}}, nil
}

// Command returns the command that runs the shipper alone.
func Command() *cobra.Command {
	return service.Command("shipper", "Follow log files and publish their events to Kafka", Build)
}
