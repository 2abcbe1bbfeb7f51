#!/usr/bin/env bash
# clickhouse.sh — install, start, stop and check a project-local ClickHouse server.
#
# The server runs as the invoking user with its own configuration, data, tmp and
# log directories and pid file, all under one data directory (VIGIL_CH_DIR), so
# several instances (the default one, a test one on other ports) can run side by
# side. See deploy/clickhouse/README.md.
#
# Usage: deploy/clickhouse/clickhouse.sh install|start|stop|restart|status|wait
set -euo pipefail
shopt -u patsub_replacement 2>/dev/null || true # bash 5.2: '&' in ${x//a/b} is literal

SCRIPT_DIR=$(dirname -- "$(realpath -- "${BASH_SOURCE[0]}")")
REPO_ROOT=$(realpath -- "$SCRIPT_DIR/../..")
PROG=${0##*/}

# --- output -----------------------------------------------------------------

say() { printf 'clickhouse: %s\n' "$*"; }
warn() { printf 'clickhouse: warning: %s\n' "$*" >&2; }
err() { printf 'clickhouse: error: %s\n' "$*" >&2; }
die() {
	err "$@"
	exit 1
}
have() { command -v "$1" >/dev/null 2>&1; }

# --- configuration from the environment -------------------------------------

CH_DIR=$(realpath -m -- "${VIGIL_CH_DIR:-$REPO_ROOT/var/clickhouse}")
TCP_PORT=${VIGIL_CH_TCP_PORT:-9000}
HTTP_PORT=${VIGIL_CH_HTTP_PORT:-8123}
LISTEN_HOST=${VIGIL_CH_HOST:-127.0.0.1}
WAIT_SECONDS=${VIGIL_CH_WAIT_SECONDS:-60}
STOP_SECONDS=${VIGIL_CH_STOP_SECONDS:-30}

validate_env() {
	local name value
	for name in VIGIL_CH_TCP_PORT VIGIL_CH_HTTP_PORT; do
		value=${!name:-}
		[[ -z $value ]] && continue
		if ! [[ $value =~ ^[0-9]{1,5}$ ]] || ((10#$value < 1 || 10#$value > 65535)); then
			die "$name=$value is not a port number (1-65535)"
		fi
	done
	TCP_PORT=$((10#$TCP_PORT))
	HTTP_PORT=$((10#$HTTP_PORT))
	((TCP_PORT != HTTP_PORT)) || die "VIGIL_CH_TCP_PORT and VIGIL_CH_HTTP_PORT are both $TCP_PORT; they must differ"
	for name in VIGIL_CH_WAIT_SECONDS VIGIL_CH_STOP_SECONDS; do
		value=${!name:-}
		[[ -z $value || $value =~ ^[0-9]+$ ]] || die "$name=$value is not a whole number of seconds"
	done
	WAIT_SECONDS=$((10#$WAIT_SECONDS))
	STOP_SECONDS=$((10#$STOP_SECONDS))
	LISTEN_HOST=${LISTEN_HOST#[}
	LISTEN_HOST=${LISTEN_HOST%]}
	[[ $LISTEN_HOST =~ ^[A-Za-z0-9._:-]+$ ]] ||
		die "VIGIL_CH_HOST='${VIGIL_CH_HOST:-}' is not an IP address or host name"
	[[ $CH_DIR != / ]] || die "VIGIL_CH_DIR must not be /"
}

set_derived() {
	ETC_DIR=$CH_DIR/etc
	CONF=$ETC_DIR/config.xml
	DATA_DIR=$CH_DIR/data
	TMP_DIR=$CH_DIR/tmp
	LOG_DIR=$CH_DIR/log
	ERR_LOG=$LOG_DIR/clickhouse-server.err.log
	CONSOLE_LOG=$LOG_DIR/console.log
	PID_FILE=$CH_DIR/clickhouse-server.pid
	LOCK_FILE=$CH_DIR/.clickhouse.sh.lock

	# Where clients connect: a wildcard listen address is reached over loopback.
	case $LISTEN_HOST in
	0.0.0.0) CONNECT_HOST=127.0.0.1 ;;
	:: | 0:0:0:0:0:0:0:0) CONNECT_HOST=::1 ;;
	*) CONNECT_HOST=$LISTEN_HOST ;;
	esac
	if [[ $CONNECT_HOST == *:* ]]; then URL_HOST="[$CONNECT_HOST]"; else URL_HOST=$CONNECT_HOST; fi
	if [[ $LISTEN_HOST == *:* ]]; then SHOW_HOST="[$LISTEN_HOST]"; else SHOW_HOST=$LISTEN_HOST; fi
	HTTP_URL="http://$URL_HOST:$HTTP_PORT"
}

# --- cleanup on exit ----------------------------------------------------------

CLEANUP=()
run_cleanup() {
	local c
	for c in "${CLEANUP[@]}"; do eval "$c" || true; done
}
trap run_cleanup EXIT

# --- binaries ---------------------------------------------------------------

SERVER_CMD=()
CLIENT_CMD=()
AS_ROOT=()

# find_server sets SERVER_CMD to the command that runs a ClickHouse server.
find_server() {
	local c
	SERVER_CMD=()
	if [[ -n ${VIGIL_CH_SERVER:-} ]]; then
		[[ -x $VIGIL_CH_SERVER ]] || die "VIGIL_CH_SERVER=$VIGIL_CH_SERVER is not an executable file"
		if [[ ${VIGIL_CH_SERVER##*/} == clickhouse ]]; then
			SERVER_CMD=("$VIGIL_CH_SERVER" server)
		else
			SERVER_CMD=("$VIGIL_CH_SERVER")
		fi
		return 0
	fi
	for c in "$(command -v clickhouse-server 2>/dev/null || true)" \
		/usr/sbin/clickhouse-server /usr/bin/clickhouse-server /usr/local/bin/clickhouse-server; do
		if [[ -n $c && -x $c ]]; then
			SERVER_CMD=("$c")
			return 0
		fi
	done
	for c in "$(command -v clickhouse 2>/dev/null || true)" /usr/bin/clickhouse /usr/local/bin/clickhouse; do
		if [[ -n $c && -x $c ]]; then
			SERVER_CMD=("$c" server)
			return 0
		fi
	done
	return 1
}

# find_client sets CLIENT_CMD (empty if there is no client).
find_client() {
	local c
	CLIENT_CMD=()
	for c in "$(command -v clickhouse-client 2>/dev/null || true)" /usr/bin/clickhouse-client /usr/local/bin/clickhouse-client; do
		if [[ -n $c && -x $c ]]; then
			CLIENT_CMD=("$c")
			return 0
		fi
	done
	if [[ ${#SERVER_CMD[@]} -eq 2 ]]; then # single "clickhouse" binary
		CLIENT_CMD=("${SERVER_CMD[0]}" client)
		return 0
	fi
	return 1
}

# --- root -------------------------------------------------------------------

# need_root sets AS_ROOT to the prefix that runs a command as root, or fails
# with what the user should run instead ($1).
need_root() {
	AS_ROOT=()
	if ((EUID == 0)); then
		return 0
	fi
	if have sudo; then
		if [[ -t 0 ]]; then AS_ROOT=(sudo); else AS_ROOT=(sudo -n); fi
		return 0
	fi
	die "this needs root and sudo is not installed; run as root: $1"
}

as_root() { "${AS_ROOT[@]}" "$@"; }

# --- processes --------------------------------------------------------------

# alive PID: the process exists and is not a zombie.
alive() {
	local stat
	[[ $1 =~ ^[0-9]+$ ]] || return 1
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[[ ${stat%% *} != Z ]]
}

# read_args PID: ARGS becomes the process's argument vector.
read_args() {
	ARGS=()
	[[ $1 =~ ^[0-9]+$ && -r /proc/$1/cmdline ]] || return 1
	mapfile -d '' -t ARGS 2>/dev/null <"/proc/$1/cmdline" || return 1
	((${#ARGS[@]} > 0))
}

# ours PID: the process is a ClickHouse server started from this data dir.
ours() {
	local a
	read_args "$1" || return 1
	for a in "${ARGS[@]}"; do
		[[ $a == "--config-file=$CONF" ]] && return 0
	done
	return 1
}

# running_pid prints the pid of the server started from this data dir.
running_pid() {
	local pid d
	if [[ -f $PID_FILE ]]; then
		pid=$(head -n 1 "$PID_FILE" 2>/dev/null || true)
		if ours "$pid"; then
			echo "$pid"
			return 0
		fi
	fi
	[[ -d $CH_DIR ]] || return 1
	for d in /proc/[0-9]*; do # pid file lost: look for the process itself
		pid=${d#/proc/}
		if ours "$pid"; then
			echo "$pid"
			return 0
		fi
	done
	return 1
}

# describe_pid PID prints a short description of a process.
describe_pid() {
	local a
	read_args "$1" || {
		echo "pid $1"
		return 0
	}
	for a in "${ARGS[@]}"; do
		case $a in
		--config-file=/etc/clickhouse-server/* | --config=/etc/clickhouse-server/*)
			echo "the system clickhouse-server service (pid $1)"
			return 0
			;;
		--config-file=*/etc/config.xml)
			a=${a#--config-file=}
			echo "a ClickHouse started by $PROG from ${a%/etc/config.xml} (pid $1)"
			return 0
			;;
		esac
	done
	echo "${ARGS[0]##*/} (pid $1)"
}

# port_holder PORT prints who listens on a TCP port (best effort).
port_holder() {
	local line pid
	have ss || return 0
	line=$(ss -Hltnp "sport = :$1" 2>/dev/null | head -n 1) || return 0
	[[ $line =~ pid=([0-9]+) ]] || return 0
	pid=${BASH_REMATCH[1]}
	describe_pid "$pid"
}

# port_busy PORT: something listens on PORT at an address the server would use.
port_busy() {
	local line addr
	if ! have ss; then
		tcp_open "$CONNECT_HOST" "$1"
		return
	fi
	line=$(ss -Hltn "sport = :$1" 2>/dev/null) || {
		tcp_open "$CONNECT_HOST" "$1"
		return
	}
	while read -r _ _ _ addr _; do
		[[ -n $addr ]] || continue
		addr=${addr%:*}
		addr=${addr#[}
		addr=${addr%]}
		addr=${addr%%%*}
		case $LISTEN_HOST in
		0.0.0.0 | :: | 0:0:0:0:0:0:0:0) return 0 ;;
		localhost) [[ $addr == 127.0.0.1 || $addr == ::1 ]] && return 0 ;;
		esac
		case $addr in
		"$LISTEN_HOST" | 0.0.0.0 | :: | '*') return 0 ;;
		esac
	done <<<"$line"
	return 1
}

# system_pids prints the pids of ClickHouse servers run from /etc/clickhouse-server.
system_pids() {
	local d pid a
	for d in /proc/[0-9]*; do
		pid=${d#/proc/}
		read_args "$pid" || continue
		[[ ${ARGS[0]##*/} == clickhouse* ]] || continue
		for a in "${ARGS[@]}"; do
			if [[ $a == --config*=/etc/clickhouse-server/* ]]; then
				echo "$pid"
				break
			fi
		done
	done
}

# --- probes -----------------------------------------------------------------

# shellcheck disable=SC2016 # $1/$2 expand in the inner shell
tcp_open() { timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null; }

http_get() {
	if have curl; then
		curl -gfsS --noproxy '*' --max-time 3 -- "$HTTP_URL$1" 2>/dev/null
	elif have wget; then
		wget -qO- --no-proxy --timeout=3 -- "$HTTP_URL$1" 2>/dev/null
	else
		# shellcheck disable=SC2016 # expanded by the inner shell
		timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/$2" &&
			printf "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n" "$3" "$1" >&3 &&
			sed "1,/^\r\{0,1\}$/d" <&3' _ "$CONNECT_HOST" "$HTTP_PORT" "$1" 2>/dev/null
	fi
}

# answering: HTTP /ping says "Ok." and the native port runs SELECT 1.
answering() {
	[[ $(http_get /ping || true) == "Ok." ]] || return 1
	if ((${#CLIENT_CMD[@]})); then
		[[ $(timeout 10 "${CLIENT_CMD[@]}" --host "$CONNECT_HOST" --port "$TCP_PORT" --user default \
			-q 'SELECT 1' 2>/dev/null || true) == 1 ]]
	else
		tcp_open "$CONNECT_HOST" "$TCP_PORT"
	fi
}

server_version() { http_get '/?query=SELECT%20version()' || echo '?'; }

where() {
	echo "$SHOW_HOST:$TCP_PORT (native) and $SHOW_HOST:$HTTP_PORT (http), data in $CH_DIR"
}

# log_size FILE prints the size of FILE in bytes (0 if missing).
log_size() { stat -c %s "$1" 2>/dev/null || echo 0; }
LOG_MARK_ERR=0
LOG_MARK_CONSOLE=0

# show_logs prints the last lines the server wrote to its error and console
# logs (since the start when this run started it).
show_logs() {
	local f mark size lines
	for f in "$ERR_LOG" "$CONSOLE_LOG"; do
		if [[ $f == "$ERR_LOG" ]]; then mark=$LOG_MARK_ERR; else mark=$LOG_MARK_CONSOLE; fi
		size=$(log_size "$f")
		((size > 0)) || continue
		((size >= mark)) || mark=0 # rotated
		lines=$(tail -c "+$((mark + 1))" "$f" | grep -v '^Logging \(information\|errors\) to ' | tail -n 15 || true)
		[[ -n $lines ]] || continue
		printf 'clickhouse: last lines of %s:\n' "$f" >&2
		printf '%s\n' "$lines" | sed 's/^/    /' >&2
	done
}

# wait_ready MODE [PID]: wait until the server from this data dir answers.
# MODE "start" fails at once when PID exits.
wait_ready() {
	local mode=$1 launched=${2:-} deadline=$((SECONDS + WAIT_SECONDS)) pid
	find_client || true
	while :; do
		if [[ -n $launched ]]; then pid=$launched; else pid=$(running_pid || true); fi
		if [[ -n $pid ]] && ours "$pid" && answering; then
			READY_PID=$pid
			return 0
		fi
		if [[ $mode == start ]] && ! alive "$launched"; then
			err "the server exited during startup (data in $CH_DIR)"
			show_logs
			rm -f "$PID_FILE"
			return 1
		fi
		if ((SECONDS >= deadline)); then
			if [[ -n $pid ]] && alive "$pid"; then
				err "the server (pid $pid, data in $CH_DIR) did not answer on $SHOW_HOST:$TCP_PORT (native) / $SHOW_HOST:$HTTP_PORT (http) within ${WAIT_SECONDS}s (VIGIL_CH_WAIT_SECONDS); it is still running: '$0 wait' waits again, '$0 stop' stops it"
			else
				err "no server from $CH_DIR answered within ${WAIT_SECONDS}s (start it with '$0 start')"
			fi
			show_logs
			return 1
		fi
		sleep 0.2
	done
}

# elapsed T0: seconds since T0 (an $EPOCHREALTIME value), e.g. "0.4s".
elapsed() {
	local now=${EPOCHREALTIME/[.,]/} then=${1/[.,]/} ms
	ms=$(((10#$now - 10#$then) / 1000))
	printf '%d.%ds' $((ms / 1000)) $((ms % 1000 / 100))
}

# remember_pid PID: (re)write the pid file if it does not name PID.
remember_pid() {
	[[ $(head -n 1 "$PID_FILE" 2>/dev/null || true) == "$1" ]] || { echo "$1" >"$PID_FILE"; } 2>/dev/null || true
}

lock_dir() {
	have flock || return 0
	exec 9>"$LOCK_FILE"
	flock -w $((WAIT_SECONDS + STOP_SECONDS + 30)) 9 ||
		die "another $PROG is still working on $CH_DIR (lock $LOCK_FILE)"
}

# --- install ----------------------------------------------------------------

# disable_system_service stops and disables the Debian (or upstream) system
# clickhouse-server service, which would otherwise hold ports 9000/8123/9009.
disable_system_service() {
	local svc=clickhouse-server pids pid n
	local -a todo=()
	if [[ -d /run/systemd/system ]] && have systemctl; then
		systemctl is-enabled --quiet "$svc" 2>/dev/null && todo+=(systemd-enabled)
		systemctl is-active --quiet "$svc" 2>/dev/null && todo+=(systemd-active)
	elif [[ -e /etc/systemd/system/multi-user.target.wants/$svc.service ]]; then
		todo+=(systemd-link)
	fi
	compgen -G "/etc/rc[2345].d/S[0-9][0-9]$svc" >/dev/null && todo+=(sysv)
	pids=$(system_pids)
	[[ -n $pids ]] && todo+=(running)
	((${#todo[@]})) || return 0

	if ((EUID != 0)) && { ! have sudo || { [[ ! -t 0 ]] && ! sudo -n true 2>/dev/null; }; }; then
		warn "the system $svc service is enabled or running (${todo[*]}) and may hold ports 9000/8123; run 'sudo $0 install' to stop and disable it"
		return 0
	fi
	need_root "$0 install"
	say "disabling the system $svc service (the project runs its own server)…"
	if [[ " ${todo[*]} " == *" systemd-"* ]]; then
		if [[ -d /run/systemd/system ]]; then
			as_root systemctl disable --now --quiet "$svc" 2>/dev/null || warn "systemctl disable --now $svc failed"
		elif have deb-systemd-helper; then
			as_root deb-systemd-helper disable "$svc.service" >/dev/null 2>&1 || true
		else
			as_root rm -f "/etc/systemd/system/multi-user.target.wants/$svc.service"
		fi
	fi
	if [[ " ${todo[*]} " == *" sysv "* ]] && have update-rc.d; then
		as_root update-rc.d "$svc" disable >/dev/null 2>&1 || warn "update-rc.d $svc disable failed"
	fi
	pids=$(system_pids)
	if [[ -n $pids ]]; then
		say "stopping the system $svc (pid $(echo "$pids" | tr '\n' ' ' | sed 's/ $//'))…"
		if [[ -x /etc/init.d/$svc ]]; then
			as_root "/etc/init.d/$svc" stop >/dev/null 2>&1 || true
		fi
		for pid in $(system_pids); do as_root kill -TERM "$pid" 2>/dev/null || true; done
		for ((n = 0; n < 150; n++)); do
			[[ -z $(system_pids) ]] && break
			sleep 0.2
		done
		for pid in $(system_pids); do as_root kill -KILL "$pid" 2>/dev/null || true; done
	fi
}

apt_has_candidate() {
	local policy
	policy=$(LC_ALL=C apt-cache policy clickhouse-server clickhouse-client 2>/dev/null || true)
	[[ $policy =~ Candidate:\ [0-9] ]]
}

do_install() {
	local out
	if find_server; then
		say "found ${SERVER_CMD[*]}"
		disable_system_service
		return 0
	fi
	have apt-get || die "no ClickHouse server found (clickhouse-server, clickhouse) and apt-get is not available; install ClickHouse and put clickhouse-server or clickhouse on PATH, or set VIGIL_CH_SERVER"
	need_root "DEBIAN_FRONTEND=noninteractive apt-get install -y clickhouse-server clickhouse-client"
	out=$(mktemp "${TMPDIR:-/tmp}/vigil-clickhouse-apt.XXXXXX")
	CLEANUP+=("rm -f '$out'")

	if ! apt_has_candidate; then
		say "updating the package lists (apt-get update)…"
		if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >"$out" 2>&1; then
			tail -n 20 "$out" | sed 's/^/    /' >&2
			die "apt-get update failed"
		fi
		apt_has_candidate || die "the package lists have no clickhouse-server package"
	fi

	# The package's postinst starts the system service through invoke-rc.d.
	# A policy-rc.d that denies every action keeps it from starting; put one in
	# place for the duration of the install unless the system already has one.
	if [[ ! -e /usr/sbin/policy-rc.d ]]; then
		printf '#!/bin/sh\n# Temporary, from vigil deploy/clickhouse/clickhouse.sh install.\nexit 101\n' |
			as_root tee /usr/sbin/policy-rc.d >/dev/null
		as_root chmod 0755 /usr/sbin/policy-rc.d
		CLEANUP+=("as_root rm -f /usr/sbin/policy-rc.d")
	fi

	say "installing clickhouse-server from Debian…"
	if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
		-o DPkg::Lock::Timeout=600 \
		-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
		clickhouse-server clickhouse-client >"$out" 2>&1; then
		tail -n 30 "$out" | sed 's/^/    /' >&2
		die "apt-get install clickhouse-server clickhouse-client failed"
	fi
	if [[ -e /usr/sbin/policy-rc.d ]] && grep -q 'vigil deploy/clickhouse' /usr/sbin/policy-rc.d 2>/dev/null; then
		as_root rm -f /usr/sbin/policy-rc.d
	fi
	disable_system_service
	find_server || die "clickhouse-server was installed but no server binary was found"
	say "installed clickhouse-server $(dpkg-query -W -f='${Version}' clickhouse-server 2>/dev/null || echo '?') (${SERVER_CMD[*]})"
}

# --- render -----------------------------------------------------------------

xml_escape() {
	local s=$1
	s=${s//&/"&amp;"}
	s=${s//</"&lt;"}
	s=${s//>/"&gt;"}
	printf '%s' "$s"
}

# render TEMPLATE OUT KEY VALUE...: replace @KEY@ with VALUE (already escaped).
render() {
	local tmpl=$1 out=$2 content
	shift 2
	[[ -r $tmpl ]] || die "template $tmpl is missing"
	content=$(<"$tmpl")
	while (($# >= 2)); do
		content=${content//"@$1@"/"$2"}
		shift 2
	done
	if [[ $content =~ @[A-Z_]+@ ]]; then
		die "template $tmpl has an unknown placeholder ${BASH_REMATCH[0]}"
	fi
	printf '%s\n' "$content" >"$out.tmp"
	mv -f "$out.tmp" "$out"
}

render_config() {
	local host_xml extra=""
	host_xml=$(xml_escape "$LISTEN_HOST")
	case $LISTEN_HOST in
	127.0.0.1 | ::1 | 0.0.0.0 | :: | localhost) ;;
	*:* | [0-9]*.[0-9]*.[0-9]*.[0-9]*) extra="                <ip>$host_xml</ip>" ;;
	*) extra="                <host>$host_xml</host>" ;;
	esac
	render "$SCRIPT_DIR/config.xml.tmpl" "$CONF" \
		LISTEN_HOST "$host_xml" \
		TCP_PORT "$TCP_PORT" \
		HTTP_PORT "$HTTP_PORT" \
		DATA_DIR "$(xml_escape "$DATA_DIR")" \
		TMP_DIR "$(xml_escape "$TMP_DIR")" \
		LOG_DIR "$(xml_escape "$LOG_DIR")"
	render "$SCRIPT_DIR/users.xml.tmpl" "$ETC_DIR/users.xml" EXTRA_NETWORKS "$extra"
}

# --- commands ---------------------------------------------------------------

cmd_start() {
	local pid owner launched n
	if [[ -d $CH_DIR ]] && pid=$(running_pid); then
		wait_ready wait || exit 1
		remember_pid "$pid"
		say "already running (pid $pid) on $(where)"
		return 0
	fi
	find_server || do_install
	mkdir -p "$CH_DIR"
	lock_dir
	if pid=$(running_pid); then # started by someone else while we waited for the lock
		wait_ready wait || exit 1
		remember_pid "$pid"
		say "already running (pid $pid) on $(where)"
		return 0
	fi
	owner=$(stat -c %u "$CH_DIR")
	[[ $owner == "$(id -u)" ]] ||
		die "$CH_DIR belongs to uid $owner, not to you (uid $(id -u)); run as that user, or chown -R it"

	local p holder
	for p in "$TCP_PORT" "$HTTP_PORT"; do
		if port_busy "$p"; then
			holder=$(port_holder "$p")
			if [[ $holder == "the system clickhouse-server"* ]]; then
				local sudo=""
				((EUID == 0)) || sudo="sudo "
				die "port $p is already in use by $holder; stop and disable it with '$sudo$0 install', or pick other ports with VIGIL_CH_TCP_PORT / VIGIL_CH_HTTP_PORT"
			fi
			die "port $p on $SHOW_HOST is already in use${holder:+ by $holder}; stop it, or pick other ports with VIGIL_CH_TCP_PORT / VIGIL_CH_HTTP_PORT"
		fi
	done

	mkdir -p "$ETC_DIR" "$DATA_DIR" "$TMP_DIR" "$LOG_DIR"
	render_config
	rm -f "$PID_FILE"
	say "starting ${SERVER_CMD[*]} (data in $CH_DIR)…"
	local t0=$EPOCHREALTIME
	LOG_MARK_ERR=$(log_size "$ERR_LOG")
	LOG_MARK_CONSOLE=$(log_size "$CONSOLE_LOG")
	(
		cd "$CH_DIR"
		# setsid: own session, so a Ctrl-C in the caller's terminal does not reach it.
		# The inner shell writes its own pid, then becomes the server (exec).
		# shellcheck disable=SC2016 # expanded by the inner shell
		CLICKHOUSE_WATCHDOG_ENABLE=0 exec setsid bash -c 'echo "$$" >"$0" && exec "$@"' \
			"$PID_FILE" "${SERVER_CMD[@]}" --config-file="$CONF" \
			</dev/null >>"$CONSOLE_LOG" 2>&1 9>&-
	) &
	for ((n = 0; n < 50; n++)); do
		launched=$(head -n 1 "$PID_FILE" 2>/dev/null || true)
		[[ -n $launched ]] && break
		sleep 0.1
	done
	[[ -n $launched ]] || {
		show_logs
		die "the server did not start (no pid in $PID_FILE)"
	}
	wait_ready start "$launched" || exit 1
	say "started ClickHouse $(server_version) on $(where) (pid $READY_PID, ready in $(elapsed "$t0"))"
}

cmd_stop() {
	local pid n
	if [[ ! -d $CH_DIR ]]; then
		say "not running (no data directory at $CH_DIR)"
		return 0
	fi
	lock_dir
	if ! pid=$(running_pid); then
		rm -f "$PID_FILE"
		say "not running (data in $CH_DIR)"
		return 0
	fi
	say "stopping the server (pid $pid, data in $CH_DIR)…"
	kill -TERM "$pid" 2>/dev/null || die "cannot signal pid $pid (owned by another user?)"
	for ((n = 0; n < STOP_SECONDS * 5; n++)); do
		ours "$pid" || break
		sleep 0.2
	done
	if ours "$pid"; then
		warn "still running after ${STOP_SECONDS}s (VIGIL_CH_STOP_SECONDS); sending SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
		for ((n = 0; n < 50; n++)); do
			ours "$pid" || break
			sleep 0.2
		done
		ours "$pid" && die "pid $pid survived SIGKILL"
	fi
	rm -f "$PID_FILE"
	say "stopped (data in $CH_DIR)"
}

cmd_status() {
	local pid
	if ! pid=$(running_pid); then
		say "not running (data in $CH_DIR)"
		exit 3
	fi
	find_server || true
	find_client || true
	if answering; then
		say "running ClickHouse $(server_version) (pid $pid) on $(where)"
		return 0
	fi
	err "the server (pid $pid) runs from $CH_DIR but does not answer on $SHOW_HOST:$TCP_PORT (native) / $SHOW_HOST:$HTTP_PORT (http)"
	exit 1
}

cmd_wait() {
	find_server || true
	wait_ready wait || exit 1
	say "ready (pid $READY_PID) on $(where)"
}

usage() {
	cat <<EOF
usage: $PROG install|start|stop|restart|status|wait

  install  install Debian's clickhouse-server and clickhouse-client if no server
           is found, and stop/disable the system service the package brings
  start    install if needed, then start a server for the data directory and
           wait until it answers (idempotent)
  stop     stop that server (SIGTERM, then SIGKILL after VIGIL_CH_STOP_SECONDS)
  restart  stop, then start
  status   exit 0 if it runs and answers, 1 if it runs but does not answer,
           3 if it does not run
  wait     wait until it answers (VIGIL_CH_WAIT_SECONDS)

environment (current value):
  VIGIL_CH_DIR           data directory ($CH_DIR)
  VIGIL_CH_HOST          listen address ($LISTEN_HOST)
  VIGIL_CH_TCP_PORT      native protocol port ($TCP_PORT)
  VIGIL_CH_HTTP_PORT     HTTP port ($HTTP_PORT)
  VIGIL_CH_WAIT_SECONDS  how long start/wait wait for the server ($WAIT_SECONDS)
  VIGIL_CH_STOP_SECONDS  how long stop waits before SIGKILL ($STOP_SECONDS)
  VIGIL_CH_SERVER        server binary to use instead of searching PATH (optional)
EOF
}

main() {
	local cmd=${1:-}
	case $cmd in
	-h | --help | help)
		usage
		return 0
		;;
	install | start | stop | restart | status | wait) ;;
	"")
		usage >&2
		exit 2
		;;
	*)
		err "unknown command '$cmd'"
		usage >&2
		exit 2
		;;
	esac
	(($# == 1)) || die "'$cmd' takes no arguments"
	validate_env
	set_derived
	[[ -d /proc/self ]] || die "/proc is not available (this script supports Linux only)"
	case $cmd in
	install) do_install ;;
	start) cmd_start ;;
	stop) cmd_stop ;;
	restart)
		cmd_stop
		exec 9>&- # release the lock before start takes it again
		cmd_start
		;;
	status) cmd_status ;;
	wait) cmd_wait ;;
	esac
}

main "$@"
