// Package forensics is Vigil's library of named forensic queries over the
// audit history in ClickHouse: what one source IP did, every login of a
// user, first-seen user and source pairs, top talkers, failed-then-
// successful login sequences, the events behind an alert. Each query is
// documented SQL with typed, validated parameters; each sees exactly one
// copy of every event and runs on ClickHouse 18.16 as on current releases.
// `vigil query` runs them; README.md (generated from the definitions)
// lists them with their SQL.
package forensics
