// Package silence holds silences: label matchers with a time range and a
// reason, during which matching alerts are not notified. Silences live on
// a compacted Kafka topic keyed by silence id (`vigil silence add|list|expire`
// write it); a Store loads the whole topic at start and follows it, so
// every pager sees every silence.
package silence
