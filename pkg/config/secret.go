package config

import "net/url"

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

// SecretURL is a URL that may carry a credential in its path or query, as
// Slack's incoming webhooks do: it prints as scheme://host/<redacted>
// (or whole when it has neither path nor query nor user). Use Reveal to
// read the value.
type SecretURL string

// Reveal returns the URL.
func (u SecretURL) Reveal() string { return string(u) }

// String implements fmt.Stringer.
func (u SecretURL) String() string {
	if u == "" {
		return ""
	}
	p, err := url.Parse(string(u))
	if err != nil || p.Host == "" {
		return redacted
	}
	if p.User == nil && (p.Path == "" || p.Path == "/") && p.RawQuery == "" && p.Fragment == "" {
		return p.Scheme + "://" + p.Host
	}
	return p.Scheme + "://" + p.Host + "/" + redacted
}

// GoString implements fmt.GoStringer so %#v hides the value too.
func (u SecretURL) GoString() string { return `"` + u.String() + `"` }

// MarshalText implements encoding.TextMarshaler (JSON, YAML and slog use it).
func (u SecretURL) MarshalText() ([]byte, error) { return []byte(u.String()), nil }
