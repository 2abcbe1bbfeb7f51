package pager

import (
	"fmt"

	"github.com/vigil-soc/vigil/pkg/alert"
	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/pkg/labels"
)

// route sends the alerts its matchers match to one receiver.
type route struct {
	receiver string
	matchers labels.Matchers
	cont     bool
}

// router picks an alert's receivers: the routes in order, the first that
// matches takes the alert unless it says continue; without routes, every
// receiver gets every alert.
type router struct {
	routes    []route
	receivers []string // every receiver, for when there are no routes
}

func newRouter(cfg config.PagerConfig) (router, error) {
	r := router{}
	for _, rc := range cfg.Receivers {
		r.receivers = append(r.receivers, rc.Name)
	}
	for i, rc := range cfg.Routes {
		ms, err := labels.ParseMatchers(rc.Matchers)
		if err != nil {
			return router{}, fmt.Errorf("pager.routes[%d].matchers: %w", i, err)
		}
		r.routes = append(r.routes, route{receiver: rc.Receiver, matchers: ms, cont: rc.Continue})
	}
	return r, nil
}

// receiversOf returns the names of the receivers a goes to, each once, in
// route order.
func (r router) receiversOf(a alert.Alert) []string {
	if len(r.routes) == 0 {
		return r.receivers
	}
	ls := a.LabelSet()
	var out []string
	seen := map[string]bool{}
	for _, rt := range r.routes {
		if !rt.matchers.Matches(ls) {
			continue
		}
		if !seen[rt.receiver] {
			seen[rt.receiver] = true
			out = append(out, rt.receiver)
		}
		if !rt.cont {
			break
		}
	}
	return out
}
