package forensics

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Query is one named forensic query.
type Query struct {
	// Name is what `vigil query NAME` takes.
	Name string
	// Summary says what it answers, in a sentence or two.
	Summary string
	// Params are bound in SQL as @name.
	Params []Param
	// SQL runs against Vigil's database.
	SQL string
}

// ErrUnknownQuery is returned for a name no query has.
var ErrUnknownQuery = errors.New("unknown query")

// ErrBadParam wraps every parameter error.
var ErrBadParam = errors.New("bad parameter")

// Queries returns every query, in a stable order.
func Queries() []Query { return slices.Clone(library) }

// Lookup finds a query by name.
func Lookup(name string) (Query, error) {
	for _, q := range library {
		if q.Name == name {
			return q, nil
		}
	}
	names := make([]string, len(library))
	for i, q := range library {
		names[i] = q.Name
	}
	return Query{}, fmt.Errorf("%w %q (queries: %s)", ErrUnknownQuery, name, strings.Join(names, ", "))
}

// Bind validates values (parameter name → text) against q's parameters,
// fills in defaults, and returns the values to bind, by name. Every
// problem is reported, each naming its parameter.
func (q Query) Bind(values map[string]string, env Env) (map[string]any, error) {
	var errs []error
	known := map[string]bool{}
	out := map[string]any{}
	for _, p := range q.Params {
		known[p.Name] = true
		text, given := values[p.Name]
		if !given {
			if p.Required {
				errs = append(errs, fmt.Errorf("%w: %s: required (%s)", ErrBadParam, p.Name, p.Doc))
				continue
			}
			text = p.Default
			if text == DefaultTenant {
				text = env.Tenant
			}
		}
		v, err := p.parse(text, env)
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: %s: %v", ErrBadParam, p.Name, err))
			continue
		}
		out[p.Name] = v
	}
	var unknown []string
	for name := range values {
		if !known[name] {
			unknown = append(unknown, name)
		}
	}
	sort.Strings(unknown)
	for _, name := range unknown {
		errs = append(errs, fmt.Errorf("%w: %s: %s takes no such parameter", ErrBadParam, name, q.Name))
	}
	from, okFrom := out["from"].(time.Time)
	to, okTo := out["to"].(time.Time)
	if okFrom && okTo && !from.Before(to) {
		errs = append(errs, fmt.Errorf("%w: from: %s is not before to (%s)", ErrBadParam,
			from.Format(time.DateTime), to.Format(time.DateTime)))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// Result is what a query returned.
type Result struct {
	Columns []string
	Rows    [][]any
}

// Run binds values and runs q on conn (which must use Vigil's database).
func (q Query) Run(ctx context.Context, conn driver.Conn, values map[string]string, env Env) (*Result, error) {
	bound, err := q.Bind(values, env)
	if err != nil {
		return nil, err
	}
	args := make([]any, 0, len(bound))
	for name, v := range bound {
		args = append(args, clickhouse.Named(name, v))
	}
	rows, err := conn.Query(ctx, q.SQL, args...)
	if err != nil {
		return nil, fmt.Errorf("query %s: %w", q.Name, err)
	}
	defer rows.Close()
	res := &Result{Columns: rows.Columns()}
	types := rows.ColumnTypes()
	for rows.Next() {
		ptrs := make([]any, len(types))
		for i, ct := range types {
			ptrs[i] = reflect.New(ct.ScanType()).Interface()
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, fmt.Errorf("query %s: %w", q.Name, err)
		}
		row := make([]any, len(ptrs))
		for i, p := range ptrs {
			row[i] = reflect.ValueOf(p).Elem().Interface()
		}
		res.Rows = append(res.Rows, row)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query %s: %w", q.Name, err)
	}
	return res, nil
}

// Placeholders returns the @name parameters sql binds, each once, in
// order of first use.
func Placeholders(sql string) []string {
	var out []string
	for _, m := range placeholderRe.FindAllStringSubmatch(sql, -1) {
		if !slices.Contains(out, m[1]) {
			out = append(out, m[1])
		}
	}
	return out
}

var placeholderRe = regexp.MustCompile(`@([A-Za-z0-9_]+)`)
