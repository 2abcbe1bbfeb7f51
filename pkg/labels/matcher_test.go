package labels

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseMatcher(t *testing.T) {
	tests := []struct {
		in      string
		name    string
		op      Op
		value   string
		str     string
		wantErr string
	}{
		{in: "team=db", name: "team", op: OpEqual, value: "db", str: "team=db"},
		{in: "  team = db ", name: "team", op: OpEqual, value: "db", str: "team=db"},
		{in: "severity!=info", name: "severity", op: OpNotEqual, value: "info", str: "severity!=info"},
		{in: "severity=~high|critical", name: "severity", op: OpRegexp, value: "high|critical", str: "severity=~high|critical"},
		{in: `entity!~"203\\.0\\.113\\..*"`, name: "entity", op: OpNotRegexp, value: `203\.0\.113\..*`, str: `entity!~"203\\.0\\.113\\..*"`},
		{in: `team=""`, name: "team", op: OpEqual, value: "", str: `team=""`},
		{in: "team=", name: "team", op: OpEqual, value: "", str: `team=""`},
		{in: `reason="two words"`, name: "reason", op: OpEqual, value: "two words", str: `reason="two words"`},
		{in: `x="~tilde"`, name: "x", op: OpEqual, value: "~tilde", str: `x="~tilde"`},
		{in: "dedup_key=vigil/acme/brute_force/2001:db8::1", name: "dedup_key", op: OpEqual, value: "vigil/acme/brute_force/2001:db8::1", str: "dedup_key=vigil/acme/brute_force/2001:db8::1"},
		{in: "a=b=c", name: "a", op: OpEqual, value: "b=c", str: "a=b=c"},
		{in: "_x1=y", name: "_x1", op: OpEqual, value: "y", str: "_x1=y"},
		{in: "", wantErr: "want label=value"},
		{in: "=db", wantErr: "want label=value"},
		{in: "1team=db", wantErr: "want label=value"},
		{in: "team", wantErr: `after the label "team" want =, !=, =~ or !~`},
		{in: "team:db", wantErr: "want =, !=, =~ or !~"},
		{in: "team==db", name: "team", op: OpEqual, value: "=db", str: "team==db"},
		{in: "team=~(", wantErr: "is not a regular expression"},
		{in: `team="unterminated`, wantErr: "quoted value"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			m, err := ParseMatcher(tt.in)
			if tt.wantErr != "" {
				require.ErrorIs(t, err, ErrBadMatcher)
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.name, m.Name)
			require.Equal(t, tt.op, m.Op)
			require.Equal(t, tt.value, m.Value)
			require.Equal(t, tt.str, m.String())
			again, err := ParseMatcher(m.String())
			require.NoError(t, err)
			require.Equal(t, m.String(), again.String(), "String parses back to the same matcher")
		})
	}
}

func TestMatches(t *testing.T) {
	ls := map[string]string{"team": "db", "severity": "high", "entity": "203.0.113.7"}
	tests := []struct {
		matcher string
		want    bool
	}{
		{"team=db", true},
		{"team=web", false},
		{"team!=web", true},
		{"team!=db", false},
		{"severity=~high|critical", true},
		{"severity=~hig", false}, // anchored: the whole value must match
		{"severity!~info|low", true},
		{"severity!~h.*", false},
		{`entity=~"203\\.0\\.113\\..*"`, true},
		{`owner=""`, true}, // a missing label is empty
		{`owner!=""`, false},
		{`team!=""`, true},
		{"owner=~.*", true},
		{"owner=~.+", false},
	}
	for _, tt := range tests {
		t.Run(tt.matcher, func(t *testing.T) {
			m, err := ParseMatcher(tt.matcher)
			require.NoError(t, err)
			require.Equal(t, tt.want, m.Matches(ls))
		})
	}
}

func TestMatchersAllMustMatch(t *testing.T) {
	ls := map[string]string{"team": "db", "severity": "high"}
	ms, err := ParseMatchers([]string{"team=db", "severity=~high|critical"})
	require.NoError(t, err)
	require.True(t, ms.Matches(ls))
	require.Equal(t, "{team=db, severity=~high|critical}", ms.String())
	ms2, err := ParseMatchers([]string{"team=db", "severity=low"})
	require.NoError(t, err)
	require.False(t, ms2.Matches(ls))
	require.True(t, Matchers(nil).Matches(ls), "no matchers match everything")

	_, err = ParseMatchers([]string{"ok=1", "bad", "=x"})
	require.ErrorContains(t, err, `"bad"`)
	require.ErrorContains(t, err, `"=x"`)
}

func TestNewMatcherRejects(t *testing.T) {
	for _, tt := range []struct{ name, op, value string }{
		{"", "=", "x"}, {"a-b", "=", "x"}, {"a", "==", "x"}, {"a", "=~", "["},
	} {
		_, err := NewMatcher(tt.name, Op(tt.op), tt.value)
		require.ErrorIs(t, err, ErrBadMatcher, "%+v", tt)
	}
}

func TestMatcherJSON(t *testing.T) {
	ms, err := ParseMatchers([]string{`team="db ops"`, "severity=~high|critical"})
	require.NoError(t, err)
	b, err := json.Marshal(ms)
	require.NoError(t, err)
	require.JSONEq(t, `["team=\"db ops\"", "severity=~high|critical"]`, string(b))
	var back Matchers
	require.NoError(t, json.Unmarshal(b, &back))
	require.Equal(t, ms.String(), back.String())
	require.True(t, back.Matches(map[string]string{"team": "db ops", "severity": "critical"}), "regexps are compiled again")
	require.ErrorIs(t, json.Unmarshal([]byte(`["nope"]`), &back), ErrBadMatcher)
	require.ErrorIs(t, json.Unmarshal([]byte(`[1]`), &back), ErrBadMatcher)
}

// Whatever the input, ParseMatcher returns a matcher or an error, and a
// matcher's String parses back to the same matcher.
func FuzzParseMatcher(f *testing.F) {
	for _, s := range []string{"team=db", `a!~"x|y"`, "b=~.*", `c=""`, "d!=", " e = f ", `g="\u00e9\t"`, "h=~(", "~", `i="`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseMatcher(s)
		if err != nil {
			return
		}
		again, err := ParseMatcher(m.String())
		if err != nil {
			t.Fatalf("%q → %q does not parse: %v", s, m.String(), err)
		}
		if again.Name != m.Name || again.Op != m.Op || again.Value != m.Value {
			t.Fatalf("%q → %q → %+v, want %+v", s, m.String(), again, m)
		}
		_ = m.Matches(map[string]string{m.Name: m.Value})
	})
}
