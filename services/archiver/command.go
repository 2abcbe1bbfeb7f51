package archiver

import (
	"github.com/spf13/cobra"

	"github.com/vigil-soc/vigil/pkg/service"
)

// Build returns the archiver's components: the archiver, then retention
// (which needs the migrations the archiver applies when it starts).
func Build(deps service.Deps) ([]service.Named, error) {
	a, err := New(deps)
	if err != nil {
		return nil, err
	}
	return []service.Named{
		{Name: "archiver", Component: a},
		{Name: "retention", Component: NewRetention(deps)},
	}, nil
}

// Command returns the command that runs the archiver alone.
func Command() *cobra.Command {
	return service.Command("archiver", "Write events, scores and alerts from Kafka to ClickHouse", Build)
}
