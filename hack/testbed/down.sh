#!/usr/bin/env bash
# Stops everything up.sh started (by recorded pid, never by name), removes the
# pods' sandboxes through CRI first so no shim or pause process lingers,
# unmounts what the kubelet and containerd mounted, and removes the network
# bits. Keeps .testbed/logs for a look afterwards.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
require_root "npm run testbed:down"
[ -d "$TB" ] || { log "no testbed at $TB"; exit 0; }

# pids_whose_cmdline_has STRING: processes started for our containerd (shims),
# found by the socket path they were given, which is unique to this testbed.
pids_whose_cmdline_has() {
  local p
  for p in /proc/[0-9]*; do
    [[ "$(tr '\0' ' ' 2>/dev/null < "$p/cmdline")" == *"$1"* ]] && echo "${p#/proc/}"
  done
  true
}

# kill_cgroup_tree DIR...: kills what is left in a kubelet's pod cgroups (all
# of it belongs to pods of ours) and removes the cgroups, deepest first. A
# killed process leaves its cgroup a moment later, so this tries a few times.
kill_cgroup_tree() {
  local procs pid d _
  for _ in $(seq 1 20); do
    for procs in $(find "$@" -name cgroup.procs 2>/dev/null); do
      while read -r pid; do kill -KILL "$pid" 2>/dev/null || true; done < "$procs"
    done
    for d in $(find "$@" -depth -type d 2>/dev/null); do rmdir "$d" 2>/dev/null || true; done
    [ -z "$(find "$@" -maxdepth 0 -type d 2>/dev/null)" ] && return 0
    sleep 0.25
  done
}

# The demo's operator and agents (hack/demo.sh), when it started them.
stop operator
for i in "${!NODES[@]}"; do node_vars "$i"; stop "agent@$NODE_NAME"; done
stop kube-proxy
for i in "${!NODES[@]}"; do
  node_vars "$i"
  # The kubelet would restart what we remove, so it goes first.
  stop "kubelet@$NODE_NAME"
  if is_running "$RUNTIME_COMPONENT"; then
    timeout 120 "$NODE_BIN" "$RCA_ROOT/hack/testbed/remove-sandboxes.ts" "unix://$RUNTIME_SOCK" >&2 \
      || log "could not remove every sandbox of $NODE_NAME through CRI; killing what is left"
  fi
  stop "cri-proxy@$NODE_NAME"
  stop "$RUNTIME_COMPONENT"
  # containerd's shims (runc's and runsc's) outlive containerd; conmon and
  # runsc's sandboxes carry the node's state directory on their command line.
  for pid in $(pids_whose_cmdline_has "-address $RUNTIME_SOCK") $(pids_whose_cmdline_has "$NODE_DIR/"); do
    kill -KILL "$pid" 2>/dev/null || true
  done
  kill_cgroup_tree /sys/fs/cgroup/*/"${CGROUP_ROOT#/}"
done
kill_cgroup_tree /sys/fs/cgroup/*/rcaudit
for name in kube-scheduler kube-controller-manager kube-apiserver etcd registry; do stop "$name"; done

# Deepest first: the kubelet mounts tmpfs volumes inside its own bind mount.
{ grep -F " $TB/" /proc/self/mountinfo || true; } | awk '{print $5}' | sort -r | while read -r m; do
  umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "could not unmount $m"
done
# kube-proxy's and the kubelet's iptables chains are all named KUBE-*; drop
# them and every rule that jumps to them, leaving the machine's own rules.
for save in iptables-save ip6tables-save; do
  restore=${save/-save/-restore}
  command -v "$save" >/dev/null || continue
  rules=$("$save")
  if [[ "$rules" == *KUBE-* ]]; then grep -v 'KUBE-' <<< "$rules" | "$restore" || log "could not remove KUBE-* rules with $restore"; fi
done
for i in "${!NODES[@]}"; do
  node_vars "$i"
  if ip link show "$BRIDGE" >/dev/null 2>&1; then ip link delete "$BRIDGE"; fi
done
if [ -f "$TB/ip_forward.orig" ]; then cat "$TB/ip_forward.orig" > /proc/sys/net/ipv4/ip_forward; fi

# rm -rf below must never walk into a mount that is still there.
! grep -qF " $TB/" /proc/self/mountinfo || die "mounts under $TB remain; not removing its state"
left=()
for n in "${COMPONENTS[@]}"; do if [ -f "$PIDS/$n.pid" ]; then left+=("$n"); fi; done
[ ${#left[@]} -eq 0 ] || die "still running: ${left[*]}"
# Everything we start (and containerd's shims) names a path under $TB on its
# command line: nothing may be left that does.
stray=$(pids_whose_cmdline_has "$TB/")
[ -z "$stray" ] || die "processes of the testbed are still running: $(for p in $stray; do printf '%s(%s) ' "$p" "$(cat "/proc/$p/comm" 2>/dev/null)"; done)"
left=$(find /sys/fs/cgroup/*/rcaudit -maxdepth 0 2>/dev/null || true)
[ -z "$left" ] || die "cgroups of the testbed are left: $(echo $left)"
# The logs, and the test runner's results (npm test takes the testbed down
# and up again between tiers, and counts every tier's at the end).
find "$TB" -mindepth 1 -maxdepth 1 ! -name logs ! -name test-results -exec rm -rf {} +
log "testbed down; logs kept in $LOGS"
