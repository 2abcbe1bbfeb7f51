// Package telemetry gives every Vigil service its structured logger and its
// HTTP endpoint: Prometheus metrics on /metrics, liveness on /healthz and
// readiness on /readyz. Nothing here is global: callers pass the logger and
// the registry to the components they build.
package telemetry
