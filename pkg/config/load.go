package config

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/spf13/viper"
)

// DefaultsYAML is the documented default configuration, as `vigil config
// defaults` prints it. A test keeps it equal to Default().
//
//go:embed defaults.yaml
var DefaultsYAML []byte

// EnvPrefix prefixes the environment variables that override keys.
const EnvPrefix = "VIGIL"

// Source says where a configuration comes from. Later layers win: the
// defaults, then File, then VIGIL_* environment variables, then Set.
type Source struct {
	// File is a YAML file; empty means none.
	File string
	// Set holds key=value overrides, e.g. from --set flags.
	Set []string
	// Environ is the environment to read VIGIL_* variables from; nil
	// means os.Environ().
	Environ []string
}

// Load builds the configuration from src and validates it. Unknown keys in
// the file or in Set are an error naming the key.
func Load(src Source) (Config, error) {
	v := viper.New()
	v.SetConfigType("yaml")
	if err := v.ReadConfig(bytes.NewReader(DefaultsYAML)); err != nil {
		return Config{}, fmt.Errorf("read built-in defaults: %w", err)
	}
	known := v.AllKeys()

	if src.File != "" {
		f, err := os.Open(src.File)
		if err != nil {
			return Config{}, fmt.Errorf("open config file: %w", err)
		}
		err = v.MergeConfig(f)
		f.Close()
		if err != nil {
			return Config{}, fmt.Errorf("read config file %s: %w", src.File, err)
		}
		var unknown []error
		for _, key := range v.AllKeys() {
			if !slices.Contains(known, key) {
				unknown = append(unknown, fmt.Errorf("%w: %s: unknown key %q", ErrInvalid, src.File, key))
			}
		}
		if len(unknown) > 0 {
			return Config{}, errors.Join(unknown...)
		}
	}

	environ := src.Environ
	if environ == nil {
		environ = os.Environ()
	}
	for _, key := range known {
		name := EnvPrefix + "_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
		if val, ok := lookup(environ, name); ok {
			v.Set(key, val)
		}
	}

	for _, kv := range src.Set {
		key, val, ok := strings.Cut(kv, "=")
		if !ok {
			return Config{}, fmt.Errorf("%w: --set %q: want key=value", ErrInvalid, kv)
		}
		key = strings.ToLower(strings.TrimSpace(key))
		if !slices.Contains(known, key) {
			return Config{}, fmt.Errorf("%w: --set: unknown key %q", ErrInvalid, key)
		}
		v.Set(key, val)
	}

	var c Config
	if err := v.UnmarshalExact(&c); err != nil {
		return Config{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	c.fillListDefaults()
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// fillListDefaults gives the items of lists, which the defaults cannot
// reach, the defaults of the keys they leave out.
func (c *Config) fillListDefaults() {
	for i := range c.Processor.Profiles {
		fillProfileDefaults(&c.Processor.Profiles[i])
	}
	for i := range c.Shipper.Files {
		f := &c.Shipper.Files[i]
		if f.Format == "" {
			f.Format = "auto"
		}
		def := DefaultMultiline()
		if f.Multiline.MaxLines == 0 {
			f.Multiline.MaxLines = def.MaxLines
		}
		if f.Multiline.Timeout == 0 {
			f.Multiline.Timeout = def.Timeout
		}
	}
	for i := range c.Pager.Receivers {
		r := &c.Pager.Receivers[i]
		def := DefaultReceiver()
		if r.URL == "" {
			r.URL = DefaultReceiverURL(r.Type)
		}
		if r.RateLimit == 0 {
			r.RateLimit = def.RateLimit
		}
		if r.Burst == 0 {
			r.Burst = def.Burst
		}
		if r.Timeout == 0 {
			r.Timeout = def.Timeout
		}
	}
}

func lookup(environ []string, name string) (string, bool) {
	for _, e := range environ {
		if k, v, ok := strings.Cut(e, "="); ok && k == name {
			return v, true
		}
	}
	return "", false
}
