#!/usr/bin/env bash
# A throwaway one-node SLURM cluster on this machine, for the workflow's SLURM test
# (tests/test_slurm.py) and for trying profiles/slurm by hand.  Debian/Ubuntu, root,
# no systemd needed.
#
#   tests/slurm/local_slurm.sh start    # install the packages if missing, write the config,
#                                       # start munged, slurmctld, slurmd; wait for an idle node
#   tests/slurm/local_slurm.sh stop     # cancel its jobs, stop exactly the daemons it started
#   tests/slurm/local_slurm.sh status   # sinfo, squeue and the daemons' pids
#
# Everything it starts lives under $NST_SLURM_DIR (default /var/tmp/nst-slurm): state,
# spool, logs, pid files and a private munge key and socket, so a munged that is already
# running is left alone.  The only files outside are /etc/slurm/slurm.conf and gres.conf,
# where SLURM's commands look for them (jobs of the executor plugin drop SLURM_CONF from
# the environment of their inner srun); existing ones not written by this script are
# never touched, and `stop` removes its own.
#
# The node has one fake GPU (GRES gpu backed by /dev/null), so that jobs asking for
# `--gpus=1` are scheduled as on a GPU cluster: SLURM sets CUDA_VISIBLE_DEVICES=0 for
# them, and torch, finding no CUDA driver, runs on the CPU.
#
# Accounting is off, so `sacct` does not work: run Snakemake with
#   --slurm-status-command squeue --slurm-init-seconds-before-status-checks 1
# (the plugin only trusts squeue when MinJobAge >= 3 x that init time; MinJobAge is 600 here).
# Without it the plugin's default sacct status query fails and Snakemake waits forever.
set -euo pipefail

DIR=${NST_SLURM_DIR:-/var/tmp/nst-slurm}
CONF=/etc/slurm/slurm.conf
GRES=/etc/slurm/gres.conf
MARK="# written by tests/slurm/local_slurm.sh"
PACKAGES="slurmctld slurmd slurm-client munge"
NODE=$(hostname -s)

say() { echo "[local_slurm] $*" >&2; }
die() { say "error: $*"; exit 1; }

# --- helpers ---------------------------------------------------------------------

alive() { [ -r "/proc/$1/stat" ] && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]; }

wait_for() { # seconds command...: poll every 0.25 s until the command succeeds
    local tries=$(($1 * 4))
    shift
    for _ in $(seq "$tries"); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.25
    done
    return 1
}

# Start a daemon (it forks into the background; this returns its parent's status) with no
# inherited descriptors: stdin /dev/null, output to its log, and
# every fd above 2 closed.  munged keeps inherited fds open; when the caller's output is a
# pipe (pytest's capture, a CI step) that pipe would then never close and the caller hangs.
spawn() { # logname command...
    local log="$DIR/log/$1.out"
    shift
    (
        for fd in /proc/$BASHPID/fd/*; do
            fd=${fd##*/}
            if [ "$fd" -gt 2 ]; then eval "exec $fd>&-" 2>/dev/null || true; fi
        done
        cd /
        exec setsid "$@" </dev/null >"$log" 2>&1
    )
}

# Stop the daemons named by pid files, only if the pid still is that program:
# TERM, up to 15 s for them to exit, then KILL.
stop_pidfiles() { # pidfile:comm ...
    local item pidfile comm pid pids="" left=""
    for item in "$@"; do
        pidfile=${item%%:*}
        comm=${item##*:}
        [ -s "$pidfile" ] || continue
        pid=$(cat "$pidfile")
        if alive "$pid" && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$comm" ]; then
            kill -TERM "$pid" 2>/dev/null || true
            pids="$pids $pid"
        fi
        rm -f "$pidfile"
    done
    for _ in $(seq 60); do
        left=""
        for pid in $pids; do if alive "$pid"; then left="$left $pid"; fi; done
        [ -z "$left" ] && return 0
        sleep 0.25
    done
    for pid in $left; do
        say "pid $pid ignored TERM; killing it"
        kill -KILL "$pid" 2>/dev/null || true
    done
}

ours() { [ -f "$1" ] && grep -qxF "$MARK" "$1"; }

# --- install ---------------------------------------------------------------------

install_packages() {
    local missing="" p
    for p in $PACKAGES; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
    done
    [ -z "$missing" ] && return 0
    command -v apt-get >/dev/null || die "apt-get not found; install$missing by hand"
    say "installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    # Keep the packages' postinst scripts from starting services (this script starts its
    # own daemons); most container images already have such a policy-rc.d.
    local policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        policy=/usr/sbin/policy-rc.d
    fi
    local ok=0
    # Package lists may be missing (fresh image) or stale (a mirror moved on): update once.
    if ! timeout 600 apt-get install -y -qq --no-install-recommends $missing >"$DIR/log/apt.out" 2>&1; then
        timeout 300 apt-get update -qq >>"$DIR/log/apt.out" 2>&1 || true
        timeout 600 apt-get install -y -qq --no-install-recommends $missing >>"$DIR/log/apt.out" 2>&1 || ok=$?
    fi
    if [ -n "$policy" ]; then rm -f "$policy"; fi
    [ "$ok" = 0 ] || { tail -20 "$DIR/log/apt.out" >&2; die "apt-get install$missing failed"; }
}

# --- config ----------------------------------------------------------------------

write_config() {
    local file
    for file in "$CONF" "$GRES"; do
        if [ -f "$file" ] && ! ours "$file"; then
            die "$file exists and was not written by this script; not touching a real cluster's config"
        fi
    done
    # The node exactly as slurmd sees it (CPUs, sockets, cores, memory), else it is INVAL.
    local node
    node=$(slurmd -C | sed -n "1s/^NodeName=[^ ]*/NodeName=$NODE NodeAddr=127.0.0.1/p")
    [ -n "$node" ] || die "slurmd -C printed no node line"
    mkdir -p /etc/slurm
    cat >"$CONF.tmp" <<EOF
$MARK
# One-node cluster for tests; state, logs and munge socket under $DIR.
ClusterName=nstlocal
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$DIR/munge/munge.socket
MpiDefault=none
MailProg=/bin/true
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
# No cgroups in containers: track processes by parent pid, no CPU binding.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# Jobs that ask for no memory get this much per CPU (not the whole node), so they run side by side.
DefMemPerCPU=512
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
Waittime=0
# Finished jobs stay visible to squeue for 10 minutes: the plugin's squeue status query
# needs MinJobAge >= 3 x --slurm-init-seconds-before-status-checks.
MinJobAge=600
GresTypes=gpu
$node Gres=gpu:1
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
    mv "$CONF.tmp" "$CONF"
    printf '%s\nNodeName=%s Name=gpu File=/dev/null\n' "$MARK" "$NODE" >"$GRES"
}

# --- daemons ---------------------------------------------------------------------

start_munge() {
    local m="$DIR/munge"
    mkdir -p "$m"
    [ -s "$m/munge.key" ] || mungekey --create --keyfile="$m/munge.key" --force
    chown -R munge:munge "$m"
    chmod 0755 "$m" # munged wants the socket's folder searchable by all
    chmod 0400 "$m/munge.key"
    spawn munged runuser -u munge -- /usr/sbin/munged --socket="$m/munge.socket" \
        --key-file="$m/munge.key" --pid-file="$m/munged.pid" --log-file="$m/munged.log" \
        --seed-file="$m/munged.seed" || { cat "$DIR/log/munged.out" >&2; die "munged failed"; }
    wait_for 15 sh -c "munge -S '$m/munge.socket' -n | unmunge -S '$m/munge.socket'" ||
        { tail "$m/munged.log" "$DIR/log/munged.out" >&2 || true; die "munged did not start"; }
}

node_ready() { sinfo -h -n "$NODE" -o %T | grep -Eq '^(idle|mixed|allocated)$'; }

do_start() {
    [ "$(id -u)" = 0 ] || die "must run as root"
    mkdir -p "$DIR/log"
    install_packages
    do_stop 2>/dev/null # from a known state: 'start' twice restarts
    mkdir -p "$DIR/state" "$DIR/spool" "$DIR/log"
    write_config
    start_munge
    # -c: start with no saved jobs (a fresh cluster every time).
    spawn slurmctld /usr/sbin/slurmctld -c || die "slurmctld failed (see $DIR/log)"
    spawn slurmd /usr/sbin/slurmd || die "slurmd failed (see $DIR/log)"
    if ! wait_for 60 node_ready; then
        scontrol update NodeName="$NODE" State=RESUME 2>/dev/null || true
        wait_for 30 node_ready || {
            sinfo -R >&2 || true
            tail -20 "$DIR/log/slurmctld.log" "$DIR/log/slurmd.log" >&2 || true
            die "the node did not become idle"
        }
    fi
    timeout 60 srun -N1 -n1 -t 1 true || die "srun smoke test failed"
    say "ready: $(sinfo -h -o '%P %D %T %N %c CPUs %m MB %G')"
}

do_stop() {
    # Cancel jobs first, else their processes outlive slurmd.
    if [ -s "$DIR/slurmctld.pid" ] && alive "$(cat "$DIR/slurmctld.pid")"; then
        local ids
        ids=$(timeout 10 squeue -h -o %i 2>/dev/null || true)
        if [ -n "$ids" ]; then
            # shellcheck disable=SC2086
            timeout 10 scancel $ids 2>/dev/null || true
            wait_for 20 sh -c '[ -z "$(squeue -h -o %i)" ]' || true
        fi
    fi
    stop_pidfiles "$DIR/slurmd.pid:slurmd" "$DIR/slurmctld.pid:slurmctld"
    stop_pidfiles "$DIR/munge/munged.pid:munged"
    if ours "$CONF"; then rm -f "$CONF"; fi
    if ours "$GRES"; then rm -f "$GRES"; fi
    say "stopped"
}

do_status() {
    local name pidfile
    for name in munged slurmctld slurmd; do
        pidfile="$DIR/$name.pid"
        [ "$name" = munged ] && pidfile="$DIR/munge/munged.pid"
        if [ -s "$pidfile" ] && alive "$(cat "$pidfile")"; then
            echo "$name: running, pid $(cat "$pidfile")"
        else
            echo "$name: not running"
        fi
    done
    if ours "$CONF"; then
        sinfo -o "%P %a %D %T %N %c %m %G" || true
        squeue || true
    fi
}

case "${1:-}" in
start) do_start ;;
stop) do_stop ;;
status) do_status ;;
*)
    echo "usage: $0 start|stop|status   (state under \$NST_SLURM_DIR, default /var/tmp/nst-slurm)" >&2
    exit 2
    ;;
esac
