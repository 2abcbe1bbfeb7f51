package processor

import (
	"github.com/spf13/cobra"

	"github.com/vigil-soc/vigil/pkg/service"
)

// Build returns the processor's components.
func Build(deps service.Deps) ([]service.Named, error) {
	p, err := New(deps)
	if err != nil {
		return nil, err
	}
	return []service.Named{{Name: "processor", Component: p}}, nil
}

// Command returns the command that runs the processor alone.
func Command() *cobra.Command {
	return service.Command("processor", "Score events against per-entity baselines and publish alerts", Build)
}
