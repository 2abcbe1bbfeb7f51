// Package httpin receives events over HTTP: POST /v1/events takes NDJSON,
// one event a line (a Vigil envelope or any JSON object, read by the
// shipper's JSON parser), and answers only once the events are in the
// spool. It authenticates with bearer tokens, bounds what it reads, and
// answers 429 when the spool is full. See README.md.
package httpin
