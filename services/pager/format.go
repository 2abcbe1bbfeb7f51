package pager

import (
	"fmt"
	"strings"
	"time"

	"github.com/vigil-soc/vigil/pkg/alert"
)

// Format renders an alert as one line for a terminal or a log; line breaks
// in its text are escaped.
func Format(a alert.Alert) string {
	line := fmt.Sprintf("ALERT %s [%s] %s score=%.6f first_seen=%s key=%s",
		a.Status, a.Severity, a.Summary, a.AnomalyScore, a.FirstSeen.UTC().Format(time.RFC3339), a.DedupKey)
	return strings.NewReplacer("\n", `\n`, "\r", `\r`).Replace(line)
}
