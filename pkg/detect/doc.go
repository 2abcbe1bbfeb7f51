// Package detect turns events into per-entity features, judges each
// window's features against the entity's own streaming baseline (or the
// population's), and reports calibrated anomaly scores with their
// explanations, and alerts. It knows nothing of Kafka: the processor feeds
// it from a topic, `vigil backtest` from a file or ClickHouse.
//
// The unit of work is a profile (config.ProfileConfig): which events, keyed
// by what, which features per tumbling event-time window, and how they are
// judged. See services/processor/README.md for the built-in profiles and
// the methods. An engine's whole state can be written with Snapshot and
// read back with Restore, so the work of a set of input partitions can move
// from one process to another.
package detect
