// Package pager consumes alert topics and delivers each alert to the
// receivers its routes pick (PagerDuty, Opsgenie, Slack, Alertmanager-style
// webhooks), unless a silence mutes it. Deliveries are retried with
// backoff and jitter, rate-limited per receiver, and dead-lettered when
// they cannot succeed. An alert's offset is committed only once every
// receiver is done with it, and every delivery is recorded on a compacted
// topic, so that pagers in one consumer group send each notification once
// (see README.md for the exact guarantee).
package pager
