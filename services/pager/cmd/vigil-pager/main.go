// Command vigil-pager runs the pager alone: alerts → receivers.
package main

import (
	"os"

	"github.com/vigil-soc/vigil/pkg/service"
	"github.com/vigil-soc/vigil/services/pager"
)

func main() { os.Exit(service.Execute(pager.Command())) }
