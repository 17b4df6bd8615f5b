#!/bin/sh
# The held-out sets docs/aocr.md reports the bundled model on, image for image, on any machine that ran
# `make install aocr-fonts` (and has ImageMagick for the ImageMagick words):
#
#   sh benchmarks/aocr_heldout_sets.sh OUT_DIR
#   .venv/bin/ovconvert aocr test OUT_DIR/heldout.tfrecords --model-dir pretrained --engine openvino --log-path ''
#
# The same --seed no longer draws the same images: synth has learned new kinds since, and the font list
# has grown (which also moves fonts into the held-out group). So each set is drawn by synth as it was at
# the commit that made it (taken from git history into a temporary directory) and shown only the font
# files it had then: those of the packages in that commit's Makefile, and the system's own fonts (the
# files no package of today's Makefile installs). The 200 held-out images in tests/data are the first
# 200 of heldout.tfrecords, and the script checks that they come out byte for byte. (The ImageMagick
# words come out pixel for pixel; their PNG files carry the time ImageMagick wrote them.)
#
#   heldout.tfrecords           2000 images, the 13 held-out families, five background kinds (69eab4f)
#   imagemagick.tfrecords       300 dictionary words drawn by ImageMagick, the same 13 families (69eab4f)
#   heldout-47.tfrecords        2000 images, all 47 families held out before Dec 5 (97d588c)
#   heldout-photo.tfrecords     1000 images on the 10 held-out wallpapers of then, the 47 families (97d588c)
#   heldout-photo14.tfrecords   1000 images on the 14 held-out wallpapers since the photographs of Dec 7
#                               (ukui-wallpapers, lomiri-wallpapers), the 62 held-out families of now (12b0c5e)
#   heldout-effects.tfrecords   1000 images, the 62 held-out families, every background kind, each word
#                               outlined, shadowed, underlined or struck through (2f96c00)
#   heldout-effects-none.tfrecords  the same 1000 words, fonts and backgrounds drawn without them (2f96c00)
#   heldout-google.tfrecords    2000 images, the 152 held-out Google Fonts families (a821915), where
#                               `make aocr-google-fonts` fetched them (AOCR_GOOGLE_FONTS, default
#                               OUT_DIR/../google-fonts; Fontsource's newest releases, so a later fetch
#                               may draw slightly other letters)
set -eu
mkdir -p "$1"
out=$(cd "$1" && pwd)
repo=$(cd "$(dirname "$0")/.." && pwd)
python=$repo/.venv/bin/python
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The Debian packages in AOCR_FONT_PACKAGES of the Makefile at commit $1 (the current one for "HEAD").
font_packages() {
  git -C "$repo" show "$1:Makefile" |
    awk '/^AOCR_FONT_PACKAGES :=/ { on = 1 } on { print; if (!/\\$/) on = 0 }' |
    tr ' \t\\' '\n\n\n' | grep '^fonts-' | sort -u
}

font_files() {
  for package in "$@"; do dpkg -L "$package"; done | grep -iE '\.(ttf|otf|pfb|ttc)$' | sort -u
}

# Synth's source and a font directory as they were at commit $1, under $tmp/$1.
checkout() {
  commit=$1
  mkdir -p "$tmp/$commit/src" "$tmp/$commit/fonts"
  git -C "$repo" archive "$commit" ovconvert | tar -x -C "$tmp/$commit/src"
  # shellcheck disable=SC2046
  font_files $(font_packages HEAD) > "$tmp/$commit/now"
  # shellcheck disable=SC2046
  font_files $(font_packages "$commit") > "$tmp/$commit/then"
  find /usr/share/fonts -type f | grep -iE '\.(ttf|otf|pfb|ttc)$' | sort -u > "$tmp/$commit/installed"
  # the system's own fonts (owned by no package of today's list) and the fonts of that commit's list;
  # kept in the same tree, so that synth finds them in the same order as it did then
  { comm -23 "$tmp/$commit/installed" "$tmp/$commit/now"; comm -12 "$tmp/$commit/installed" "$tmp/$commit/then"; } |
    sort -u | while read -r path; do
      mkdir -p "$tmp/$commit/fonts$(dirname "$path")"
      ln -s "$path" "$tmp/$commit/fonts$path"
    done
}

synth_at() {
  commit=$1
  shift
  # run from the old source's directory: python -m puts it ahead of the installed (editable) ovconvert
  (cd "$tmp/$commit/src" && "$python" -m ovconvert aocr synth "$@" \
    --fonts-dir "$tmp/$commit/fonts/usr/share/fonts" -j 2 --log-path '')
}

checkout 69eab4f
synth_at 69eab4f 2000 "$out/heldout.tfrecords" --held-out --max-prediction 24 --seed 9001 \
  --backgrounds plain,gradient,noise,texture,lines
if command -v convert > /dev/null; then
  synth_at 69eab4f 300 "$out/imagemagick.tfrecords" --held-out --renderer imagemagick --random-share 0 \
    --max-prediction 24 --seed 9002
else
  echo "ImageMagick words left out: no ImageMagick here (apt-get install imagemagick)" >&2
fi
checkout 97d588c
synth_at 97d588c 2000 "$out/heldout-47.tfrecords" --held-out --max-prediction 24 --seed 9002 \
  --backgrounds plain,gradient,noise,texture,lines
# the wallpapers of the packages AOCR_PHOTO_PACKAGES had then (those installed later, into
# /usr/share/backgrounds itself, would add to the held-out group and change the draw)
synth_at 97d588c 1000 "$out/heldout-photo.tfrecords" --held-out --backgrounds photo --max-prediction 24 \
  --seed 9003 --photos-dir /usr/share/backgrounds/gnome --photos-dir /usr/share/backgrounds/mate \
  --photos-dir /usr/share/images/desktop-base
checkout 12b0c5e
synth_at 12b0c5e 1000 "$out/heldout-photo14.tfrecords" --held-out --backgrounds photo --max-prediction 24 \
  --seed 9005
checkout 2f96c00
synth_at 2f96c00 1000 "$out/heldout-effects.tfrecords" --held-out --max-prediction 24 --seed 9006 \
  --text-effects 1
synth_at 2f96c00 1000 "$out/heldout-effects-none.tfrecords" --held-out --max-prediction 24 --seed 9006
google=${AOCR_GOOGLE_FONTS:-$out/../google-fonts}
if [ -f "$google/google-fonts.json" ]; then
  mkdir -p "$tmp/a821915/src"
  git -C "$repo" archive a821915 ovconvert | tar -x -C "$tmp/a821915/src"
  (cd "$tmp/a821915/src" && "$python" -m ovconvert aocr synth 2000 "$out/heldout-google.tfrecords" --held-out \
    --fonts-dir "$google" --max-prediction 24 --seed 9004 --backgrounds plain,gradient,noise,texture,lines \
    -j 2 --log-path '')
else
  echo "Google Fonts words left out: no $google/google-fonts.json (make aocr-google-fonts)" >&2
fi

"$python" - "$out/heldout.tfrecords" "$repo/tests/data/aocr-heldout-200.tfrecords" <<'EOF'
import sys

import tensorflow as tf

made, kept = ([record.numpy() for record in tf.data.TFRecordDataset(path).take(200)] for path in sys.argv[1:])
if made != kept:
    sys.exit(f"{sys.argv[1]}: its first 200 images differ from {sys.argv[2]}'s: the fonts installed here are "
             "not those the documented sets were drawn with (run make aocr-fonts)")
print(f"{sys.argv[1]}: the first 200 images are those of {sys.argv[2]}")
EOF
