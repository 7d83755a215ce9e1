#!/usr/bin/env bash
# rayhead.sh start|stop|kill|address|status: one local Ray head for `make run` and the tests.
#
# Every head gets its own ports and temp dir, so two heads (the tests' and `make run`'s) coexist
# with each other, with Redis on 6379 and with heads this script did not start:
#   RAY_HEAD_PORT       GCS port                       (default 6380, never Redis's 6379)
#   RAY_DASHBOARD_PORT  dashboard / Jobs REST API port (default 8265)
#   RAY_HEAD_TEMP_DIR   Ray's temp dir                 (default /tmp/rayexec-<RAY_HEAD_PORT>; keep it
#                       short: Ray puts Unix sockets under it and their paths are limited to 107 bytes)
#   RAY_PORT_BASE       first of the 500 ports of the other Ray processes (default
#                       21000 + 500 * (RAY_HEAD_PORT - 6380), below the kernel's ephemeral range)
#   RAY_HEAD_START_TIMEOUT  seconds to wait for the Jobs API (default 90)
#   RAY_AUTH_MODE       Ray's token auth (default disabled: a local head listens on 127.0.0.1 only;
#                       without it Ray turns token auth on whenever ~/.ray/auth_token exists)
# `stop` ends only the processes of this head (found by its temp dir), never a bare `ray stop`;
# `kill` SIGKILLs all of them at once, with no grace: the loss of a whole cluster, for the tests.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
ray_bin="$root/.venv/bin/ray"
head_port="${RAY_HEAD_PORT:-6380}"
dashboard_port="${RAY_DASHBOARD_PORT:-8265}"
temp_dir="${RAY_HEAD_TEMP_DIR:-/tmp/rayexec-$head_port}"
start_timeout="${RAY_HEAD_START_TIMEOUT:-90}"
address="http://127.0.0.1:$dashboard_port"

die() { echo "rayhead: $*" >&2; exit 1; }

is_port() { [[ "$1" =~ ^[0-9]+$ ]] && (( $1 > 0 && $1 < 65536 )); }
is_port "$head_port" || die "RAY_HEAD_PORT must be a port number, got '$head_port'"
is_port "$dashboard_port" || die "RAY_DASHBOARD_PORT must be a port number, got '$dashboard_port'"
[[ "$head_port" != 6379 ]] || die "RAY_HEAD_PORT 6379 is Redis's port; pick another"
[[ "$temp_dir" == /* && "$temp_dir" != / && ${#temp_dir} -le 40 ]] ||
	die "RAY_HEAD_TEMP_DIR must be an absolute path of at most 40 characters (socket paths), got '$temp_dir'"
temp_dir="${temp_dir%/}"

# The other ports come from one block per head: default heads on 6380, 6381, ... get disjoint blocks.
if [[ -n "${RAY_PORT_BASE:-}" ]]; then
	port_base="$RAY_PORT_BASE"
else
	(( head_port >= 6380 && head_port < 6380 + 23 )) ||
		die "RAY_HEAD_PORT $head_port is outside 6380-6402: set RAY_PORT_BASE (500 free ports) too"
	port_base=$(( 21000 + 500 * (head_port - 6380) ))
fi
is_port "$port_base" && (( port_base + 499 < 65536 )) || die "RAY_PORT_BASE must leave 500 ports, got '$port_base'"

version_answers() {
	curl -fsS --max-time 2 "$address/api/version" >/dev/null 2>&1
}

# head_pids prints the processes of this head: those with the temp dir in an argument (the GCS,
# raylet, dashboard, monitors), the rest of the process group `start` created (the Ray client
# server names no temp dir), and all their descendants (workers and agents rename themselves).
head_pids() {
	local -A parent_of=()
	local -a roots=()
	local pid ppid arg dir
	local self_chain=" $$ "
	pid=$$
	while [[ -n "$pid" && "$pid" != 0 && "$pid" != 1 ]]; do
		pid=$(ps -o ppid= -p "$pid" 2>/dev/null | tr -d ' ' || true)
		self_chain+="$pid "
	done
	while read -r pid ppid; do
		parent_of[$pid]=$ppid
	done < <(ps -eo pid=,ppid=)
	for dir in /proc/[0-9]*; do
		pid=${dir#/proc/}
		[[ "$self_chain" == *" $pid "* ]] && continue
		while IFS= read -r -d '' arg; do
			if [[ "$arg" == "$temp_dir" || "$arg" == "$temp_dir"/* ||
				"$arg" =~ ^-[-A-Za-z_]*= && ( "${arg#*=}" == "$temp_dir" || "${arg#*=}" == "$temp_dir"/* ) ]]; then
				roots+=("$pid")
				break
			fi
		done 2>/dev/null < "$dir/cmdline" || true
	done
	(( ${#roots[@]} )) || return 0
	local -A mine=()
	for pid in "${roots[@]}"; do mine[$pid]=1; done
	# The recorded group counts only while one of its members still names the temp dir, so a
	# recycled group id never reaches another program.
	local pgid pid_pgid
	pgid=$(cat "$temp_dir/rayhead.pgid" 2>/dev/null || true)
	if [[ "$pgid" =~ ^[0-9]+$ ]]; then
		local owned=0
		for pid in "${roots[@]}"; do
			[[ "$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ')" == "$pgid" ]] && owned=1 && break
		done
		if (( owned )); then
			while read -r pid pid_pgid; do
				[[ "$pid_pgid" == "$pgid" && "$self_chain" != *" $pid "* ]] && mine[$pid]=1
			done < <(ps -eo pid=,pgid=)
		fi
	fi
	local grew=1
	while (( grew )); do
		grew=0
		for pid in "${!parent_of[@]}"; do
			if [[ -z "${mine[$pid]:-}" && -n "${mine[${parent_of[$pid]}]:-}" ]]; then
				mine[$pid]=1
				grew=1
			fi
		done
	done
	printf '%s\n' "${!mine[@]}"
}

# alive: the process exists and is not a zombie waiting for its parent to reap it.
alive() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[[ "${stat%% *}" != Z ]]
}

wait_gone() { # seconds pids...
	local deadline=$(( SECONDS + $1 )) pid any
	shift
	while (( SECONDS < deadline )); do
		any=0
		for pid in "$@"; do alive "$pid" && any=1 && break; done
		(( any )) || return 0
		sleep 0.2
	done
	return 1
}

stop_head() {
	local -a pids
	mapfile -t pids < <(head_pids)
	(( ${#pids[@]} )) || { echo "rayhead: no head running in $temp_dir"; return 0; }
	kill -TERM "${pids[@]}" 2>/dev/null || true
	# The GCS server and the autoscaler monitor linger for long after SIGTERM (waiting on each
	# other); the head holds nothing worth a graceful minute, so a short grace is enough.
	if ! wait_gone 5 "${pids[@]}"; then
		kill -KILL "${pids[@]}" 2>/dev/null || true
		wait_gone 10 "${pids[@]}" || die "processes of the head in $temp_dir survived SIGKILL: ${pids[*]}"
	fi
	rm -f "$temp_dir/rayhead.pgid"
	echo "rayhead: stopped the head in $temp_dir (${#pids[@]} processes)"
}

# kill_head is a whole cluster lost at once: every process of the head SIGKILLed together, so none
# of them gets to tell the others or Redis anything.
kill_head() {
	local -a pids
	mapfile -t pids < <(head_pids)
	(( ${#pids[@]} )) || { echo "rayhead: no head running in $temp_dir"; return 0; }
	kill -KILL "${pids[@]}" 2>/dev/null || true
	wait_gone 10 "${pids[@]}" || die "processes of the head in $temp_dir survived SIGKILL: ${pids[*]}"
	rm -f "$temp_dir/rayhead.pgid"
	echo "rayhead: killed the head in $temp_dir (${#pids[@]} processes, SIGKILL)"
}

start_head() {
	[[ -x "$ray_bin" ]] || die "$ray_bin not found: create the project venv with ray[default] first"
	if [[ -n "$(head_pids)" ]]; then
		if version_answers; then
			echo "$address"
			return 0
		fi
		echo "rayhead: the head in $temp_dir does not answer; restarting it" >&2
		stop_head >&2
	fi
	version_answers && die "$address already answers but is not the head in $temp_dir; pick other ports"
	mkdir -p "$temp_dir"
	local log="$temp_dir/rayhead-start.log"
	# RAY_ADDRESS of the caller names a cluster to join; a head must not inherit it. A job's
	# `python` comes from the PATH the head starts with: it must be the venv's, which has Ray.
	# setsid keeps the head out of the caller's process group, so a Ctrl-C meant for the caller
	# does not half-kill it: `stop` ends it as a whole.
	if ! env -u RAY_ADDRESS PATH="$root/.venv/bin:$PATH" RAY_AUTH_MODE="${RAY_AUTH_MODE:-disabled}" \
		setsid "$ray_bin" start --head \
		--port="$head_port" \
		--dashboard-host=127.0.0.1 --dashboard-port="$dashboard_port" \
		--node-ip-address=127.0.0.1 --num-cpus=2 --disable-usage-stats \
		--temp-dir="$temp_dir" \
		--ray-client-server-port=$(( port_base )) \
		--dashboard-agent-listen-port=$(( port_base + 1 )) \
		--dashboard-agent-grpc-port=$(( port_base + 2 )) \
		--runtime-env-agent-port=$(( port_base + 3 )) \
		--metrics-export-port=$(( port_base + 4 )) \
		--node-manager-port=$(( port_base + 5 )) \
		--object-manager-port=$(( port_base + 6 )) \
		--min-worker-port=$(( port_base + 100 )) --max-worker-port=$(( port_base + 499 )) \
		</dev/null >"$log" 2>&1; then
		tail -n 30 "$log" >&2
		stop_head >&2 || true
		die "ray start failed (log: $log)"
	fi
	local deadline=$(( SECONDS + start_timeout ))
	until version_answers; do
		if (( SECONDS >= deadline )); then
			stop_head >&2 || true
			die "the Jobs API at $address did not answer within ${start_timeout}s (log: $log)"
		fi
		sleep 0.5
	done
	record_group
	echo "$address"
}

# record_group remembers the process group that setsid gave the head, for `stop`.
record_group() {
	local pid pgid sid
	for pid in $(head_pids); do
		read -r pgid sid < <(ps -o pgid=,sid= -p "$pid" 2>/dev/null) || continue
		if [[ "$pgid" == "$sid" ]]; then
			echo "$pgid" >"$temp_dir/rayhead.pgid"
			return 0
		fi
	done
}

case "${1:-}" in
start) start_head ;;
stop) stop_head ;;
kill) kill_head ;;
address) echo "$address" ;;
status)
	if [[ -n "$(head_pids)" ]] && version_answers; then
		echo "rayhead: running at $address (temp dir $temp_dir)"
	else
		echo "rayhead: not running (temp dir $temp_dir)"
		exit 1
	fi
	;;
*) die "usage: $0 start|stop|kill|address|status" ;;
esac
