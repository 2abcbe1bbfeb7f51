// Command vigil-archiver runs the archiver alone: Kafka → ClickHouse.
package main

import (
	"os"

	"github.com/vigil-soc/vigil/pkg/service"
	"github.com/vigil-soc/vigil/services/archiver"
)

func main() { os.Exit(service.Execute(archiver.Command())) }
