# shellcheck shell=bash
# Where the project's Python lives, shared by every script: one place decides the route.
#
# Route "host": a python3.14 (>= 3.14.2) on PATH, with a venv in the cache.
# Route "root": this Debian 12 machine has none and cannot download one, so scripts/setup
# bootstraps a Debian sid userland with python3.14 into the cache and every command runs
# inside it (a private mount namespace binds the repository at the same path).
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE_DIR="${RG_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/resilient-gateway}"
HOST_VENV="$CACHE_DIR/venv"
ROOTFS="$CACHE_DIR/rootfs"
ROOT_VENV=/opt/venv  # inside ROOTFS

die() { echo "error: $*" >&2; exit 1; }

host_python314() {
  # Prints a usable python3.14 on PATH, or nothing.
  local py
  py="$(command -v python3.14 || true)"
  [ -n "$py" ] || return 0
  "$py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 14, 2) else 1)' 2>/dev/null && echo "$py"
  return 0
}

route() {
  if [ -x "$HOST_VENV/bin/python" ]; then echo host
  # (the userland's venv python is an absolute symlink that only resolves inside it)
  elif [ -f "$ROOTFS$ROOT_VENV/pyvenv.cfg" ]; then echo root
  else echo none
  fi
}

# Run a command (python, hass, ...) from the project venv, in the repository root.
run_in_env() {
  case "$(route)" in
    host)
      cd "$REPO" && PATH="$HOST_VENV/bin:$PATH" exec "$@" ;;
    root)
      exec unshare -m -- "$REPO/scripts/_in_rootfs.sh" "$ROOTFS" "$REPO" "$ROOT_VENV" "$@" ;;
    *)
      die "the project environment is missing: run scripts/setup first" ;;
  esac
}
