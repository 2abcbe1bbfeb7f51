package vigil

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-soc/vigil/pkg/labels"
	"github.com/vigil-soc/vigil/pkg/service"
	"github.com/vigil-soc/vigil/pkg/silence"
	"github.com/vigil-soc/vigil/pkg/stream"
	"github.com/vigil-soc/vigil/pkg/telemetry"
)

func silenceCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "silence",
		Short: "Add, list and expire silences: matchers during which matching alerts are not notified",
		Long: `Silences mute the notifications of the alerts whose labels match all their
matchers, from when they start until they end. They live on the compacted
topic kafka.topics.silences; every pager follows it. Matchers are
label=value, label!=value, label=~regexp, label!~regexp (regexps match the
whole value) over the labels tenant, profile, entity, entity_field,
severity, dedup_key, feature and the alert's own labels (e.g. team).`,
	}
	cmd.AddCommand(silenceAddCommand(), silenceListCommand(), silenceExpireCommand())
	return cmd
}

func silenceAddCommand() *cobra.Command {
	var opts service.Options
	var matchers []string
	var duration, until, starts, reason, author string
	cmd := &cobra.Command{
		Use:   "add --matcher LABEL=VALUE... (--duration D | --until TIME) --reason TEXT",
		Short: "Add a silence and print its id",
		Example: `  vigil silence add --matcher team=db --matcher 'severity=~high|critical' --duration 2h --reason "database upgrade"
  vigil silence add -m entity=203.0.113.7 --until 2025-03-05T18:00:00Z --reason "known scanner"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			now := time.Now()
			sil, err := newSilence(now, matchers, duration, until, starts, reason, author)
			if err != nil {
				return err
			}
			return withSilences(cmd, opts, func(ctx context.Context, s *silence.Store) error {
				if err := s.Add(ctx, sil); err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), sil.ID)
				fmt.Fprintf(cmd.ErrOrStderr(), "silenced %s from %s until %s\n", sil.Matchers,
					sil.StartsAt.Format(time.RFC3339), sil.EndsAt.Format(time.RFC3339))
				return nil
			})
		},
	}
	opts.Register(cmd.Flags())
	f := cmd.Flags()
	f.StringArrayVarP(&matchers, "matcher", "m", nil, "label=value, label!=value, label=~regexp or label!~regexp; all must match (repeatable, at least one)")
	f.StringVarP(&duration, "duration", "d", "", "how long the silence lasts from its start, e.g. 90m, 2h, 3d")
	f.StringVar(&until, "until", "", "when the silence ends, RFC 3339 (2025-03-05T18:00:00Z)")
	f.StringVar(&starts, "starts", "", "when the silence starts, RFC 3339 (default: now)")
	f.StringVarP(&reason, "reason", "r", "", "why the alerts are muted (required)")
	f.StringVar(&author, "author", "", "who adds the silence (default: $USER)")
	return cmd
}

// newSilence checks the flags of `silence add` and builds the silence,
// before anything connects.
func newSilence(now time.Time, matcherFlags []string, duration, until, starts, reason, author string) (silence.Silence, error) {
	if len(matcherFlags) == 0 {
		return silence.Silence{}, errors.New("--matcher: at least one is needed, e.g. --matcher team=db")
	}
	ms, err := labels.ParseMatchers(matcherFlags)
	if err != nil {
		return silence.Silence{}, fmt.Errorf("--matcher: %w", err)
	}
	start := now
	if starts != "" {
		if start, err = time.Parse(time.RFC3339, starts); err != nil {
			return silence.Silence{}, fmt.Errorf("--starts: %q is not an RFC 3339 time such as 2025-03-05T18:00:00Z", starts)
		}
	}
	var end time.Time
	switch {
	case duration != "" && until != "":
		return silence.Silence{}, errors.New("--duration and --until: give one of them, not both")
	case duration != "":
		d, err := parseDuration(duration)
		if err != nil {
			return silence.Silence{}, fmt.Errorf("--duration: %w", err)
		}
		end = start.Add(d)
	case until != "":
		if end, err = time.Parse(time.RFC3339, until); err != nil {
			return silence.Silence{}, fmt.Errorf("--until: %q is not an RFC 3339 time such as 2025-03-05T18:00:00Z", until)
		}
		if !end.After(start) {
			return silence.Silence{}, fmt.Errorf("--until: %s is not after the start, %s", end.Format(time.RFC3339), start.Format(time.RFC3339))
		}
	default:
		return silence.Silence{}, errors.New("--duration or --until: say when the silence ends")
	}
	if !end.After(now) {
		return silence.Silence{}, fmt.Errorf("the silence would end at %s, which has passed", end.Format(time.RFC3339))
	}
	if strings.TrimSpace(reason) == "" {
		return silence.Silence{}, errors.New("--reason: say why the alerts are muted")
	}
	if author == "" {
		author = os.Getenv("USER")
	}
	if author == "" {
		author = "unknown"
	}
	return silence.New(ms, start, end, reason, author, now)
}

// parseDuration reads a Go duration (90m, 2h30m) or a number of days (3d).
func parseDuration(s string) (time.Duration, error) {
	var d time.Duration
	var err error
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, perr := strconv.Atoi(days)
		if perr != nil {
			err = perr
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		d, err = time.ParseDuration(s)
	}
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration such as 90m, 2h or 3d", s)
	}
	if d <= 0 {
		return 0, fmt.Errorf("%q must be positive", s)
	}
	return d, nil
}

func silenceListCommand() *cobra.Command {
	var opts service.Options
	var all bool
	var output string
	cmd := &cobra.Command{
		Use:   "list [--all] [--output table|json]",
		Short: "List the silences in force or to come (--all: expired ones too)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "table" && output != "json" {
				return fmt.Errorf("--output: %q is not table or json", output)
			}
			return withSilences(cmd, opts, func(_ context.Context, s *silence.Store) error {
				now := time.Now()
				var shown []silence.Silence
				for _, sil := range s.All() {
					if all || sil.StateAt(now) != silence.StateExpired {
						shown = append(shown, sil)
					}
				}
				if output == "json" {
					return writeSilencesJSON(cmd.OutOrStdout(), shown, now)
				}
				return writeSilencesTable(cmd.OutOrStdout(), shown, now)
			})
		},
	}
	opts.Register(cmd.Flags())
	cmd.Flags().BoolVar(&all, "all", false, "list expired silences too")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table (aligned columns) or json (one object per line)")
	return cmd
}

func writeSilencesTable(w io.Writer, ss []silence.Silence, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tSTARTS\tENDS\tCREATED BY\tMATCHERS\tREASON")
	for _, s := range ss {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, s.StateAt(now), s.StartsAt.Format(time.RFC3339),
			s.EndsAt.Format(time.RFC3339), oneLine(s.CreatedBy), s.Matchers, oneLine(s.Reason))
	}
	return tw.Flush()
}

func oneLine(s string) string {
	return strings.NewReplacer("\n", " ", "\r", " ", "\t", " ").Replace(s)
}

func writeSilencesJSON(w io.Writer, ss []silence.Silence, now time.Time) error {
	enc := json.NewEncoder(w)
	for _, s := range ss {
		if err := enc.Encode(struct {
			silence.Silence
			State silence.State `json:"state"`
		}{s, s.StateAt(now)}); err != nil {
			return err
		}
	}
	return nil
}

func silenceExpireCommand() *cobra.Command {
	var opts service.Options
	cmd := &cobra.Command{
		Use:   "expire ID",
		Short: "End a silence now (its alerts are notified again)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withSilences(cmd, opts, func(ctx context.Context, s *silence.Store) error {
				sil, err := s.Expire(ctx, args[0], time.Now())
				if errors.Is(err, silence.ErrExpired) {
					fmt.Fprintf(cmd.OutOrStdout(), "silence %s already ended at %s\n", sil.ID, sil.EndsAt.Format(time.RFC3339))
					return nil
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "expired silence %s %s\n", sil.ID, sil.Matchers)
				return nil
			})
		},
	}
	opts.Register(cmd.Flags())
	return cmd
}

// silenceTimeout bounds a silence command's talk with Kafka.
const silenceTimeout = 60 * time.Second

// withSilences loads the configuration, connects to Kafka, loads the
// silences and runs f.
func withSilences(cmd *cobra.Command, opts service.Options, f func(context.Context, *silence.Store) error) error {
	cfg, err := opts.Load()
	if err != nil {
		return err
	}
	logger := telemetry.NewLogger(os.Stderr, cfg.Log.Format, "warn").With("service", "silence")
	ctx, stop := signalContext(cmd.Context())
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, silenceTimeout)
	defer cancel()
	client, err := stream.NewClient(cfg.Kafka, stream.WithLogger(logger))
	if err != nil {
		return err
	}
	defer client.Close()
	if err := client.WaitReady(ctx, logger); err != nil {
		return err
	}
	s := silence.NewStore(client, cfg.Kafka.Topics.Silences, silence.Options{Logger: logger})
	defer s.Shutdown(context.Background())
	if err := s.Start(ctx); err != nil {
		return err
	}
	return f(ctx, s)
}
