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
# Debian packages the userland needs besides Python: a C/C++ compiler (Home Assistant's
# assist_pipeline requirements pymicro-vad and pyspeex-noise build from source on Python
# 3.14), ffmpeg (tts and ffmpeg run the binary) and libturbojpeg (camera's PyTurboJPEG).
USERLAND_PACKAGES="python3.14 python3.14-venv python3.14-dev ca-certificates gcc g++ libc6-dev ffmpeg libturbojpeg0"

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

# Where extra venvs live (scripts/smoke's venvs for other Home Assistant versions): in the
# cache on the host route, inside the userland (which is in the cache) on the root route.
venv_home() {
  case "$(route)" in
    root) echo /opt/ha-venvs ;;
    *) echo "$CACHE_DIR/ha-venvs" ;;
  esac
}

# Run a command (python, hass, ...) from a venv, in the repository root.
run_in_venv() {
  local venv="$1"; shift
  case "$(route)" in
    host)
      cd "$REPO" && PATH="$venv/bin:$PATH" VIRTUAL_ENV="$venv" exec "$@" ;;
    root)
      exec unshare -m -- "$REPO/scripts/_in_rootfs.sh" "$ROOTFS" "$REPO" "$venv" "$@" ;;
    *)
      die "the project environment is missing: run scripts/setup first" ;;
  esac
}

# The project venv (as a path the route's commands see).
project_venv() {
  if [ "$(route)" = host ]; then echo "$HOST_VENV"; else echo "$ROOT_VENV"; fi
}

# Run a command from the project venv, in the repository root.
run_in_env() { run_in_venv "$(project_venv)" "$@"; }

# Link the integration into a Home Assistant config folder (scripts/develop, scripts/smoke).
link_integration() {
  mkdir -p "$1/custom_components"
  ln -sfn "$REPO/custom_components/resilient_gateway" "$1/custom_components/resilient_gateway"
}

# Install into a venv what Home Assistant would install when it starts on a config folder
# (scripts/ha_requirements.py), with Home Assistant's own constraints, so the first start
# neither downloads nor compiles. Packages pinned in requirements_test.txt are left as they
# are in the project venv (the tests prove those versions). Cached by a stamp file.
#   install_ha_requirements VENV CONFIG_DIR STAMP [keep-pins|skip-missing]
# skip-missing (scripts/smoke on a release): a pinned version the package index here does
# not have is named and left out instead of failing the whole install (Home Assistant's
# images ship every requirement; the index this machine reaches can lag a new release).
install_ha_requirements() {
  local venv="$1" config="$2" stamp="$3" mode="${4:-}" keep_pins="" reqs want
  [ "$mode" != keep-pins ] || keep_pins=yes
  reqs="$( (run_in_venv "$venv" python -m scripts.ha_requirements "$config") )" \
    || die "could not list Home Assistant's requirements for $config"
  if [ -n "$keep_pins" ]; then
    reqs="$(printf '%s\n' "$reqs" | grep -viE "^($(pinned_names))([^a-z0-9_.-]|$)" || true)"
  fi
  want="$(printf '%s\n' "$reqs" | sha256sum | cut -d' ' -f1)"
  [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ] || return 0
  echo "==> installing Home Assistant's requirements for $config ($(printf '%s\n' "$reqs" | wc -l) packages)"
  local list="$REPO/.scratch/ha-requirements.$$.txt"
  mkdir -p "$REPO/.scratch"
  printf '%s\n' "$reqs" >"$list"
  local constraints
  constraints="$(ha_constraints_file "$venv")"
  (run_in_venv "$venv" sh -c '
      filtered="$1.constraints"
      if [ -n "$2" ]; then grep -viE "^($2)==" "$3" >"$filtered"; else cp "$3" "$filtered"; fi
      python -m pip install -q --disable-pip-version-check -c "$filtered" -r "$1"
      rc=$?; rm -f "$filtered"; exit $rc' _ "$list" "$([ -n "$keep_pins" ] && pinned_names)" "$constraints") \
    || if [ "$mode" = skip-missing ]; then
      install_each_requirement "$venv" "$list" "$constraints" || { rm -f "$list"; die "installing Home Assistant's requirements failed"; }
    else
      rm -f "$list"; die "installing Home Assistant's requirements failed"
    fi
  rm -f "$list"
  echo "$want" >"$stamp"
}

# The package constraints of the Home Assistant installed in VENV.
ha_constraints_file() {
  run_in_venv "$1" python -c 'import homeassistant, os; print(os.path.join(os.path.dirname(homeassistant.__file__), "package_constraints.txt"))'
}

# One requirement at a time, with Home Assistant's constraints (CONSTRAINTS); those the
# package index does not have are named and skipped, any other failure fails.
install_each_requirement() {
  local venv="$1" list="$2" constraints="$3"
  (run_in_venv "$venv" sh -c '
      while read -r req; do
        [ -n "$req" ] || continue
        out="$(python -m pip install -q --disable-pip-version-check -c "$2" "$req" 2>&1)" && continue
        case "$out" in
          *"No matching distribution found"*) echo "==> not on the package index here, skipped: $req" ;;
          *) printf "%s\n" "$out" >&2; exit 1 ;;
        esac
      done <"$1"' _ "$list" "$constraints")
}

# Names of the packages requirements_test.txt pins, as an alternation for grep -E.
pinned_names() {
  sed -nE 's/^([A-Za-z0-9_.-]+)==.*/\1/p' "$REPO/requirements_test.txt" \
    | sed 's/[._-]/[._-]/g' | paste -sd'|'
}
