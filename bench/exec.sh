#!/usr/bin/env bash
# One-shot agent runs from the command line: halo vs Pacemaker's crm_resource (both
# run ocf:heartbeat:Dummy monitor through their executor library, from a fresh
# process each time), and the agent run directly by the shell as the floor.
# Needs: resource-agents, pacemaker-cli-utils (crm_resource), a release build of halo
# (cargo build --release -p halo-cli). Usage: bench/exec.sh [N]   (default 200)
# The library-level figures (spawn+reap, monitors/s) are `cargo bench -p halo-exec`.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-200}
HALO=${HALO:-${CARGO_TARGET_DIR:-target}/release/halo}
command -v crm_resource >/dev/null || { echo "crm_resource not installed (apt-get install pacemaker-cli-utils)"; exit 1; }
[ -x "$HALO" ] || { echo "no $HALO: cargo build --release -p halo-cli"; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
export HALO_RSCTMP=$tmp/rsctmp HALO_STATE_DIR=$tmp/state HA_RSCTMP=$tmp/rsctmp
mkdir -p "$HA_RSCTMP"
now() { date +%s%N; }
t_halo=0; t_pcmk=0; t_sh=0
for ((i = 0; i < N; i++)); do
  a=$(now)
  "$HALO" agent run ocf:heartbeat:Dummy monitor --id bench --timeout 20s >/dev/null || true
  b=$(now)
  crm_resource --force-check --class ocf --provider heartbeat --agent Dummy >/dev/null 2>&1 || true
  c=$(now)
  env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin OCF_ROOT=/usr/lib/ocf HA_RSCTMP="$HA_RSCTMP" \
    OCF_RESOURCE_INSTANCE=bench OCF_RESKEY_CRM_meta_interval=0 \
    /usr/lib/ocf/resource.d/heartbeat/Dummy monitor >/dev/null 2>&1 || true
  d=$(now)
  t_halo=$((t_halo + b - a)); t_pcmk=$((t_pcmk + c - b)); t_sh=$((t_sh + d - c))
done
awk -v n="$N" -v h="$t_halo" -v p="$t_pcmk" -v s="$t_sh" 'BEGIN {
  printf "one-shot Dummy monitor from the command line, %d runs each, taking turns\n", n
  printf "  halo agent run         %7.2f ms/run\n", h / n / 1e6
  printf "  crm_resource --force-check %7.2f ms/run\n", p / n / 1e6
  printf "  agent run by the shell %7.2f ms/run (floor)\n", s / n / 1e6
  printf "  ratio halo / crm_resource: %.2f\n", h / p
}'
