#!/bin/sh
# Runs inside a private mount namespace (see scripts/_env.sh): binds the repository and the
# kernel file systems into the Python 3.14 userland, then runs the command there.
set -e
rootfs="$1"; repo="$2"; venv="$3"; shift 3
mkdir -p "$rootfs$repo"
mount --bind "$repo" "$rootfs$repo"
mount --rbind /dev "$rootfs/dev"
mount --rbind /proc "$rootfs/proc"
mount --rbind /sys "$rootfs/sys"
cp /etc/resolv.conf "$rootfs/etc/resolv.conf" 2>/dev/null || true
# Host pip settings that point at host-only folders mean nothing in the userland.
unset PIP_FIND_LINKS
exec chroot "$rootfs" /usr/bin/env \
  PATH="$venv/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin" HOME=/root LANG=C.UTF-8 \
  PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
  /bin/sh -c 'cd "$0" && exec "$@"' "$repo" "$@"
