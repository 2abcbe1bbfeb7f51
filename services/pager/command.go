package pager

import (
	"github.com/spf13/cobra"

	"github.com/vigil-soc/vigil/pkg/service"
)

// Build returns the pager's components.
func Build(deps service.Deps) ([]service.Named, error) {
	p, err := New(deps)
	if err != nil {
		return nil, err
	}
	return []service.Named{{Name: "pager", Component: p}}, nil
}

// Command returns the command that runs the pager alone.
func Command() *cobra.Command {
	return service.Command("pager", "Deliver alerts from Kafka", Build)
}
