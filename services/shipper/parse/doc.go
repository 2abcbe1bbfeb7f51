// Package parse turns one log line, as the shipper read it, into Vigil's event
// envelope. It knows syslog (sshd, sudo, su, PAM and any program), nginx and
// Apache access and error logs, PostgreSQL and MySQL logs, Zeek logs (TSV and
// JSON) and JSON object lines, and keeps everything else whole as a raw event
// with the reason it was not understood, so no line read is ever dropped.
package parse
