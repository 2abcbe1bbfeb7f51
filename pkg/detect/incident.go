package detect

import (
	"cmp"
	"fmt"
	"net/url"
	"slices"
	"time"

	"github.com/vigil-soc/vigil/pkg/alert"
	"github.com/vigil-soc/vigil/pkg/score"
)

// incident is one entity's incident in a profile: open (firing) from its
// first anomalous window until ResolveWindows windows in a row score under
// ResolveThreshold; then resolved, and remembered for FlapWindow so that
// an entity anomalous again soon reopens it instead of paging anew.
type incident struct {
	tenant, entity string
	firstSeen      time.Time // start of the first anomalous window
	lastAnomalous  time.Time // start of the newest anomalous window
	lastHot        time.Time // start of the newest window at or above ResolveThreshold
	count          int       // anomalous windows
	flaps          int       // reopenings after a resolution
	resolvedAt     time.Time // zero while firing
	last           score.Score
}

func (inc *incident) firing() bool { return inc.resolvedAt.IsZero() }

// maxFlapDoubling caps how often a flapping incident's quiet period doubles.
const maxFlapDoubling = 4

// quietNeeded is how many quiet windows resolve inc: ResolveWindows,
// doubled for each flap.
func (p *profile) quietNeeded(inc *incident) int {
	return p.cfg.ResolveWindows << min(inc.flaps, maxFlapDoubling)
}

// warm records that the entity's window starting at start scored at or
// above ResolveThreshold without alerting: its open incident does not
// resolve yet (hysteresis).
func (p *profile) warm(h uint64, start time.Time) {
	if inc := p.open[h]; inc != nil && inc.firing() && start.After(inc.lastHot) {
		inc.lastHot = start
	}
}

// raise handles an anomalous window of an entity: it updates the open
// incident, reopens a recently resolved one (a flap: the firing alert is
// published again with the incident's id, so a pager that delivered it
// does not page twice), or opens a new one and publishes its alert to dst,
// unless a suppression window covers it.
func (p *profile) raise(h uint64, tenant, entity string, start time.Time, s score.Score, dst *[]alert.Alert) {
	inc := p.open[h]
	switch {
	case inc != nil && inc.firing():
		if start != inc.lastAnomalous { // an early alert may have counted this window
			inc.count++
			inc.lastAnomalous = start
			inc.last = s
		}
		if start.After(inc.lastHot) {
			inc.lastHot = start
		}
		return
	case inc != nil && start.Sub(inc.resolvedAt) < p.cfg.FlapWindow:
		inc.flaps++
		inc.resolvedAt = time.Time{}
		inc.count++
		inc.lastAnomalous, inc.lastHot, inc.last = start, start, s
		p.stats.Flaps++
		*dst = append(*dst, p.alert(inc, alert.StatusFiring))
		return
	}
	if p.suppressed(start) {
		p.stats.Suppressed++
		return
	}
	inc = &incident{tenant: tenant, entity: entity, firstSeen: start, lastAnomalous: start, lastHot: start, count: 1, last: s}
	p.open[h] = inc
	*dst = append(*dst, p.alert(inc, alert.StatusFiring))
}

// suppressed reports whether a suppression window covers the window
// starting at start.
func (p *profile) suppressed(start time.Time) bool {
	for _, sp := range p.suppress {
		if sp.Covers(start) {
			return true
		}
	}
	return false
}

// resolve publishes the resolution of every firing incident whose entity
// has had quietNeeded closed windows since its last hot one, and forgets
// resolved incidents older than the flap window.
func (p *profile) resolve(out *Output) {
	var done []uint64
	for h, inc := range p.open {
		switch {
		case inc.firing():
			if !p.closedTo.Before(inc.lastHot.Add(time.Duration(p.quietNeeded(inc)+1) * p.cfg.Window)) {
				done = append(done, h)
			}
		case !p.closedTo.Before(inc.resolvedAt.Add(p.cfg.FlapWindow)):
			delete(p.open, h)
		}
	}
	slices.SortFunc(done, cmp.Compare[uint64])
	for _, h := range done {
		inc := p.open[h]
		inc.resolvedAt = inc.lastHot.Add(time.Duration(p.quietNeeded(inc)+1) * p.cfg.Window)
		out.Alerts = append(out.Alerts, p.alert(inc, alert.StatusResolved))
		if p.cfg.FlapWindow == 0 {
			delete(p.open, h)
		}
	}
}

func (p *profile) alert(inc *incident, status string) alert.Alert {
	key := alert.DedupKey(inc.tenant, p.cfg.Name, inc.entity)
	s := inc.last
	x := s.Explanation
	summary := fmt.Sprintf("%s: %s %s: %s %s in %s (expected %s ± %s)",
		title(p.cfg.Name), p.entityName, inc.entity, x.Feature, num(x.Observed), p.cfg.Window, num(x.Expected), num(x.Spread))
	if x.Season != "" {
		summary += " at " + x.Season
	}
	var resolvedAt time.Time
	if status == alert.StatusResolved {
		summary = "Resolved: " + summary
		resolvedAt = inc.resolvedAt
	}
	return alert.Alert{
		ResolvedAt:   resolvedAt,
		Labels:       p.cfg.Labels,
		Version:      1,
		ID:           alert.ID(key, inc.firstSeen, status),
		DedupKey:     key,
		Status:       status,
		Severity:     p.cfg.Severity,
		Summary:      summary,
		Tenant:       inc.tenant,
		Profile:      p.cfg.Name,
		Entity:       inc.entity,
		EntityField:  p.entityName,
		FirstSeen:    inc.firstSeen,
		LastSeen:     inc.lastAnomalous.Add(p.cfg.Window),
		Count:        inc.count,
		AnomalyScore: s.AnomalyScore,
		Explanation:  x,
		Links: alert.Links{
			Dashboard: "/d/vigil-entity/vigil-entity?var-entity=" + url.QueryEscape(inc.entity) + "&var-tenant=" + url.QueryEscape(inc.tenant),
			Query:     p.forensicQuery(inc.tenant, inc.entity, inc.firstSeen, inc.lastAnomalous.Add(p.cfg.Window)),
		},
	}
}
