// Command vigil-shipper runs the shipper alone: log files → Kafka.
package main

import (
	"os"

	"github.com/vigil-soc/vigil/pkg/service"
	"github.com/vigil-soc/vigil/services/shipper"
)

func main() { os.Exit(service.Execute(shipper.Command())) }
