// Package processor learns a baseline of failed logins per source IP and
// minute, scores every closed window against it (or against the population
// while an IP has too little history), and publishes the scores to
// vigil.scores and one alert per incident to vigil.alerts. Windows are kept
// in event time with a watermark; input offsets are committed only up to the
// oldest event still held in an open window.
package processor
