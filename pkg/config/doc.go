// Package config is Vigil's configuration: one documented struct per section,
// the defaults every section starts from, validation that names the key at
// fault, and the loader that layers a YAML file, VIGIL_* environment
// variables and --set flags over the defaults.
package config
