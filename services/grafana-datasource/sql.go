package grafanads

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/data"
)

// macroEnv is what macros expand to.
type macroEnv struct {
	database string
	tenant   string
	from, to time.Time
	interval time.Duration
}

// macro is one $__name macro.
type macro struct {
	// args is how many arguments it takes in parentheses (0: none, no parentheses).
	args int
	// table macros read one of Vigil's tables, the tenant's rows only;
	// they may follow FROM and JOIN on a pinned data source.
	table  bool
	expand func(e macroEnv, args []string) string
	doc    string
}

// tableMacro reads table's rows of the tenant (with FINAL when final),
// within the time range on timeCol unless all.
func tableMacro(table, timeCol string, final, all bool) macro {
	doc := fmt.Sprintf("the tenant's rows of %s in the time range (on %s)", table, timeCol)
	if all {
		doc = fmt.Sprintf("all the tenant's rows of %s", table)
	}
	return macro{table: true, doc: doc, expand: func(e macroEnv, _ []string) string {
		sql := "(SELECT * FROM " + quoteName(e.database) + "." + quoteName(table)
		if final {
			sql += " FINAL"
		}
		sql += " WHERE tenant = " + quoteString(e.tenant)
		if !all {
			sql += " AND " + timeFilter(timeCol, e)
		}
		return sql + ")"
	}}
}

func timeLiteral(t time.Time) string {
	return "toDateTime(" + strconv.FormatInt(t.Unix(), 10) + ", 'UTC')"
}

func timeFilter(col string, e macroEnv) string {
	return "(" + col + " >= " + timeLiteral(e.from) + " AND " + col + " <= " + timeLiteral(e.to) + ")"
}

func intervalSeconds(e macroEnv) int64 { return max(int64(e.interval/time.Second), 1) }

// macros are the macros of Grafana's ClickHouse data source that Vigil
// has, plus the tenant and table macros. Times expand to whole seconds.
var macros = map[string]macro{
	"timeFilter": {args: 1, doc: "(col >= from AND col <= to), the dashboard's range",
		expand: func(e macroEnv, a []string) string { return timeFilter("("+a[0]+")", e) }},
	"fromTime": {doc: "the start of the range, a DateTime",
		expand: func(e macroEnv, _ []string) string { return timeLiteral(e.from) }},
	"toTime": {doc: "the end of the range, a DateTime",
		expand: func(e macroEnv, _ []string) string { return timeLiteral(e.to) }},
	"interval_s": {doc: "the panel's interval in whole seconds (at least 1)",
		expand: func(e macroEnv, _ []string) string { return strconv.FormatInt(intervalSeconds(e), 10) }},
	"interval_ms": {doc: "the panel's interval in milliseconds",
		expand: func(e macroEnv, _ []string) string { return strconv.FormatInt(intervalSeconds(e)*1000, 10) }},
	"timeInterval": {args: 1, doc: "col's time bucket of the panel's interval, a DateTime",
		expand: func(e macroEnv, a []string) string {
			n := strconv.FormatInt(intervalSeconds(e), 10)
			return "toDateTime(intDiv(toUInt32(" + a[0] + "), " + n + ") * " + n + ", 'UTC')"
		}},
	"tenant": {doc: "the tenant, a string",
		expand: func(e macroEnv, _ []string) string { return quoteString(e.tenant) }},

	"events":                     tableMacro("events", "timestamp", true, false),
	"scores":                     tableMacro("scores", "window_start", true, false),
	"alerts":                     tableMacro("alerts", "timestamp", true, false),
	"events_per_minute":          tableMacro("events_per_minute", "minute", false, false),
	"failed_auth_per_minute":     tableMacro("failed_auth_per_minute", "minute", false, false),
	"events_all":                 tableMacro("events", "", true, true),
	"scores_all":                 tableMacro("scores", "", true, true),
	"alerts_all":                 tableMacro("alerts", "", true, true),
	"events_per_minute_all":      tableMacro("events_per_minute", "", false, true),
	"failed_auth_per_minute_all": tableMacro("failed_auth_per_minute", "", false, true),
}

func macroNames() string {
	names := slices.Sorted(maps.Keys(macros))
	for i, n := range names {
		names[i] = "$__" + n
	}
	return strings.Join(names, ", ")
}

// quoteString is s as a ClickHouse string literal.
func quoteString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// quoteName is a name (checked to be letters, digits and _) in backquotes.
func quoteName(s string) string { return "`" + s + "`" }

// expandMacros returns the SQL of toks with every macro expanded; a
// macro's arguments are expanded too.
func expandMacros(toks []token, e macroEnv) (string, error) {
	var b strings.Builder
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		if t.kind != tokMacro {
			b.WriteString(t.text)
			continue
		}
		m := macros[t.name]
		var args []string
		if m.args > 0 {
			argToks, end, err := macroArgs(toks, i)
			if err != nil {
				return "", err
			}
			if len(argToks) != m.args {
				return "", fmt.Errorf("%w: $__%s takes %d argument(s), not %d", errSQL, t.name, m.args, len(argToks))
			}
			for _, a := range argToks {
				s, err := expandMacros(a, e)
				if err != nil {
					return "", err
				}
				if strings.TrimSpace(s) == "" {
					return "", fmt.Errorf("%w: $__%s: an empty argument", errSQL, t.name)
				}
				args = append(args, s)
			}
			i = end
		}
		b.WriteString(m.expand(e, args))
	}
	return b.String(), nil
}

// macroArgs returns the arguments (split at top-level commas) of the macro
// at toks[i], and the index of its closing parenthesis.
func macroArgs(toks []token, i int) ([][]token, int, error) {
	j := i + 1
	for j < len(toks) && (toks[j].kind == tokSpace || toks[j].kind == tokComment) {
		j++
	}
	if j == len(toks) || toks[j].text != "(" {
		return nil, 0, fmt.Errorf("%w: $__%s needs its argument in parentheses", errSQL, toks[i].name)
	}
	depth := 0
	var args [][]token
	var cur []token
	for k := j + 1; k < len(toks); k++ {
		switch t := toks[k]; {
		case t.text == "(" || t.text == "[":
			depth++
		case (t.text == ")" || t.text == "]") && depth > 0:
			depth--
		case t.text == ")":
			return append(args, cur), k, nil
		case t.text == "," && depth == 0:
			args = append(args, cur)
			cur = nil
			continue
		}
		cur = append(cur, toks[k])
	}
	return nil, 0, fmt.Errorf("%w: $__%s: no closing parenthesis", errSQL, toks[i].name)
}

// guard checks the SQL of a pinned data source: it may read Vigil's
// tables only through the table macros, which hold the tenant's rows
// alone. It refuses:
//   - anything but one SELECT (or WITH … SELECT) statement, and the
//     SETTINGS, FORMAT and INTO OUTFILE clauses;
//   - any name (bare or quoted, anywhere) that is a database or a table
//     of Vigil's database: no table can be named, only read through a
//     macro;
//   - a call of a table function (remote, url, merge, numbers, …, the
//     server's list and a fixed one) or of a function that reads a table
//     or dictionary by name (dictGet…, joinGet, hasColumnInTable, file,
//     modelEvaluate);
//   - FROM or JOIN (and a comma between tables) followed by anything but
//     a subquery or a table macro.
type guard struct {
	// names are database and table names, lower case.
	names map[string]bool
	// tableFuncs are table function names, lower case.
	tableFuncs map[string]bool
}

// knownTableFuncs are table functions of ClickHouse releases up to 25.x,
// refused even when the server's list lacks them.
var knownTableFuncs = []string{
	"arrowflight", "azureblobstorage", "azureblobstoragecluster", "catboostpool", "cluster", "clusterallreplicas",
	"deltalake", "deltalakecluster", "dictionary", "executable", "file", "filecluster", "format", "fuzzjson",
	"fuzzquery", "gcs", "generate_series", "generaterandom", "generateseries", "hdfs", "hdfscluster", "hudi",
	"hudicluster", "iceberg", "icebergazure", "icebergcluster", "iceberghdfs", "iceberglocal", "icebergs3",
	"input", "jdbc", "loop", "merge", "mergetreeanalyzeindexes", "mergetreeindex", "mergetreeprojection",
	"mongodb", "mysql", "null", "numbers", "numbers_mt", "odbc", "paimon", "postgresql", "prometheusquery",
	"redis", "remote", "remotesecure", "s3", "s3cluster", "shardbyhash", "sqlite", "timeseriesdata",
	"timeseriesmetrics", "timeseriestags", "url", "urlcluster", "values", "view", "viewexplain",
	"viewifpermitted", "ytsaurus", "zeros", "zeros_mt",
}

// readsByName says whether a function reads a table, dictionary, model
// or file it is given the name of.
func readsByName(fn string) bool {
	return strings.HasPrefix(fn, "dict") || strings.HasPrefix(fn, "joinget") ||
		slices.Contains([]string{"hascolumnintable", "file", "modelevaluate", "catboostevaluate"}, fn)
}

// clauseKeywords end a FROM clause.
var clauseKeywords = []string{"WHERE", "PREWHERE", "GROUP", "ORDER", "LIMIT", "HAVING", "UNION", "WINDOW",
	"QUALIFY", "INTERSECT", "EXCEPT", "ON", "USING", "SELECT", "WITH", "SAMPLE", "ARRAY"}

// check returns toks without a trailing semicolon, or why the SQL is refused.
func (g guard) check(toks []token) ([]token, error) {
	sig := significant(toks)
	if len(sig) > 0 && toks[sig[len(sig)-1]].text == ";" {
		toks = toks[:sig[len(sig)-1]]
		sig = sig[:len(sig)-1]
	}
	if len(sig) == 0 {
		return nil, fmt.Errorf("%w: no SQL", errSQL)
	}
	first := strings.ToUpper(toks[sig[0]].text)
	if toks[sig[0]].kind != tokIdent || (first != "SELECT" && first != "WITH") {
		return nil, fmt.Errorf("%w: only a SELECT statement can run", errSQL)
	}
	next := func(k int) token {
		if k+1 < len(sig) {
			return toks[sig[k+1]]
		}
		return token{}
	}
	isSource := func(t token) bool { return t.text == "(" || (t.kind == tokMacro && macros[t.name].table) }
	const tablesHint = "read Vigil's tables through $__events, $__scores, $__alerts, $__events_per_minute, " +
		"$__failed_auth_per_minute (or their _all forms), which hold this data source's tenant only"
	inFrom := []bool{false} // per parenthesis depth: in a FROM clause
	for k, idx := range sig {
		t := toks[idx]
		switch t.kind {
		case tokPunct:
			switch t.text {
			case ";":
				return nil, fmt.Errorf("%w: one statement only", errSQL)
			case "(":
				inFrom = append(inFrom, false)
			case ")":
				if len(inFrom) == 1 {
					return nil, fmt.Errorf("%w: a ) without its (", errSQL)
				}
				inFrom = inFrom[:len(inFrom)-1]
			case ",":
				if inFrom[len(inFrom)-1] && !isSource(next(k)) {
					return nil, fmt.Errorf("%w: a table after a comma in FROM must be a subquery or a macro; %s", errSQL, tablesHint)
				}
			}
		case tokIdent, tokQuoted:
			lower := strings.ToLower(t.name)
			if g.names[lower] {
				return nil, fmt.Errorf("%w: %q names a database or table (and cannot be an alias either); %s", errSQL, t.name, tablesHint)
			}
			if next(k).text == "(" && (g.tableFuncs[lower] || readsByName(lower)) {
				return nil, fmt.Errorf("%w: %s() reads data by name and cannot be used here; %s", errSQL, t.name, tablesHint)
			}
			if t.kind == tokQuoted {
				continue
			}
			switch upper := strings.ToUpper(t.name); {
			case upper == "SETTINGS" || upper == "FORMAT" || upper == "INTO" || upper == "OUTFILE":
				return nil, fmt.Errorf("%w: %s is not allowed here", errSQL, upper)
			case upper == "FROM" || (upper == "JOIN" && (k == 0 || !strings.EqualFold(toks[sig[k-1]].text, "ARRAY"))):
				if !isSource(next(k)) {
					return nil, fmt.Errorf("%w: %s must be followed by a subquery or a macro; %s", errSQL, upper, tablesHint)
				}
				inFrom[len(inFrom)-1] = true
			case slices.Contains(clauseKeywords, upper) || upper == "JOIN":
				inFrom[len(inFrom)-1] = false
			}
		}
	}
	return toks, nil
}

// rawSQL runs a sql query: its macros expanded and, on a pinned data
// source, checked by the guard first. Format time_series turns long rows
// (time, strings, numbers, sorted by time) into one series per string value.
func (d *Datasource) rawSQL(ctx context.Context, r request) (data.Frames, error) {
	if strings.TrimSpace(r.q.RawSQL) == "" {
		return nil, fmt.Errorf("%w: rawSql: required", errBadQuery)
	}
	pinned := d.settings.Pinned()
	toks, err := lexSQL(r.q.RawSQL, pinned)
	if err != nil {
		return nil, err
	}
	if pinned {
		g, err := d.guard(ctx)
		if err != nil {
			return nil, err
		}
		if toks, err = g.check(toks); err != nil {
			return nil, err
		}
	}
	sql, err := expandMacros(toks, macroEnv{database: d.settings.Database, tenant: r.tenant,
		from: r.from, to: r.to, interval: r.interval})
	if err != nil {
		return nil, err
	}
	rows, err := d.conn.Query(ctx, sql) // no arguments: clickhouse-go binds nothing
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	limit := r.q.limitOr(d.settings.MaxRows, d.settings.MaxRows)
	f, err := tableFrame(rows, "sql", limit)
	if err != nil {
		return nil, err
	}
	f.Meta = &data.FrameMeta{ExecutedQueryString: sql}
	if r.q.Format == "time_series" {
		switch f.TimeSeriesSchema().Type {
		case data.TimeSeriesTypeLong:
			w, err := data.LongToWide(f, nil)
			if err != nil {
				return nil, fmt.Errorf("%w: format time_series: %v", errBadQuery, err)
			}
			w.Meta = f.Meta
			f = w
		case data.TimeSeriesTypeNot:
			return nil, fmt.Errorf("%w: format time_series needs a time column and a number column", errBadQuery)
		}
	}
	return data.Frames{f}, nil
}
