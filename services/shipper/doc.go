// Package shipper is the agent every host runs: it follows log files, parses
// each line into the event envelope, and publishes the events to Kafka. A
// file's checkpoint moves only after Kafka acknowledged every event before
// it, so a crash at any point loses no line; redelivered lines keep their
// deterministic ids.
package shipper
