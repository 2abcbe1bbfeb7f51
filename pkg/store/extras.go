package store

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Version is a ClickHouse server version; only major and minor decide
// which extras a server has.
type Version struct {
	Major, Minor int
}

// ParseVersion reads what SELECT version() returns: "18.16.1",
// "24.8.4.13", "25.3.2.39-lts".
func ParseVersion(s string) (Version, error) {
	parts := strings.SplitN(strings.TrimSpace(s), ".", 3)
	if len(parts) < 2 {
		return Version{}, fmt.Errorf("clickhouse version %q: want major.minor[.patch…]", s)
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil || major < 0 || minor < 0 {
		return Version{}, fmt.Errorf("clickhouse version %q: want major.minor[.patch…]", s)
	}
	return Version{Major: major, Minor: minor}, nil
}

// AtLeast reports whether v is o or newer.
func (v Version) AtLeast(o Version) bool {
	return v.Major > o.Major || v.Major == o.Major && v.Minor >= o.Minor
}

func (v Version) String() string { return fmt.Sprintf("%d.%d", v.Major, v.Minor) }

// Extra is an optional server feature a migration may use where the
// server has it. The migration stays plain SQL: an extra is written as a
// marker in a block comment, /*+name argument*/, which a server without the
// extra (and any SQL client) reads as a comment. See
// schemas/clickhouse/README.md.
type Extra struct {
	// Name is what the marker says after /*+.
	Name string
	// Since is the oldest server version the runner uses it on.
	Since Version
	// Marker is how a migration writes it.
	Marker string
	// Becomes is what the marker renders to where the server has it.
	Becomes string
}

// Extras lists every extra the runner knows. Since is deliberately
// conservative: 21.8, an LTS release on which all of them work without an
// experimental setting (18.16, the Debian package, has none of them).
var Extras = []Extra{
	{
		Name: "low_cardinality", Since: Version{21, 8},
		Marker:  "TYPE /*+low_cardinality*/",
		Becomes: "LowCardinality(TYPE): dictionary-encoded values, for columns with few distinct values",
	},
	{
		Name: "codec", Since: Version{21, 8},
		Marker:  "/*+codec SPEC*/",
		Becomes: "CODEC(SPEC): the column's compression, e.g. DoubleDelta, LZ4 for times",
	},
	{
		Name: "skip_index", Since: Version{21, 8},
		Marker:  "/*+skip_index SQL*/",
		Becomes: "SQL, verbatim: a data-skipping index, or a whole statement that adds one",
	},
}

// ExtrasFor returns the names of the extras a server of version v has.
func ExtrasFor(v Version) []string {
	var on []string
	for _, x := range Extras {
		if v.AtLeast(x.Since) {
			on = append(on, x.Name)
		}
	}
	return on
}

var (
	markerRe = regexp.MustCompile(`(?s)/\*\+(\w*)(.*?)\*/`)
	// typeRe matches the column type a low_cardinality marker follows:
	// an identifier with an optional argument list, e.g. String or
	// FixedString(16).
	typeRe = regexp.MustCompile(`[A-Za-z][A-Za-z0-9_]*(\([^()]*\))?$`)
)

// RenderStatement returns stmt as a server with the extras named in on
// runs it, and the names of the extras it used, in order of first use.
// A marker of an extra not in on is dropped with the blanks before it,
// which leaves the plain SQL. An unknown or malformed marker is an error.
func RenderStatement(stmt string, on []string) (string, []string, error) {
	var out strings.Builder
	var used []string
	last := 0
	for _, m := range markerRe.FindAllStringSubmatchIndex(stmt, -1) {
		name, arg := stmt[m[2]:m[3]], strings.TrimSpace(stmt[m[4]:m[5]])
		raw := out.String() + stmt[last:m[0]]
		before := strings.TrimRight(raw, " \t")
		last = m[1]
		out.Reset()
		out.WriteString(before)
		enabled := slices.Contains(on, name)
		switch name {
		case "low_cardinality":
			if arg != "" {
				return "", nil, fmt.Errorf("marker /*+low_cardinality*/ takes no argument, got %q", arg)
			}
			loc := typeRe.FindStringIndex(before)
			if loc == nil {
				return "", nil, fmt.Errorf("marker /*+low_cardinality*/ must follow a column type")
			}
			if enabled {
				out.Reset()
				out.WriteString(before[:loc[0]] + "LowCardinality(" + before[loc[0]:] + ")")
			}
		case "codec":
			if arg == "" {
				return "", nil, fmt.Errorf("marker /*+codec*/ needs the codec, e.g. /*+codec ZSTD(1)*/")
			}
			if enabled {
				out.WriteString(" CODEC(" + arg + ")")
			}
		case "skip_index":
			if arg == "" {
				return "", nil, fmt.Errorf("marker /*+skip_index*/ needs the SQL to use")
			}
			if enabled {
				out.Reset()
				out.WriteString(raw + arg)
			}
		default:
			return "", nil, fmt.Errorf("unknown marker /*+%s*/ (known: %s)", name, strings.Join(extraNames(), ", "))
		}
		if enabled && !slices.Contains(used, name) {
			used = append(used, name)
		}
	}
	out.WriteString(stmt[last:])
	return strings.TrimSpace(out.String()), used, nil
}

// Render splits a migration into statements and renders each for a
// server with the extras named in on, dropping statements that render to
// nothing (those written wholly as one marker the server lacks). It
// returns the statements and the extras used, in order of first use.
func Render(sql string, on []string) ([]string, []string, error) {
	var stmts, used []string
	for i, s := range Statements(sql) {
		r, u, err := RenderStatement(s, on)
		if err != nil {
			return nil, nil, fmt.Errorf("statement %d: %w", i+1, err)
		}
		for _, name := range u {
			if !slices.Contains(used, name) {
				used = append(used, name)
			}
		}
		if r != "" {
			stmts = append(stmts, r)
		}
	}
	return stmts, used, nil
}

func extraNames() []string {
	names := make([]string, len(Extras))
	for i, x := range Extras {
		names[i] = x.Name
	}
	return names
}
