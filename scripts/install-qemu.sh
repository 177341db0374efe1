#!/usr/bin/env bash
# Installs the real QEMUs the tests and the tour talk to. Idempotent: a second run does nothing.
#   - QEMU 10.0 (qemu-system-x86_64 on PATH) from Debian bookworm-backports, with its
#     qemu-storage-daemon, qemu-img (qemu-utils) and the guest agent qemu-ga
#     (qemu-guest-agent, run on the host by the agent tests: no VM needed);
#   - QEMU 7.2 unpacked into target/qemu-7.2 (bookworm's own packages, not installed system-wide,
#     so both releases live side by side). Run it with QMP_QEMU72_DIR to choose the folder.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
qemu72_dir=${QMP_QEMU72_DIR:-$root/target/qemu-7.2}
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)

have_qemu10() {
  command -v qemu-system-x86_64 >/dev/null 2>&1 &&
    qemu-system-x86_64 --version | grep -q 'version 10\.'
}

apt_updated=0
apt_update_once() {
  if [ "$apt_updated" -eq 0 ]; then
    "${sudo_cmd[@]}" apt-get update -q >/dev/null
    apt_updated=1
  fi
}

if ! have_qemu10; then
  backports=/etc/apt/sources.list.d/bookworm-backports.sources
  if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    # Same mirror and keyring as the distribution's own entry.
    uri=$(awk '/^URIs:/ && /debian$/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    uri=${uri:-http://deb.debian.org/debian}
    "${sudo_cmd[@]}" tee "$backports" >/dev/null <<SRC
Types: deb
URIs: $uri
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  fi
  apt_update_once
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends \
    -t bookworm-backports qemu-system-x86 >/dev/null
fi
qemu-system-x86_64 --version | head -n 1

# tmux: the shell's tests type into `qmp shell` through a pseudo-terminal it provides.
if ! command -v tmux >/dev/null 2>&1; then
  apt_update_once
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends tmux >/dev/null
fi
tmux -V

# The guest agent in /usr/sbin (not always on PATH), and qemu-img.
qemu_ga=/usr/sbin/qemu-ga
have_tools10() {
  [ -x "$qemu_ga" ] && "$qemu_ga" --version | grep -q 'Agent 10\.' &&
    command -v qemu-img >/dev/null 2>&1 && qemu-img --version | grep -q 'version 10\.'
}
if ! have_tools10; then
  apt_update_once
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends \
    -t bookworm-backports qemu-guest-agent qemu-utils >/dev/null
fi
"$qemu_ga" --version | head -n 1
qemu-img --version | head -n 1
command -v qemu-storage-daemon >/dev/null || { echo "qemu-storage-daemon missing (qemu-system-common)" >&2; exit 1; }

if [ ! -x "$qemu72_dir/usr/bin/qemu-system-x86_64" ]; then
  apt_update_once
  version=$(apt-cache madison qemu-system-x86 | awk -F'|' '$2 ~ /7\.2/ {gsub(/ /, "", $2); print $2; exit}')
  [ -n "$version" ] || { echo "no QEMU 7.2 package found by apt-cache" >&2; exit 1; }
  work=$(mktemp -d)
  # apt downloads as the unprivileged _apt user when it can write there.
  chown _apt "$work" 2>/dev/null || chmod 777 "$work"
  (cd "$work" && apt-get download -q "qemu-system-x86=$version" "qemu-system-common=$version" >/dev/null)
  mkdir -p "$qemu72_dir"
  for deb in "$work"/*.deb; do dpkg -x "$deb" "$qemu72_dir"; done
  rm -rf "$work"
fi
QEMU_MODULE_DIR="$qemu72_dir/usr/lib/x86_64-linux-gnu/qemu" \
  "$qemu72_dir/usr/bin/qemu-system-x86_64" --version | head -n 1
