#!/usr/bin/env bash
# One-shot set-up for a fresh machine: system packages (FluidSynth, SoundFonts, drum data), then a
# virtualenv at .venv with the whole product installed, the studio (`melodex serve`) included.
# `--dev` adds the test/lint/data/evaluation tools; `--extras=a,b` adds chosen extras.
# Test-only system packages (the headless browser) are installed by scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

extras="server"  # the studio is part of the product, not an option
for arg in "$@"; do
  case "$arg" in
    --dev) extras="$extras,dev,eval,reference" ;;
    --extras=*) extras="$extras,${arg#--extras=}" ;;
    *) echo "setup.sh: unknown option $arg (use --dev or --extras=a,b)" >&2; exit 2 ;;
  esac
done

# What Melodex needs to run: FluidSynth, the General MIDI SoundFonts, the Hydrogen drum kits, libsndfile.
system="libfluidsynth3 fluid-soundfont-gm timgm6mb-soundfont musescore-general-soundfont-small hydrogen-data libsndfile1"
# What only some extras read (docs/DATASET.md): the real multi-track songs the evaluation compares with
# (freedoom, openttd-openmsx; 57 MB) and the LMMS drum patterns `melodex data build` converts (lmms-common; 19 MB).
case ",$extras," in *,eval,*) system="$system freedoom openttd-openmsx" ;; esac
case ",$extras," in *,data,*|*,dev,*) system="$system lmms-common" ;; esac
# shellcheck disable=SC2086  # one word per package
bash scripts/install_system_packages.sh $system

if [ ! -x .venv/bin/python ]; then
  python3.11 -m venv .venv 2>/dev/null || python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
# torch first and pinned: anything unpinned pulls a multi-GB CUDA build.
.venv/bin/python -m pip install -q torch==2.13.0
.venv/bin/python -m pip install -q -e ".[$extras]"
# basic-pitch (renderer evaluation): without its dependencies, which would pull TensorFlow.
case ",$extras," in *,eval,*|*,reference,*) .venv/bin/python -m pip install -q --no-deps "basic-pitch>=0.4" ;; esac
echo "setup: ready (.venv/bin/melodex)"
