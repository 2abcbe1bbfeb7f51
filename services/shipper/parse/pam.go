package parse

import (
	"strings"

	"github.com/vigil-soc/vigil/pkg/event"
)

// Actions of PAM lines of programs other than sshd (event.action).
const (
	// ActionPAMAuth is a failed PAM authentication ("authentication
	// failure; … user=X").
	ActionPAMAuth = "pam_auth"
	// ActionPAMSessionOpened and ActionPAMSessionClosed are PAM sessions.
	ActionPAMSessionOpened = "pam_session_opened"
	ActionPAMSessionClosed = "pam_session_closed"
	// ActionPAMPasswordChanged is "password changed for X".
	ActionPAMPasswordChanged = "pam_password_changed"
	// ActionPAMOther is any other PAM line.
	ActionPAMOther = "pam_other"
)

// Attribute keys of PAM, sudo and su events.
const (
	// AttrPAMService is the PAM service ("sudo", "su-l", "login", "cron").
	AttrPAMService = "pam.service"
	// AttrTargetUser is the account switched to or acted on (ECS
	// user.target.name): root in "alice ran sudo as root".
	AttrTargetUser = "user.target.name"
	// AttrTTY is the terminal ("pts/0").
	AttrTTY = "process.tty"
)

// oldPAMTag splits an old Red Hat PAM tag "login(pam_unix)" into its service
// and module.
func oldPAMTag(prog string) (service, module string, ok bool) {
	i := strings.IndexByte(prog, '(')
	if i <= 0 || !strings.HasSuffix(prog, ")") || !strings.HasPrefix(prog[i+1:], "pam_") {
		return "", "", false
	}
	return prog[:i], prog[i+1 : len(prog)-1], true
}

// pamLine reads "pam_MODULE(SERVICE:TYPE): BODY" and reports whether msg
// is one.
func pamLine(ev *event.Event, msg string) bool {
	if !strings.HasPrefix(msg, "pam_") {
		return false
	}
	mod, rest, ok := strings.Cut(msg, "(")
	if !ok || strings.IndexByte(mod, ' ') >= 0 {
		return false
	}
	svc, body, ok := strings.Cut(rest, "): ")
	if !ok || strings.IndexByte(svc, ' ') >= 0 {
		return false
	}
	svc, _, _ = strings.Cut(svc, ":")
	pamMessage(ev, svc, mod, body)
	return true
}

// invokerService reports whether a PAM service runs for a user who acts as
// another (su, sudo): its "session opened for user root by alice" is
// alice's doing.
func invokerService(svc string) bool {
	return svc == "sudo" || svc == "sudo-i" || svc == "su" || svc == "su-l" || svc == "runuser" || svc == "runuser-l"
}

// pamMessage reads the body of a PAM line of service svc. The user is the
// one acting: for su and sudo the invoking user, with the account switched
// to as AttrTargetUser.
func pamMessage(ev *event.Event, svc, mod, body string) {
	ev.Attrs[AttrPAMService] = svc
	ev.Attrs[AttrPAMModule] = mod
	ev.Category = event.CategoryAuthentication
	ev.Action = ActionPAMOther
	switch {
	case strings.HasPrefix(body, "authentication failure;"):
		// "…; logname=alice uid=1000 euid=0 tty=/dev/pts/0 ruser=alice rhost=  user=root"
		ev.Action, ev.Outcome = ActionPAMAuth, event.OutcomeFailure
		setHostOrIP(ev, field(body, " rhost="))
		if tty := field(body, " tty="); tty != "" {
			ev.Attrs[AttrTTY] = tty
		}
		user, ruser := field(body, " user="), field(body, " ruser=")
		if ruser == "" && invokerService(svc) {
			ruser = field(body, " logname=")
		}
		switch {
		case ruser != "" && user != "" && ruser != user:
			ev.User = ruser
			ev.Attrs[AttrTargetUser] = user
		case user != "":
			ev.User = user
		default:
			ev.User = ruser
		}
	case strings.HasPrefix(body, "session opened for user "):
		ev.Category, ev.Action, ev.Outcome = event.CategorySession, ActionPAMSessionOpened, event.OutcomeSuccess
		r := body[len("session opened for user "):]
		ev.User = pamUser(r)
		if _, by, ok := strings.Cut(r, " by "); ok && invokerService(svc) {
			if u := pamUser(by); u != "" {
				ev.Attrs[AttrTargetUser] = ev.User
				ev.User = u
			}
		}
	case strings.HasPrefix(body, "session closed for user "):
		ev.Category, ev.Action = event.CategorySession, ActionPAMSessionClosed
		ev.User = pamUser(body[len("session closed for user "):])
	case strings.HasPrefix(body, "password changed for "):
		ev.Category, ev.Action, ev.Outcome = event.CategoryIAM, ActionPAMPasswordChanged, event.OutcomeSuccess
		ev.User, _ = cutWord(body[len("password changed for "):])
	case strings.HasPrefix(body, "auth could not identify password for ["):
		u := body[len("auth could not identify password for ["):]
		if i := strings.IndexByte(u, ']'); i >= 0 {
			ev.User = u[:i]
		}
	}
}
