// Package evalset is Vigil's labelled synthetic benchmark for the detection
// engine: a deterministic generator of two weeks of seasonal, noisy audit
// events for thousands of users, hosts and addresses, with attacks injected
// in the second week and every one of them labelled; and the scoring that
// turns the engine's alerts into precision, recall, false alerts per 10,000
// entity-windows and time to detect, per profile. README.md says what is
// generated and how it is scored.
package evalset
