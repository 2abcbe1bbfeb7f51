package vigil

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-soc/vigil/pkg/forensics"
	"github.com/vigil-soc/vigil/pkg/service"
	"github.com/vigil-soc/vigil/pkg/store"
)

func queryCommand() *cobra.Command {
	var opts service.Options
	var params []string
	var format string
	var list bool
	cmd := &cobra.Command{
		Use:   "query [NAME] [--param key=value]...",
		Short: "Run a named forensic query on the audit history (vigil query --list shows them)",
		Long: `Run a named forensic query on the audit history in ClickHouse and print its
rows: a table for terminals (--format table) or one JSON object per row for
scripts (--format json). Without NAME, or with --list, list the queries and
their parameters. The queries and their SQL: pkg/forensics/README.md.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			if list || len(args) == 0 {
				listQueries(out)
				return nil
			}
			if format != "table" && format != "json" {
				return fmt.Errorf("--format: %q is not table or json", format)
			}
			q, err := forensics.Lookup(args[0])
			if err != nil {
				return err
			}
			values, err := paramValues(params)
			if err != nil {
				return err
			}
			cfg, err := opts.Load()
			if err != nil {
				return err
			}
			env := forensics.Env{Now: time.Now(), Tenant: cfg.Tenant}
			if _, err := q.Bind(values, env); err != nil { // before connecting
				return err
			}
			ctx, stop := signalContext(cmd.Context())
			defer stop()
			conn, err := store.Open(cfg.ClickHouse)
			if err != nil {
				return err
			}
			defer conn.Close()
			res, err := q.Run(ctx, conn, values, env)
			if err != nil {
				return err
			}
			if format == "json" {
				return res.WriteJSON(out)
			}
			if err := res.WriteTable(out); err != nil {
				return err
			}
			noun := "rows"
			if len(res.Rows) == 1 {
				noun = "row"
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "(%d %s)\n", len(res.Rows), noun)
			return nil
		},
	}
	opts.Register(cmd.Flags())
	cmd.Flags().StringArrayVarP(&params, "param", "p", nil, "a query parameter, key=value (repeatable)")
	cmd.Flags().StringVar(&format, "format", "table", "table (aligned columns) or json (one object per row)")
	cmd.Flags().BoolVar(&list, "list", false, "list the queries and their parameters")
	return cmd
}

// paramValues reads key=value pairs; a key given twice is an error.
func paramValues(pairs []string) (map[string]string, error) {
	values := map[string]string{}
	for _, kv := range pairs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--param %q: want key=value", kv)
		}
		if _, dup := values[k]; dup {
			return nil, fmt.Errorf("--param %s: given twice", k)
		}
		values[k] = v
	}
	return values, nil
}

func listQueries(w io.Writer) {
	for i, q := range forensics.Queries() {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%s\n  %s\n", q.Name, q.Summary)
		for _, p := range q.Params {
			def := "default " + p.Default
			switch {
			case p.Required:
				def = "required"
			case p.Default == "":
				def = "default empty"
			}
			fmt.Fprintf(w, "  --param %-9s %-8s %-30s %s\n", p.Name, p.Type, def, p.Doc)
		}
	}
}
