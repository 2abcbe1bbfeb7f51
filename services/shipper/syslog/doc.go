// Package syslog receives syslog messages (RFC 5424 and RFC 3164) over UDP,
// TCP and TLS, turns each into an event — the header gives its time, host
// and syslog fields, the shipper's parsers read the message — and appends
// the events to the spool in batches. TCP and TLS senders are slowed down
// by TCP flow control when the spool is full; UDP datagrams are then
// dropped and counted. See README.md.
package syslog
