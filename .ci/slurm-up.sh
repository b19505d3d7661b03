#!/usr/bin/env bash
# A one-node Slurm cluster on this host, for the Slurm executor's tests (tests/test_slurm.py) and CI.
# Installs nothing: it needs Debian's slurm-wlm and munge (apt-get install -y slurm-wlm munge) and
# root (slurmd runs jobs as their user). Everything lives in one folder ($STITCHTEST_SLURM_DIR,
# default /tmp/stitchtest-slurm): its own munge key and socket, its own slurm.conf on its own ports,
# so the host's /etc/slurm and /etc/munge are not touched. Idempotent: a cluster already up is reused.
# Prints `export SLURM_CONF=...` on its last line; `.ci/slurm-up.sh --down` stops it.
# The node is this host with 2 CPUs and one partition, `debug`; no accounting (no slurmdbd): the
# executor reads job states from squeue and submitit's result files, not from sacct.
set -euo pipefail
dir="${STITCHTEST_SLURM_DIR:-/tmp/stitchtest-slurm}"
conf="$dir/slurm.conf"
say() { echo "slurm-up: $*" >&2; }
stop() {
  for p in slurmd slurmctld munged; do
    if [ -s "$dir/$p.pid" ]; then kill "$(cat "$dir/$p.pid")" 2>/dev/null || true; rm -f "$dir/$p.pid"; fi
  done
}
if [ "${1:-}" = "--down" ]; then stop; say "stopped"; exit 0; fi
[ "$(id -u)" = 0 ] || { say "SKIP: not root (slurmd must run as root)"; exit 3; }
for b in munged slurmctld slurmd sbatch squeue; do
  command -v "$b" >/dev/null || [ -x "/usr/sbin/$b" ] || { say "SKIP: no $b (apt-get install -y slurm-wlm munge)"; exit 3; }
done
export PATH="/usr/sbin:$PATH" SLURM_CONF="$conf"
if [ -s "$dir/slurmctld.pid" ] && kill -0 "$(cat "$dir/slurmctld.pid")" 2>/dev/null \
   && sinfo -h -o %T 2>/dev/null | grep -Eq '^(idle|mixed|allocated)'; then
  say "already up ($dir)"; echo "export SLURM_CONF=$conf"; exit 0
fi
stop
mkdir -p "$dir/state" "$dir/spool" "$dir/munge"
chmod 700 "$dir/munge"
host="$(hostname -s)"
[ -s "$dir/munge/munge.key" ] || { dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none; chmod 400 "$dir/munge/munge.key"; }
munged --force --socket="$dir/munge/munge.socket" --key-file="$dir/munge/munge.key" \
  --pid-file="$dir/munged.pid" --log-file="$dir/munged.log" --seed-file="$dir/munge/munge.seed"
cat > "$conf" <<CONF
ClusterName=stitchtest
SlurmctldHost=$host
SlurmctldPort=${STITCHTEST_SLURM_PORT:-16817}
SlurmdPort=$(( ${STITCHTEST_SLURM_PORT:-16817} + 1 ))
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.socket
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
ReturnToService=2
MinJobAge=600
MpiDefault=none
NodeName=$host CPUs=2 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
slurmctld -i
slurmd
for _ in $(seq 60); do
  if sinfo -h -o %T 2>/dev/null | grep -Eq '^(idle|mixed|allocated)'; then
    say "up: node $host, 2 CPUs, partition debug ($dir)"; echo "export SLURM_CONF=$conf"; exit 0
  fi
  sleep 0.5
done
say "FAILED: the node did not come up; see $dir/slurmctld.log and $dir/slurmd.log"; sinfo >&2 || true
exit 1
