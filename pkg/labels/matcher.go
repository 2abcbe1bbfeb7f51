package labels

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Op is how a matcher compares a label's value.
type Op string

// The operators, as Alertmanager writes them.
const (
	OpEqual     Op = "="
	OpNotEqual  Op = "!="
	OpRegexp    Op = "=~"
	OpNotRegexp Op = "!~"
)

// ErrBadMatcher is wrapped by ParseMatcher's errors.
var ErrBadMatcher = errors.New("bad matcher")

// Matcher matches one label of an alert. A label the alert does not have
// has the empty value, so `team=""` matches alerts without a team and
// `team!=""` those with one. Regular expressions (Go syntax) must match the
// whole value.
type Matcher struct {
	Name  string
	Op    Op
	Value string
	re    *regexp.Regexp
}

// ParseMatcher parses name=value, name!=value, name=~regexp or
// name!~regexp. The value may be double-quoted (Go string syntax), to hold
// spaces or start with '~'; spaces around the name and the operator are
// ignored.
func ParseMatcher(s string) (Matcher, error) {
	in := strings.TrimSpace(s)
	i := 0
	for i < len(in) && isNameByte(in[i], i == 0) {
		i++
	}
	name := in[:i]
	rest := strings.TrimLeft(in[i:], " ")
	if name == "" {
		return Matcher{}, fmt.Errorf("%w %q: want label=value, label!=value, label=~regexp or label!~regexp, with a label name of letters, digits and _", ErrBadMatcher, s)
	}
	var op Op
	for _, o := range []Op{OpNotEqual, OpRegexp, OpNotRegexp, OpEqual} {
		if strings.HasPrefix(rest, string(o)) {
			op = o
			break
		}
	}
	if op == "" {
		return Matcher{}, fmt.Errorf("%w %q: after the label %q want =, !=, =~ or !~", ErrBadMatcher, s, name)
	}
	value := strings.TrimSpace(rest[len(op):])
	if strings.HasPrefix(value, `"`) {
		v, err := strconv.Unquote(value)
		if err != nil {
			return Matcher{}, fmt.Errorf("%w %q: the quoted value is not a valid Go string: %v", ErrBadMatcher, s, err)
		}
		value = v
	}
	return NewMatcher(name, op, value)
}

// NewMatcher returns a matcher, compiling the regular expression of =~ and
// !~.
func NewMatcher(name string, op Op, value string) (Matcher, error) {
	m := Matcher{Name: name, Op: op, Value: value}
	if name == "" {
		return Matcher{}, fmt.Errorf("%w: empty label name", ErrBadMatcher)
	}
	if !ValidName(name) {
		return Matcher{}, fmt.Errorf("%w: label name %q: want letters, digits and _, not starting with a digit", ErrBadMatcher, name)
	}
	switch op {
	case OpEqual, OpNotEqual:
	case OpRegexp, OpNotRegexp:
		re, err := regexp.Compile("^(?:" + value + ")$")
		if err != nil {
			return Matcher{}, fmt.Errorf("%w %s: %q is not a regular expression: %v", ErrBadMatcher, name+string(op), value, err)
		}
		m.re = re
	default:
		return Matcher{}, fmt.Errorf("%w: unknown operator %q", ErrBadMatcher, op)
	}
	return m, nil
}

// ValidName reports whether s is a label name: letters, digits and _, not
// starting with a digit.
func ValidName(s string) bool {
	for i := range len(s) {
		if !isNameByte(s[i], i == 0) {
			return false
		}
	}
	return s != ""
}

func isNameByte(b byte, first bool) bool {
	return b == '_' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || !first && b >= '0' && b <= '9'
}

// Matches reports whether labels satisfy m.
func (m Matcher) Matches(labels map[string]string) bool {
	v := labels[m.Name]
	switch m.Op {
	case OpEqual:
		return v == m.Value
	case OpNotEqual:
		return v != m.Value
	case OpRegexp:
		return m.re.MatchString(v)
	case OpNotRegexp:
		return !m.re.MatchString(v)
	}
	return false
}

// String writes m as ParseMatcher reads it, quoting the value when it is
// empty, starts with '~', or holds spaces, commas, braces, quotes,
// backslashes or unprintable characters.
func (m Matcher) String() string {
	v := m.Value
	if v == "" || strings.ContainsAny(v, " ,{}") || strings.HasPrefix(v, "~") || strconv.Quote(v) != `"`+v+`"` {
		v = strconv.Quote(v)
	}
	return m.Name + string(m.Op) + v
}

// MarshalJSON writes m as its string.
func (m Matcher) MarshalJSON() ([]byte, error) { return json.Marshal(m.String()) }

// UnmarshalJSON reads a matcher written by MarshalJSON.
func (m *Matcher) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("%w: %v", ErrBadMatcher, err)
	}
	parsed, err := ParseMatcher(s)
	if err != nil {
		return err
	}
	*m = parsed
	return nil
}

// Matchers is a list of matchers that all must match.
type Matchers []Matcher

// ParseMatchers parses each of ss, reporting every bad one.
func ParseMatchers(ss []string) (Matchers, error) {
	out := make(Matchers, 0, len(ss))
	var errs []error
	for _, s := range ss {
		m, err := ParseMatcher(s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, m)
	}
	return out, errors.Join(errs...)
}

// Matches reports whether every matcher matches labels; no matchers match
// everything.
func (ms Matchers) Matches(labels map[string]string) bool {
	for _, m := range ms {
		if !m.Matches(labels) {
			return false
		}
	}
	return true
}

// String writes the matchers as {a="b", c=~"d"}.
func (ms Matchers) String() string {
	parts := make([]string, len(ms))
	for i, m := range ms {
		parts[i] = m.String()
	}
	return "{" + strings.Join(parts, ", ") + "}"
}
