// Package service is what every Vigil service shares around its own logic:
// the Component lifecycle, the command-line flags that load configuration
// (-c FILE, --set key=value), the logger and telemetry set-up, and running
// components until a signal, then shutting them down in reverse order.
package service
