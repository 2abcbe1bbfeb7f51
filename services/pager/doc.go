// Package pager consumes the alert topic and delivers each alert. For now it
// prints one line per alert to stdout or stderr and commits the alert's
// offset after printing it; delivery to paging services builds on this.
package pager
