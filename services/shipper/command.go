package shipper

import (
	"github.com/spf13/cobra"

	"github.com/vigil-soc/vigil/pkg/service"
)

// Build returns the shipper's components.
func Build(deps service.Deps) ([]service.Named, error) {
	s, err := New(deps)
	if err != nil {
		return nil, err
	}
	return []service.Named{{Name: "shipper", Component: s}}, nil
}

// Command returns the command that runs the shipper alone.
func Command() *cobra.Command {
	return service.Command("shipper", "Follow log files and publish their events to Kafka", Build)
}
