// Package series is Vigil's default metric detector: it scores one numeric
// series (a metric sampled at any rate) value by value, causally, in fixed
// memory, and explains each score. It combines a robust level, a
// level-shift, a volatility, a flat-line and an hour-of-day or
// hour-of-week seasonal statistic, each calibrated against its own history,
// into an anomaly score in [0,1]. ScoreCSV runs it over a
// timestamp,value CSV (`vigil backtest`).
package series
