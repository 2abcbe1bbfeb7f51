// Package labels matches alert labels: the matchers of pager routes and of
// silences, written as Alertmanager writes them (team=db, severity=~"high|critical").
package labels
