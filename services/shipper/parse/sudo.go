package parse

import (
	"strings"

	"github.com/vigil-soc/vigil/pkg/event"
)

// Actions of sudo and su lines (event.action).
const (
	// ActionSudoCommand is a command sudo ran (outcome success) or refused
	// to run (failure, with AttrSudoReason).
	ActionSudoCommand = "sudo_command"
	// ActionSudoAuth is sudo giving up after wrong passwords ("3 incorrect
	// password attempts"), or finding that one is required.
	ActionSudoAuth = "sudo_auth"
	// ActionSudoOther is any other sudo line.
	ActionSudoOther = "sudo_other"
	// ActionSu is a user switch by su; its outcome says whether it was
	// allowed.
	ActionSu = "su"
	// ActionSuOther is any other su line.
	ActionSuOther = "su_other"
)

// Attribute keys of sudo events.
const (
	// AttrCommand is the command line run as another user.
	AttrCommand = "process.command_line"
	// AttrWorkingDir is the directory sudo was run in.
	AttrWorkingDir = "process.working_directory"
	// AttrSudoReason is why sudo refused or failed ("user NOT in sudoers",
	// "3 incorrect password attempts").
	AttrSudoReason = "sudo.reason"
)

// sudoMessage reads sudo's message: "USER : [REASON ; ]TTY=… ; PWD=… ;
// USER=… ; COMMAND=…", or a PAM line.
func sudoMessage(ev *event.Event, msg string) {
	msg = strings.TrimLeft(msg, " ")
	ev.Category = event.CategoryProcess
	ev.Action = ActionSudoOther
	if pamLine(ev, msg) {
		return
	}
	user, rest, ok := strings.Cut(msg, " : ")
	if !ok || user == "" || strings.IndexByte(user, ' ') >= 0 {
		return
	}
	ev.User = user
	var reason string
	for rest != "" {
		var part string
		if strings.HasPrefix(rest, "COMMAND=") {
			// The command may hold " ; ": it is the last part.
			part, rest = rest, ""
		} else {
			part, rest, _ = strings.Cut(rest, " ; ")
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok || k == "" || strings.IndexByte(k, ' ') >= 0 {
			if reason == "" {
				reason = strings.TrimSpace(part)
			}
			continue
		}
		switch k {
		case "TTY":
			ev.Attrs[AttrTTY] = v
		case "PWD":
			ev.Attrs[AttrWorkingDir] = v
		case "USER":
			ev.Attrs[AttrTargetUser] = v
		case "COMMAND":
			ev.Attrs[AttrCommand] = v
		default:
			ev.Attrs["sudo."+strings.ToLower(k)] = v
		}
	}
	if reason != "" {
		ev.Attrs[AttrSudoReason] = reason
	}
	_, hasCommand := ev.Attrs[AttrCommand]
	switch {
	case strings.Contains(reason, "incorrect password attempt") || reason == "a password is required":
		ev.Category, ev.Action, ev.Outcome = event.CategoryAuthentication, ActionSudoAuth, event.OutcomeFailure
		if n, _ := leadingDigits(reason); n != "" && len(n) <= 9 {
			v, _ := atoiFixed(n)
			ev.Value = float64(v)
		}
	case reason == "" && hasCommand:
		ev.Action, ev.Outcome = ActionSudoCommand, event.OutcomeSuccess
	case hasCommand:
		// "user NOT in sudoers", "command not allowed", "user NOT
		// authorized on host"
		ev.Action, ev.Outcome = ActionSudoCommand, event.OutcomeFailure
	}
}

// suMessage reads su's message: util-linux "(to root) alice on pts/0" and
// "FAILED SU (to root) alice on pts/0", shadow's "Successful su for root by
// alice", "FAILED su for root by alice", "+ pts/0 alice:root" and
// "- pts/0 alice:root", or a PAM line. prog "su(pam_unix)" is the old Red
// Hat PAM tag.
func suMessage(ev *event.Event, prog, msg string) {
	ev.Category = event.CategoryAuthentication
	ev.Action = ActionSuOther
	if prog == "su(pam_unix)" {
		pamMessage(ev, "su", "pam_unix", msg)
		return
	}
	if pamLine(ev, msg) {
		return
	}
	outcome := event.OutcomeSuccess
	r := msg
	if f, ok := strings.CutPrefix(r, "FAILED SU "); ok {
		r, outcome = f, event.OutcomeFailure
	}
	switch {
	case strings.HasPrefix(r, "(to "):
		// "(to root) alice on pts/0"
		target, who, ok := strings.Cut(r[len("(to "):], ") ")
		if !ok {
			return
		}
		user, tty, _ := strings.Cut(who, " on ")
		ev.User, ev.Attrs[AttrTargetUser] = user, target
		if tty != "" {
			ev.Attrs[AttrTTY] = tty
		}
	case strings.HasPrefix(r, "Successful su for "), strings.HasPrefix(r, "FAILED su for "), strings.HasPrefix(r, "FAILED SU for "):
		if !strings.HasPrefix(r, "Successful") {
			outcome = event.OutcomeFailure
		}
		_, r, _ = strings.Cut(r, " for ")
		target, user, ok := strings.Cut(r, " by ")
		if !ok {
			return
		}
		ev.User, ev.Attrs[AttrTargetUser] = user, target
	case len(r) > 2 && (r[0] == '+' || r[0] == '-') && r[1] == ' ':
		// "+ pts/0 alice:root"
		if r[0] == '-' {
			outcome = event.OutcomeFailure
		}
		tty, users := cutWord(r[2:])
		user, target, ok := strings.Cut(users, ":")
		if !ok {
			return
		}
		ev.User, ev.Attrs[AttrTargetUser], ev.Attrs[AttrTTY] = user, target, tty
	case strings.HasPrefix(r, "pam_authenticate: "), r == "Authentication failure":
		// util-linux after a wrong password; the users are in the PAM line.
		outcome = event.OutcomeFailure
	default:
		return
	}
	ev.Action, ev.Outcome = ActionSu, outcome
}
