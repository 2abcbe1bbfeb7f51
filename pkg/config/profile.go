package config

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-soc/vigil/pkg/alert"
	"github.com/vigil-soc/vigil/pkg/labels"
)

// Profile defaults, for the keys a profile in processor.profiles leaves out.
const (
	DefaultProfileWindow   = time.Minute
	DefaultProfileWarmup   = 10
	DefaultProfileThresh   = 0.9999
	DefaultProfileSeverity = "medium"
	DefaultProfileResolve  = 5
	DefaultFeatureAlpha    = 0.05
	DefaultResolveThresh   = 0.99
	DefaultFlapWindow      = time.Hour
)

// fillProfileDefaults gives a profile the defaults of the keys it leaves out.
func fillProfileDefaults(p *ProfileConfig) {
	if p.Window == 0 {
		p.Window = DefaultProfileWindow
	}
	if p.Warmup == 0 {
		p.Warmup = DefaultProfileWarmup
	}
	if p.Threshold == 0 {
		p.Threshold = DefaultProfileThresh
	}
	if p.Severity == "" {
		p.Severity = DefaultProfileSeverity
	}
	if p.ResolveWindows == 0 {
		p.ResolveWindows = DefaultProfileResolve
	}
	if p.ResolveThreshold == 0 {
		p.ResolveThreshold = math.Min(DefaultResolveThresh, p.Threshold)
	}
	if p.FlapWindow == 0 {
		p.FlapWindow = DefaultFlapWindow
	}
	if len(p.Features) == 0 {
		p.Features = []FeatureConfig{{}}
	}
	for i := range p.Features {
		f := &p.Features[i]
		if f.Kind == "" {
			f.Kind = "count"
		}
		if f.Baseline == "" {
			f.Baseline = "ewma"
		}
		if f.Direction == "" {
			f.Direction = "high"
		}
		if f.Alpha == 0 {
			f.Alpha = DefaultFeatureAlpha
		}
		if f.Name == "" {
			f.Name = f.Kind
			if f.Field != "" {
				f.Name += "_" + strings.NewReplacer(".", "_", "/", "_").Replace(f.Field)
			}
		}
	}
}

// Suppression is a parsed SuppressConfig: on the days set (indexed by
// time.Weekday), from From to To after midnight UTC.
type Suppression struct {
	Days     [7]bool
	From, To time.Duration
}

var weekdayNames = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// ParseSuppress parses a suppression window.
func ParseSuppress(c SuppressConfig) (Suppression, error) {
	var s Suppression
	if len(c.Days) == 0 {
		s.Days = [7]bool{true, true, true, true, true, true, true}
	}
	for _, d := range c.Days {
		wd, ok := weekdayNames[strings.ToLower(d)]
		if !ok {
			return s, fmt.Errorf("day %q is not one of sun, mon, tue, wed, thu, fri, sat", d)
		}
		s.Days[wd] = true
	}
	clock := func(what, v string) (time.Duration, error) {
		t, err := time.Parse("15:04", v)
		if err != nil {
			return 0, fmt.Errorf("%s %q is not HH:MM", what, v)
		}
		return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute, nil
	}
	var err error
	if s.From, err = clock("from", c.From); err != nil {
		return s, err
	}
	if s.To, err = clock("to", c.To); err != nil {
		return s, err
	}
	if s.To <= s.From {
		return s, fmt.Errorf("to %s must be after from %s", c.To, c.From)
	}
	return s, nil
}

// Covers reports whether t falls in the suppression window.
func (s Suppression) Covers(t time.Time) bool {
	t = t.UTC()
	since := t.Sub(time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC))
	return s.Days[t.Weekday()] && since >= s.From && since < s.To
}

// ActiveProfiles returns the profiles the processor runs: the built-in ones
// not disabled, each replaced by the configured profile of its name, then
// the other configured profiles, defaults filled in.
func (p ProcessorConfig) ActiveProfiles() []ProfileConfig {
	custom := map[string]ProfileConfig{}
	for _, c := range p.Profiles {
		fillProfileDefaults(&c)
		custom[c.Name] = c
	}
	var out []ProfileConfig
	for _, b := range BuiltinProfiles() {
		if c, ok := custom[b.Name]; ok {
			out = append(out, c)
			delete(custom, b.Name)
			continue
		}
		if !slices.Contains(p.Disabled, b.Name) {
			out = append(out, b)
		}
	}
	for _, c := range p.Profiles {
		if pc, ok := custom[c.Name]; ok {
			out = append(out, pc)
		}
	}
	return out
}

// SplitKeyField splits a key field into its field and, for source.ip/24
// and the like, the prefix length (-1 when none).
func SplitKeyField(f string) (field string, bits int) {
	name, b, ok := strings.Cut(f, "/")
	if !ok {
		return f, -1
	}
	n, err := strconv.Atoi(b)
	if err != nil {
		return f, -2
	}
	return name, n
}

// knownField reports whether f names an event field a profile may use.
func knownField(f string) bool {
	return slices.Contains(ProfileFields, f) || strings.HasPrefix(f, "labels.") && len(f) > len("labels.")
}

// numericFields are the fields sum, mean and max apply to.
var numericFields = []string{"source.port", "destination.port", "source.bytes", "destination.bytes", "vigil.value"}

func (v *validator) keyField(key, f string) {
	name, bits := SplitKeyField(f)
	switch {
	case !knownField(name):
		v.add(key, fmt.Sprintf("%q is not an event field (one of %s, or labels.NAME)", f, strings.Join(ProfileFields, ", ")))
	case bits == -2 || bits >= 0 && name != "source.ip" && name != "destination.ip":
		v.add(key, fmt.Sprintf("%q: only source.ip and destination.ip take a prefix length, as source.ip/24", f))
	case bits > 128:
		v.add(key, fmt.Sprintf("%q: a prefix length is at most 128", f))
	}
}

func (v *validator) profile(key string, p ProfileConfig) {
	fillProfileDefaults(&p)
	v.identifier(key+".name", p.Name)
	if p.Name != strings.ToLower(p.Name) {
		v.add(key+".name", fmt.Sprintf("%q must be lower case", p.Name))
	}
	if len(p.Key) == 0 {
		v.add(key+".key", "must name at least one field")
	}
	for i, f := range p.Key {
		v.keyField(fmt.Sprintf("%s.key[%d]", key, i), f)
	}
	for f := range p.Match.Fields {
		if !knownField(f) {
			v.add(key+".match.fields", fmt.Sprintf("%q is not an event field", f))
		}
	}
	if p.Window < time.Second || p.Window > 7*24*time.Hour || (7*24*time.Hour)%p.Window != 0 {
		v.add(key+".window", fmt.Sprintf("must be from 1s to 168h and divide a week, got %s", p.Window))
	}
	if p.Warmup < 1 || p.Warmup > 2048 {
		v.add(key+".warmup", fmt.Sprintf("must be from 1 to 2048, got %d", p.Warmup))
	}
	if p.Threshold <= 0 || p.Threshold >= 1 {
		v.add(key+".threshold", fmt.Sprintf("must be in (0,1), got %g", p.Threshold))
	}
	if p.MinValue < 0 {
		v.add(key+".min_value", "must not be negative")
	}
	v.oneOf(key+".severity", p.Severity, "info", "low", "medium", "high", "critical")
	v.positive(key+".resolve_windows", float64(p.ResolveWindows))
	if p.ResolveThreshold <= 0 || p.ResolveThreshold > p.Threshold {
		v.add(key+".resolve_threshold", fmt.Sprintf("must be in (0, threshold %g], got %g", p.Threshold, p.ResolveThreshold))
	}
	if p.FlapWindow < 0 {
		v.add(key+".flap_window", "must not be negative")
	}
	for name := range p.Labels {
		if slices.Contains(alert.BuiltinLabels, name) || !labels.ValidName(name) {
			v.add(key+".labels", fmt.Sprintf("%q is not a label a profile may set (letters, digits and _, not one of %s)", name, strings.Join(alert.BuiltinLabels, ", ")))
		}
	}
	for i, sp := range p.Suppress {
		if _, err := ParseSuppress(sp); err != nil {
			v.add(fmt.Sprintf("%s.suppress[%d]", key, i), err.Error())
		}
	}
	seen := map[string]bool{}
	for i, f := range p.Features {
		fk := fmt.Sprintf("%s.features[%d]", key, i)
		if seen[f.Name] {
			v.add(fk+".name", fmt.Sprintf("%q is used twice", f.Name))
		}
		seen[f.Name] = true
		v.oneOf(fk+".kind", f.Kind, FeatureKinds...)
		v.oneOf(fk+".baseline", f.Baseline, FeatureBaselines...)
		v.oneOf(fk+".direction", f.Direction, FeatureDirections...)
		if f.Alpha <= 0 || f.Alpha >= 1 {
			v.add(fk+".alpha", fmt.Sprintf("must be in (0,1), got %g", f.Alpha))
		}
		switch f.Kind {
		case "sum", "mean", "max":
			if !slices.Contains(numericFields, f.Field) {
				v.add(fk+".field", fmt.Sprintf("%s needs a numeric field (one of %s), got %q", f.Kind, strings.Join(numericFields, ", "), f.Field))
			}
		case "distinct", "first_seen":
			if f.Field == "" {
				v.add(fk+".field", f.Kind+" needs a field")
			} else {
				v.keyField(fk+".field", f.Field)
			}
		case "count", "failure_ratio", "hour_of_week":
			if f.Field != "" {
				v.add(fk+".field", f.Kind+" takes no field")
			}
		}
		if (f.Kind == "first_seen" || f.Kind == "hour_of_week") && f.Direction != "high" {
			v.add(fk+".direction", f.Kind+" is judged high only")
		}
		if f.Kind == "first_seen" && len(p.Features) > 1 {
			v.add(fk+".kind", "first_seen must be a profile's only feature")
		}
	}
}
