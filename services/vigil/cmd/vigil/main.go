// Command vigil is Vigil's command line; `vigil --help` lists what it does.
package main

import (
	"os"

	"github.com/vigil-soc/vigil/pkg/service"
	"github.com/vigil-soc/vigil/services/vigil"
)

func main() { os.Exit(service.Execute(vigil.Root())) }
