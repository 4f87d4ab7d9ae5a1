#!/usr/bin/env bash
# A single-node SLURM on this machine (Debian's slurm-wlm, loopback only), then the scoring job
# array of packaging/slurm_score.py through it, checked against an unsharded run.
#
# usage (as root, on a throw-away machine or container): packaging/slurm_loopback.sh [WORKDIR]
# It writes /etc/slurm/slurm.conf and a munge key if none exist, starts munged, slurmctld and
# slurmd, and stops the two SLURM daemons it started at the end.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-$ROOT/.venv/bin/python}
WORK=${1:-$(mktemp -d /tmp/gv-slurm.XXXXXX)}
mkdir -p "$WORK"
command -v slurmctld >/dev/null || apt-get install -y slurm-wlm munge
HOST=$(hostname -s)
CPUS=$(nproc)
MEM=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 / 2 ))
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/munge
if [ ! -f /etc/slurm/slurm.conf ]; then
  cat > /etc/slurm/slurm.conf <<CONF
ClusterName=loopback
SlurmctldHost=$HOST(127.0.0.1)
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SlurmUser=root
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
CONF
fi
[ -f /etc/munge/munge.key ] || { mkdir -p /etc/munge; dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null; }
chown -R munge:munge /etc/munge /run/munge 2>/dev/null || true
chmod 400 /etc/munge/munge.key
pgrep -x munged >/dev/null || runuser -u munge -- munged --force
STARTED=""
wait_pid() { for _ in $(seq 30); do [ -s "$1" ] && { cat "$1"; return; }; sleep 1; done; echo "no $1" >&2; exit 1; }
if ! pgrep -x slurmctld >/dev/null; then slurmctld -c; STARTED="$(wait_pid /run/slurmctld.pid)"; fi
if ! pgrep -x slurmd >/dev/null; then slurmd; STARTED="$STARTED $(wait_pid /run/slurmd.pid)"; fi
trap '[ -n "$STARTED" ] && kill $STARTED 2>/dev/null || true' EXIT
for _ in $(seq 30); do sinfo -h -o %T 2>/dev/null | grep -q idle && break; sleep 1; done
sinfo

# a small simulated set, scored in 4 array tasks and merged, against one unsharded run
"$PY" - "$WORK" "$ROOT/../shared/data/maps/betagal_relion_tutorial.mrc" <<'PY'
import sys
from pathlib import Path
import mrcfile, numpy as np, pandas as pd, torch
from gan_viewer.core.ctf_params import CtfParams
from gan_viewer.io.star import table_from_dataframe, write_star
from gan_viewer.sim.ctf import apply_ctf
from gan_viewer.sim.project import Projector
from gan_viewer.sim.reference import map_at
from gan_viewer.sim.scoring import random_eulers
work = Path(sys.argv[1]); rng = np.random.default_rng(0); n, box, apix = 400, 64, 5.5
vol, apix = map_at(sys.argv[2], apix, box)
e, o, d = random_eulers(rng, n), rng.uniform(-2, 2, (n, 2)), rng.uniform(8000, 20000, n)
clean = apply_ctf(torch.from_numpy(Projector(vol).project(e, o)), CtfParams.uniform(n, d), apix).numpy()
img = clean / np.sqrt(clean.var(axis=(1, 2), keepdims=True) / 0.01) + rng.standard_normal(clean.shape)
with mrcfile.new(work / "parts.mrcs", img.astype(np.float32), overwrite=True) as f: f.voxel_size = apix
with mrcfile.new(work / "ref.mrc", vol.astype(np.float32), overwrite=True) as f: f.voxel_size = apix
p = pd.DataFrame({"rlnImageName": [f"{i+1}@parts.mrcs" for i in range(n)], "rlnAngleRot": e[:, 0], "rlnAngleTilt": e[:, 1],
                  "rlnAnglePsi": e[:, 2], "rlnOriginXAngst": o[:, 0] * apix, "rlnOriginYAngst": o[:, 1] * apix,
                  "rlnDefocusU": d, "rlnDefocusV": d, "rlnOpticsGroup": 1})
opt = pd.DataFrame({"rlnOpticsGroup": [1], "rlnOpticsGroupName": ["g1"], "rlnImagePixelSize": [apix], "rlnImageSize": [box],
                    "rlnVoltage": [300.0], "rlnSphericalAberration": [2.7], "rlnAmplitudeContrast": [0.1], "rlnImageDimensionality": [2]})
write_star(table_from_dataframe(p, opt), work / "particles.star", overwrite=True)
PY
cd "$WORK"
START=$(date +%s)
"$PY" "$ROOT/packaging/slurm_score.py" particles.star --map ref.mrc --out cluster.star --shards 4 --cpus 1 \
    --minutes 20 --work jobs --partition debug --force
echo "job array + merge: $(( $(date +%s) - START )) s"
sacct -n -X -o JobID,JobName,State,Elapsed 2>/dev/null | tail -8 || squeue
"$ROOT/.venv/bin/gan-viewer" score particles.star --map ref.mrc --out whole.star --force
"$PY" - <<'PY'
import numpy as np
from gan_viewer.io.star import read_star
a, b = read_star("whole.star").particles, read_star("cluster.star").particles
assert list(a.columns) == list(b.columns) and len(a) == len(b)
print("cluster == whole:", bool(np.allclose(a["gvScore"], b["gvScore"], atol=1e-5)), len(b), "particles")
PY
ls jobs/logs | head
