package vigil

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/spf13/cobra"

	"github.com/vigil-soc/vigil/pkg/alert"
	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/pkg/detect"
	"github.com/vigil-soc/vigil/pkg/event"
	"github.com/vigil-soc/vigil/pkg/store"
)

// eventsBacktest is what a replay of events through the profiles found.
type eventsBacktest struct {
	Events int
	Bad    badLines
	Scores map[string]int
	Alerts []alert.Alert // each incident's firing alert, once
	Stats  detect.Stats
	paged  pages
}

// pages remembers the ids of the firing alerts that paged.
type pages map[string]bool

// add returns what of alerts would have paged: each incident's firing
// alert, once (a flap republishes it, a resolution follows it).
func (p pages) add(alerts []alert.Alert) []alert.Alert {
	var out []alert.Alert
	for _, a := range alerts {
		if a.Status == alert.StatusFiring && !p[a.ID] {
			p[a.ID] = true
			out = append(out, a)
		}
	}
	return out
}

// selectProfiles returns the active profiles, or only the one named.
func selectProfiles(cfg config.ProcessorConfig, name string) ([]config.ProfileConfig, error) {
	all := cfg.ActiveProfiles()
	if name == "" {
		return all, nil
	}
	var names []string
	for _, p := range all {
		if p.Name == name {
			return []config.ProfileConfig{p}, nil
		}
		names = append(names, p.Name)
	}
	return nil, fmt.Errorf("--profile: no active profile %q (profiles: %s)", name, strings.Join(names, ", "))
}

// replayEvents runs the events next returns through the profiles.
func replayEvents(profiles []config.ProfileConfig, opts detect.Options, next func() (*event.Event, error)) (*eventsBacktest, error) {
	eng, err := detect.New(profiles, opts)
	if err != nil {
		return nil, err
	}
	res := &eventsBacktest{Scores: map[string]int{}, paged: pages{}}
	err = eng.Replay(func() (*event.Event, error) {
		ev, err := next()
		if err == nil {
			res.Events++
		}
		return ev, err
	}, func(out detect.Output) error {
		for _, s := range out.Scores {
			res.Scores[s.Profile]++
		}
		res.Alerts = append(res.Alerts, res.paged.add(out.Alerts)...)
		return nil
	})
	res.Stats = eng.Stats()
	return res, err
}

// badLines counts input lines that are not events.
type badLines struct {
	N     int
	First string // line number and reason of the first
}

// ndjsonEvents reads envelope events, one JSON object per line. A line
// that is not an event is counted in bad (the first one is described) and
// skipped.
func ndjsonEvents(r io.Reader, bad *badLines) func() (*event.Event, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<20), 16<<20)
	line := 0
	return func() (*event.Event, error) {
		for sc.Scan() {
			line++
			b := sc.Bytes()
			if len(strings.TrimSpace(string(b))) == 0 {
				continue
			}
			ev, err := event.Decode(b)
			if err == nil {
				err = ev.Validate()
			}
			if err != nil {
				bad.N++
				if bad.First == "" {
					bad.First = fmt.Sprintf("line %d: %v", line, err)
				}
				continue
			}
			return ev, nil
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("line %d: %w", line+1, err)
		}
		return nil, io.EOF
	}
}

// eventColumns are read from ClickHouse in this order (see scanEvent).
const eventColumns = "id, timestamp, timestamp_ns, ingested, tenant, source, host, category, action, outcome, " +
	"src_ip, src_port, dst_ip, dst_port, user, protocol, bytes_out, bytes_in, value, message, parse_error, attr_keys, attr_values"

// clickhouseEvents streams the stored events of [from, to) in time order,
// one copy of each (FINAL).
func clickhouseEvents(ctx context.Context, conn driver.Conn, tenant string, from, to time.Time) (func() (*event.Event, error), func() error, error) {
	q := "SELECT " + eventColumns + " FROM events FINAL WHERE timestamp >= ? AND timestamp < ?"
	args := []any{from.UTC(), to.UTC()}
	if tenant != "" {
		q += " AND tenant = ?"
		args = append(args, tenant)
	}
	rows, err := conn.Query(ctx, q+" ORDER BY timestamp, timestamp_ns", args...)
	if err != nil {
		return nil, nil, fmt.Errorf("read events from clickhouse: %w", err)
	}
	next := func() (*event.Event, error) {
		if !rows.Next() {
			if err := rows.Err(); err != nil {
				return nil, fmt.Errorf("read events from clickhouse: %w", err)
			}
			return nil, io.EOF
		}
		return scanEvent(rows)
	}
	return next, rows.Close, nil
}

func scanEvent(rows driver.Rows) (*event.Event, error) {
	var (
		e                  event.Event
		ns                 uint32
		srcPort, dstPort   uint16
		keys, values       []string
		timestamp, ingestd time.Time
	)
	if err := rows.Scan(&e.ID, &timestamp, &ns, &ingestd, &e.Tenant, &e.Source, &e.Host, &e.Category, &e.Action, &e.Outcome,
		&e.SrcIP, &srcPort, &e.DstIP, &dstPort, &e.User, &e.Protocol, &e.BytesOut, &e.BytesIn, &e.Value, &e.Message,
		&e.ParseError, &keys, &values); err != nil {
		return nil, fmt.Errorf("read events from clickhouse: %w", err)
	}
	e.Version = event.Version
	e.Timestamp = timestamp.Add(time.Duration(ns)).UTC()
	e.Ingested = ingestd.UTC()
	e.SrcPort, e.DstPort = srcPort, dstPort
	if len(keys) > 0 {
		e.Attrs = make(map[string]string, len(keys))
		for i, k := range keys {
			if i < len(values) {
				e.Attrs[k] = values[i]
			}
		}
	}
	return &e, nil
}

// writeEventsBacktest prints what would have alerted, then a line per
// profile: a table, or with asJSON one alert per line.
func writeEventsBacktest(w io.Writer, res *eventsBacktest, profiles []config.ProfileConfig, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		for _, a := range res.Alerts {
			if err := enc.Encode(a); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FIRST SEEN\tPROFILE\tSEVERITY\tENTITY\tSCORE\tSUMMARY")
	alerts := slices.Clone(res.Alerts)
	slices.SortStableFunc(alerts, func(a, b alert.Alert) int { return a.FirstSeen.Compare(b.FirstSeen) })
	for _, a := range alerts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.6f\t%s\n", a.FirstSeen.UTC().Format(time.DateTime), a.Profile, a.Severity, a.Entity, a.AnomalyScore, a.Summary)
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "PROFILE\tENTITY-WINDOWS\tALERTS")
	perProfile := map[string]int{}
	for _, a := range res.Alerts {
		perProfile[a.Profile]++
	}
	for _, p := range profiles {
		fmt.Fprintf(tw, "%s\t%d\t%d\n", p.Name, res.Scores[p.Name], perProfile[p.Name])
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\n%d events: %d counted, %d ignored by every profile, %d late, %d duplicate; %d bad lines\n",
		res.Events, res.Stats.Counted, res.Stats.Ignored, res.Stats.Late, res.Stats.Duplicate, res.Bad.N)
	return err
}

// backtestEvents is the events mode of vigil backtest: it replays the
// NDJSON events read from in (or, with --from-clickhouse, the stored
// events of --from..--to) through the configured profiles (or only
// --profile) and writes what would have alerted to out.
func backtestEvents(cmd *cobra.Command, in io.Reader, out io.Writer, opts backtestOptions) error {
	cfg, err := opts.Config.Load()
	if err != nil {
		return err
	}
	profiles, err := selectProfiles(cfg.Processor, opts.Profile)
	if err != nil {
		return err
	}
	var bad badLines
	next := ndjsonEvents(in, &bad)
	if opts.FromClickHouse {
		ctx, stop := signalContext(cmd.Context())
		defer stop()
		to := time.Now()
		if opts.To != "" {
			if to, err = time.Parse(time.DateTime, opts.To); err != nil {
				return fmt.Errorf("--to: want YYYY-MM-DD HH:MM:SS: %w", err)
			}
		}
		from, err := time.Parse(time.DateTime, opts.From)
		if err != nil {
			return fmt.Errorf("--from: want YYYY-MM-DD HH:MM:SS (required with --from-clickhouse): %w", err)
		}
		conn, err := store.Open(cfg.ClickHouse)
		if err != nil {
			return err
		}
		defer conn.Close()
		var closeRows func() error
		if next, closeRows, err = clickhouseEvents(ctx, conn, opts.Tenant, from, to); err != nil {
			return err
		}
		defer closeRows()
	}
	start := time.Now()
	res, err := replayEvents(profiles, detect.OptionsFrom(cfg.Processor), next)
	if err != nil {
		return fmt.Errorf("backtest: %w", err)
	}
	res.Bad = bad
	if err := writeEventsBacktest(out, res, profiles, opts.JSON); err != nil {
		return err
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "replayed %d events through %d profiles in %.1fs: %d alerts\n",
		res.Events, len(profiles), time.Since(start).Seconds(), len(res.Alerts))
	if bad.N > 0 {
		fmt.Fprintf(cmd.ErrOrStderr(), "warning: %d line(s) are not events and were skipped; the first, %s\n", bad.N, bad.First)
	}
	return nil
}
