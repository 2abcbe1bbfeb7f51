package pager

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/alert"
	"github.com/vigil-soc/vigil/pkg/config"
)

func TestRouter(t *testing.T) {
	receivers := []config.ReceiverConfig{{Name: "oncall"}, {Name: "chat"}, {Name: "soar"}}
	routes := []config.RouteConfig{
		{Receiver: "oncall", Matchers: []string{"severity=~high|critical"}, Continue: true},
		{Receiver: "chat", Matchers: []string{"team=db"}},
		{Receiver: "soar", Matchers: []string{"profile=brute_force"}},
		{Receiver: "oncall", Matchers: []string{"tenant=acme"}},
	}
	withLabels := func(severity, profile, tenant string, ls map[string]string) alert.Alert {
		return alert.Alert{Severity: severity, Profile: profile, Tenant: tenant, Labels: ls}
	}
	tests := []struct {
		name string
		a    alert.Alert
		want []string
	}{
		{"high, db: oncall continues to chat, which stops", withLabels("high", "db_exfil", "acme", map[string]string{"team": "db"}), []string{"oncall", "chat"}},
		{"high, brute force: oncall continues to soar", withLabels("critical", "brute_force", "acme", nil), []string{"oncall", "soar"}},
		{"low, brute force: soar only", withLabels("low", "brute_force", "acme", nil), []string{"soar"}},
		{"low, other profile, acme: the last route", withLabels("low", "db_exfil", "acme", nil), []string{"oncall"}},
		{"high, acme: oncall once though two routes name it", withLabels("high", "db_exfil", "acme", nil), []string{"oncall"}},
		{"nothing matches", withLabels("low", "db_exfil", "other", nil), nil},
	}
	r, err := newRouter(config.PagerConfig{Receivers: receivers, Routes: routes})
	require.NoError(t, err)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, r.receiversOf(tt.a))
		})
	}

	all, err := newRouter(config.PagerConfig{Receivers: receivers})
	require.NoError(t, err)
	require.Equal(t, []string{"oncall", "chat", "soar"}, all.receiversOf(withLabels("info", "x", "y", nil)), "no routes: every receiver")

	_, err = newRouter(config.PagerConfig{Receivers: receivers, Routes: []config.RouteConfig{{Receiver: "chat", Matchers: []string{"bad"}}}})
	require.ErrorContains(t, err, "pager.routes[0].matchers")
}
