package config

// Secret is a string that never prints: formatting, logging, JSON and YAML
// output all show "<redacted>" when it is set. Use Reveal to read the value.
type Secret string

const redacted = "<redacted>"

// Reveal returns the secret's value.
func (s Secret) Reveal() string { return string(s) }

// String implements fmt.Stringer.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString implements fmt.GoStringer so %#v hides the value too.
func (s Secret) GoString() string { return `"` + s.String() + `"` }

// MarshalText implements encoding.TextMarshaler (JSON, YAML and slog use it).
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }
