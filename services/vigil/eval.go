package vigil

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-soc/vigil/pkg/alert"
	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/pkg/detect"
	"github.com/vigil-soc/vigil/pkg/evalset"
	"github.com/vigil-soc/vigil/pkg/event"
	"github.com/vigil-soc/vigil/pkg/score"
	"github.com/vigil-soc/vigil/pkg/service"
)

func evalCommand() *cobra.Command {
	var opts service.Options
	var small, misses bool
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
			var diag *evalDiag
			if misses {
				diag = &evalDiag{scores: map[string][]score.Score{}}
			}
			rep, events, err := runEval(ec, cfg.Processor, diag)
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
			if _, err = fmt.Fprintf(out, "\n%s\n", verdict); err != nil {
				return err
			}
			if diag != nil {
				diag.write(out)
			}
			return nil
		},
	}
	opts.Register(cmd.Flags())
	cmd.Flags().BoolVar(&small, "small", false, "a small set (two days, a few hundred entities), for a quick look")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "seed of the generator")
	cmd.Flags().BoolVar(&misses, "misses", false, "also list each missed incident with the highest score its entity got, and each false alert")
	return cmd
}

// runEval generates the set, replays it through the profiles and scores
// their alerts against the labels.
func runEval(ec evalset.Config, pc config.ProcessorConfig, diag *evalDiag) (evalset.Report, int64, error) {
	profiles := pc.ActiveProfiles()
	eng, err := detect.New(profiles, detect.OptionsFrom(pc))
	if err != nil {
		return evalset.Report{}, 0, err
	}
	var alerts []evalset.Alert
	paged := pages{}
	windows := map[string]int64{}
	evalStart := ec.Start.Add(ec.WarmUp)
	r := eng.NewReplayer(func(out detect.Output) error {
		for _, s := range out.Scores {
			if !s.WindowStart.Before(evalStart) {
				windows[s.Profile]++
				if diag != nil && s.AnomalyScore > 0.5 {
					k := s.Profile + "\x00" + s.Entity
					diag.scores[k] = append(diag.scores[k], s)
				}
			}
		}
		if diag != nil {
			for _, a := range out.Alerts {
				if a.Status == alert.StatusFiring && !a.FirstSeen.Before(evalStart) {
					diag.alerts = append(diag.alerts, a)
				}
			}
		}
		for _, a := range paged.add(out.Alerts) {
			alerts = append(alerts, evalset.Alert{Profile: a.Profile, Tenant: a.Tenant, Entity: a.Entity, Time: a.FirstSeen})
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
	if diag != nil {
		diag.labels = labels
	}
	sc := evalset.DefaultScoring()
	sc.Windows = map[string]time.Duration{}
	for _, p := range profiles {
		sc.Windows[p.Name] = p.Window
	}
	return sc.Evaluate(labels, alerts, windows), events, nil
}

// evalDiag keeps what --misses prints: the scores above 0.5 per profile
// and entity, and the firing alerts.
type evalDiag struct {
	labels evalset.Labels
	scores map[string][]score.Score
	alerts []alert.Alert
}

func (d *evalDiag) write(w io.Writer) {
	labelled := map[string]bool{}
	fmt.Fprintln(w, "\nmissed incidents (best score of the entity during the incident):")
	for _, l := range d.labels.Incidents {
		labelled[l.Profile+"\x00"+l.Entity] = true
		for p, e := range l.Also {
			labelled[p+"\x00"+e] = true
		}
		if l.Benign {
			continue
		}
		alerted := false
		for _, a := range d.alerts {
			if a.Profile == l.Profile && a.Entity == l.Entity && !a.FirstSeen.After(l.End.Add(time.Hour)) && !a.FirstSeen.Before(l.Start.Add(-time.Hour)) {
				alerted = true
			}
		}
		if alerted {
			continue
		}
		var best score.Score
		for _, s := range d.scores[l.Profile+"\x00"+l.Entity] {
			if !s.WindowEnd.Before(l.Start) && !s.WindowStart.After(l.End) && s.AnomalyScore > best.AnomalyScore {
				best = s
			}
		}
		x := best.Explanation
		fmt.Fprintf(w, "  %-20s %-8s %-28s %s..%s best=%.6f obs=%.4g exp=%.4g sd=%.4g n=%d %s\n", l.Profile, l.Kind, l.Entity,
			l.Start.Format("01-02 15:04"), l.End.Format("15:04"), best.AnomalyScore, x.Observed, x.Expected, x.Spread, x.Samples, x.Method)
	}
	fmt.Fprintln(w, "\nalerts on no incident:")
	for _, a := range d.alerts {
		if !labelled[a.Profile+"\x00"+a.Entity] {
			fmt.Fprintf(w, "  %s %s\n", a.FirstSeen.Format("01-02 15:04"), a.Summary)
		}
	}
}
