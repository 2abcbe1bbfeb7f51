// Package receiver sends one alert to one paging service per call:
// PagerDuty (Events API v2), Opsgenie (Alert API), Slack (incoming
// webhooks) and generic webhooks (Alertmanager's webhook JSON, version 4).
// Each call is one HTTP request; its error says whether trying again can
// help (Retryable). Retries, rate limits and dead letters are the pager's.
// Errors never hold a receiver's key, token or URL path.
package receiver
