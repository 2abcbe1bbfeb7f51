package vigil

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-soc/vigil/pkg/alert"
	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/pkg/detect"
	"github.com/vigil-soc/vigil/pkg/evalset"
	"github.com/vigil-soc/vigil/pkg/event"
	"github.com/vigil-soc/vigil/pkg/service"
)

func evalCommand() *cobra.Command {
	var opts service.Options
	var small bool
	var seed uint64
	cmd := &cobra.Command{
		Use:   "eval [--small] [--seed N]",
		Short: "Measure the detection profiles on the labelled synthetic benchmark: precision, recall, time to detect",
		Long: `Generate the labelled synthetic benchmark (pkg/evalset: two weeks of
normal traffic with daily and weekly seasonality for thousands of users,
hosts and addresses, the second week with injected attacks and benign
bursts), replay it through the configured profiles with the clock taken
from the events, and print per profile: labelled incidents, detected,
recall, alerts, false alerts and their rate per 10,000 entity-windows,
precision and time to detect. Targets: recall ≥ 0.9 and at most one false
alert per 10,000 entity-windows.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := opts.Load()
			if err != nil {
				return err
			}
			ec := evalset.Default()
			if small {
				ec = evalset.Small()
			}
			if cmd.Flags().Changed("seed") {
				ec.Seed = seed
			}
			start := time.Now()
			rep, events, err := runEval(ec, cfg.Processor)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "%d events, seed %d, %s of warm-up then %s scored; replayed in %.1fs\n\n",
				events, ec.Seed, ec.WarmUp, ec.Duration-ec.WarmUp, time.Since(start).Seconds())
			if err := rep.Table(out); err != nil {
				return err
			}
			verdict := "every profile meets both targets"
			if !rep.OK() {
				verdict = "not every profile meets the targets (see the table)"
			}
			_, err = fmt.Fprintf(out, "\n%s\n", verdict)
			return err
		},
	}
	opts.Register(cmd.Flags())
	cmd.Flags().BoolVar(&small, "small", false, "a small set (two days, a few hundred entities), for a quick look")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "seed of the generator")
	return cmd
}

// runEval generates the set, replays it through the profiles and scores
// their alerts against the labels.
func runEval(ec evalset.Config, pc config.ProcessorConfig) (evalset.Report, int64, error) {
	profiles := pc.ActiveProfiles()
	eng, err := detect.New(profiles, detect.OptionsFrom(pc))
	if err != nil {
		return evalset.Report{}, 0, err
	}
	var alerts []evalset.Alert
	seen := map[string]bool{}
	windows := map[string]int64{}
	evalStart := ec.Start.Add(ec.WarmUp)
	r := eng.NewReplayer(func(out detect.Output) error {
		for _, s := range out.Scores {
			if !s.WindowStart.Before(evalStart) {
				windows[s.Profile]++
			}
		}
		for _, a := range out.Alerts {
			if a.Status == alert.StatusFiring && !seen[a.ID] {
				seen[a.ID] = true
				alerts = append(alerts, evalset.Alert{Profile: a.Profile, Tenant: a.Tenant, Entity: a.Entity, Time: a.FirstSeen})
			}
		}
		return nil
	})
	var events int64
	labels, err := evalset.Generate(ec, func(e *event.Event) error {
		events++
		return r.Add(e)
	})
	if err != nil {
		return evalset.Report{}, events, err
	}
	if err := r.Close(); err != nil {
		return evalset.Report{}, events, err
	}
	sc := evalset.DefaultScoring()
	sc.Windows = map[string]time.Duration{}
	for _, p := range profiles {
		sc.Windows[p.Name] = p.Window
	}
	return sc.Evaluate(labels, alerts, windows), events, nil
}
