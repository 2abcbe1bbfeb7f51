// Package grafanads is Vigil's Grafana backend data source: baseline bands,
// anomalous entities, the alert feed, event search and the forensic query
// library as parameterized queries over ClickHouse; raw SQL with Grafana's
// macros; the live alert stream from vigil.alerts; a health check; and a
// data source pinned to one tenant that no query can leave. README.md says
// how to install it and what each query type answers.
package grafanads
