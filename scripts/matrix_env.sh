#!/usr/bin/env bash
# Create or reuse the virtual environment with the oldest supported stack, install this checkout
# into it, and print the environment's path on stdout. Progress goes to stderr.
#
#   venv="$(scripts/matrix_env.sh)" && "$venv/bin/python" -m pytest -q
#
# The environment lives outside the repository so that every clone on a machine shares it:
# ${TSFEED_OLDEST_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/tsfeed/venv-oldest}. It is rebuilt from
# requirements/oldest.txt when that file or the Python version changes, and reused otherwise.
# PYTHON picks the interpreter that builds it (default python3), which must be Python 3.10 or
# 3.11. A first build downloads about 700 MB of wheels (tensorflow alone is 590 MB), fills about
# 2.3 GB, and took 56 s on a 2-core machine with the wheels already in pip's cache.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
requirements="$repo_root/requirements/oldest.txt"
venv="${TSFEED_OLDEST_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/tsfeed/venv-oldest}"
python="${PYTHON:-python3}"

log() { echo "matrix_env: $*" >&2; }

if ! python_version="$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"; then
    log "cannot run PYTHON=$python. Set PYTHON to a Python 3.10 or 3.11 interpreter."
    exit 1
fi
case "$python_version" in
    3.10 | 3.11) ;;
    *)
        log "$python is Python $python_version, but requirements/oldest.txt is pinned for" \
            "Python 3.10 or 3.11. Set PYTHON to one of those interpreters."
        exit 1
        ;;
esac

# The stamps record what the environment was built from: the requirements and the Python
# version, and separately the checkout and pyproject.toml that the editable install points to.
requirements_stamp="$venv/.tsfeed-requirements"
package_stamp="$venv/.tsfeed-package"
expected_requirements="$(cat "$requirements" <(echo "python $python_version") | sha256sum | cut -d' ' -f1)"
expected_package="$repo_root $(sha256sum "$repo_root/pyproject.toml" | cut -d' ' -f1)"

# Builds from two checkouts at once would write to the same directory, so they take turns.
mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
flock 9

if [[ -x "$venv/bin/python" ]] && "$venv/bin/python" -c '' 2>/dev/null &&
    [[ "$(cat "$requirements_stamp" 2>/dev/null)" == "$expected_requirements" ]]; then
    log "reusing $venv"
else
    log "building $venv with Python $python_version from requirements/oldest.txt"
    start=$SECONDS
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --requirement "$requirements" >&2
    # Written last, so an interrupted build is redone on the next run.
    echo "$expected_requirements" >"$requirements_stamp"
    log "built in $((SECONDS - start)) s, $(du -sh "$venv" | cut -f1)"
fi

if [[ "$(cat "$package_stamp" 2>/dev/null)" != "$expected_package" ]]; then
    log "installing tsfeed from $repo_root (editable, without dependencies)"
    "$venv/bin/python" -m pip install --quiet --no-deps --editable "$repo_root" >&2
    echo "$expected_package" >"$package_stamp"
fi

echo "$venv"
