#!/usr/bin/env bash
# One-shot set-up for a fresh machine: system packages (FluidSynth, SoundFonts, drum data),
# then a virtualenv at .venv with Melodex installed. `--dev` adds test/lint/data/evaluation tools.
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
for arg in "$@"; do
  case "$arg" in
    --dev) extras="dev,eval,reference" ;;
    --extras=*) extras="${arg#--extras=}" ;;
    *) echo "setup.sh: unknown option $arg (use --dev or --extras=a,b)" >&2; exit 2 ;;
  esac
done

apt_pkgs=(libfluidsynth3 fluid-soundfont-gm timgm6mb-soundfont musescore-general-soundfont-small hydrogen-data lmms-common libsndfile1
          chromium chromium-driver)  # headless browser for the studio test
missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  echo "setup: installing system packages: ${missing[*]}"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  python3.11 -m venv .venv 2>/dev/null || python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
# torch first and pinned: anything unpinned pulls a multi-GB CUDA build.
.venv/bin/python -m pip install -q torch==2.13.0
spec="."
[ -n "$extras" ] && spec=".[$extras]"
.venv/bin/python -m pip install -q -e "$spec"
# basic-pitch (renderer evaluation): without its dependencies, which would pull TensorFlow.
case ",$extras," in *,eval,*|*,reference,*) .venv/bin/python -m pip install -q --no-deps "basic-pitch>=0.4" ;; esac
echo "setup: ready (.venv/bin/melodex)"
