// Command vigil-processor runs the processor alone: events → scores and alerts.
package main

import (
	"os"

	"github.com/vigil-soc/vigil/pkg/service"
	"github.com/vigil-soc/vigil/services/processor"
)

func main() { os.Exit(service.Execute(processor.Command())) }
