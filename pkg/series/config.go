package series

import (
	"errors"
	"fmt"
)

// Seasonality says which seasonal models the detector may use.
type Seasonality string

const (
	// SeasonAuto tries hour-of-day and hour-of-week buckets and scores with
	// one only while it predicts clearly better than the plain level.
	SeasonAuto Seasonality = "auto"
	// SeasonNone never uses seasonal buckets.
	SeasonNone Seasonality = "none"
	// SeasonDaily uses hour-of-day buckets once two days are seen.
	SeasonDaily Seasonality = "daily"
	// SeasonWeekly uses hour-of-week buckets once two weeks are seen.
	SeasonWeekly Seasonality = "weekly"
)

// Config tunes a Detector. The zero value is not valid; start from
// DefaultConfig.
type Config struct {
	// WarmUp is how many valid values are scored 0 while the baseline
	// forms. Default 10.
	WarmUp int `mapstructure:"warm_up"`
	// Seasonality is auto, none, daily or weekly. Default auto.
	Seasonality Seasonality `mapstructure:"seasonality"`
	// Threshold is the anomaly score that counts as an alert for the
	// refractory period: after one, values no more surprising than it are
	// damped for a while. In (0, 1]; default 0.5.
	Threshold float64 `mapstructure:"threshold"`
}

// DefaultConfig is the configuration of the default metric detector.
func DefaultConfig() Config {
	return Config{WarmUp: 10, Seasonality: SeasonAuto, Threshold: 0.5}
}

// Validate names every bad field.
func (c Config) Validate() error {
	var errs []error
	if c.WarmUp < 2 || c.WarmUp > 1_000_000 {
		errs = append(errs, fmt.Errorf("warm_up: %d is not in [2, 1000000]", c.WarmUp))
	}
	switch c.Seasonality {
	case SeasonAuto, SeasonNone, SeasonDaily, SeasonWeekly:
	default:
		errs = append(errs, fmt.Errorf("seasonality: %q is not auto, none, daily or weekly", c.Seasonality))
	}
	if !(c.Threshold > 0 && c.Threshold <= 1) {
		errs = append(errs, fmt.Errorf("threshold: %v is not in (0, 1]", c.Threshold))
	}
	return errors.Join(errs...)
}
