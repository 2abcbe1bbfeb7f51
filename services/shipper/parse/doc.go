// Package parse turns one log line, as the shipper read it, into Vigil's event
// envelope. It knows OpenSSH's syslog lines (sshd), JSON object lines (json),
// and keeps everything else whole as a raw event with the reason it was not
// understood, so no line read is ever dropped.
package parse
