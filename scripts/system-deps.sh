#!/usr/bin/env bash
# Install the system packages Latent Lab uses, where this user can (root or password-less sudo):
#   fluidsynth + fluid-soundfont-gm  render MIDI and make training audio (FluidR3_GM)
#   ffmpeg                           read mp3 / m4a uploads
#   espeak-ng, flite, festival       text-to-speech voices for the speech part of the vocoder corpus
#     + festvox-kallpc16k, festvox-kdlpc16k, festvox-us-slt-hts   (`latentlab data vocode`)
#   chromium                         the browser tests (only with --test)
# Without them the app still runs: playback falls back to a built-in synth, and the commands that
# need them say what to install.
set -u
packages=(fluidsynth fluid-soundfont-gm ffmpeg espeak-ng flite festival festvox-kallpc16k festvox-kdlpc16k
          festvox-us-slt-hts)
[ "${1:-}" = "--test" ] && packages+=(chromium)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "note: not a Debian/Ubuntu system; please install: ${missing[*]}" >&2
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then sudo=""
elif sudo -n true 2>/dev/null; then sudo="sudo -n"
else
  echo "note: cannot install system packages without root; run: sudo apt-get install ${missing[*]}" >&2
  exit 0
fi
echo "installing system packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >/dev/null || true
if ! $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
  # one package this release lacks (a festival voice, say) must not keep the others out: one at a time
  failed=()
  for p in "${missing[@]}"; do
    $sudo apt-get install -y -qq --no-install-recommends "$p" >/dev/null 2>&1 || failed+=("$p")
  done
  [ ${#failed[@]} -gt 0 ] && echo "note: apt-get could not install ${failed[*]}; the features that need them will say so" >&2
fi
exit 0
