#!/bin/sh
# A held-out set of word images drawn by TextRecognitionDataGenerator (trdg 1.8.0, PyPI): the generator
# aocr users most often make their data with, and one this project never trains with. Its own fonts
# (a dozen families), its English dictionary (1-20 letters, mostly lower case) and its four background
# kinds (Gaussian noise, plain, quasicrystal, its four photos), 32 and 64 pixels high, half of them
# skewed and blurred at random: 16 groups of COUNT words (2 heights × 4 kinds × straight or skewed),
# labels outside 0-9A-Za-z left out.
#
#   sh benchmarks/trdg_words.sh OUT.tfrecords [COUNT]      (COUNT per group, default 35: about 520 words)
#   TRDG_BACKGROUNDS="0 1" sh benchmarks/trdg_words.sh …   (only trdg's Gaussian noise and plain kinds)
#   TRDG_EFFECTS="-d 1 -do 0|-d 3 -do 2|-stw 1 -stf #7f7f7f|-tc #1010c0,#c01010" sh benchmarks/trdg_words.sh …
#       (groups drawn with other trdg options, '|' between groups, instead of straight and skewed-blurred:
#       these four are the sine waves, random distortion, strokes and colour that docs/aocr.md reports)
#   TRDG_BACKGROUNDS="0 1 3" TRDG_EFFECTS="-stw 2 -stf #000000 -tc #ffffff|-stw 3 -stf #000000 -tc #ffd800|-stw 2 -stf #ffffff -tc #000000" \
#     sh benchmarks/trdg_words.sh OUT.tfrecords 20
#       (outlined words: white and yellow captions edged in black, black words edged in white; the
#       trdg-outline set of docs/aocr.md, "Text effects")
#   .venv/bin/ovconvert aocr test OUT.tfrecords --model-dir pretrained --engine openvino --log-path ''
#
# trdg pins libraries older than ovconvert's (Pillow < 10 for FreeTypeFont.getsize, numpy < 2), so it
# gets a virtual environment of its own in AOCR_WORK (default ../aocr-work). trdg has no seed: each run
# draws other words, fonts and crops.
set -eu
out=$1
count=${2:-35}
work=${AOCR_WORK:-../aocr-work}
venv=$work/trdg-venv
bin=$(dirname "$0")/../.venv/bin
if [ ! -x "$venv/bin/trdg" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q trdg==1.8.0 "pillow<10" "numpy<2" "opencv-python<4.9"
fi
images=$(mktemp -d)
trap 'rm -rf "$images"' EXIT
group=0
default_ifs=$IFS
# One group per entry, '|' between them; the first, empty, draws with trdg's defaults.
effects=${TRDG_EFFECTS:-"|-k 3 -rk -bl 1 -rbl"}
set -f  # an effect's '#' colours and '*' stay as they are
for height in 32 64; do
  for background in ${TRDG_BACKGROUNDS:-0 1 2 3}; do
    IFS='|'
    for extra in $effects; do
      IFS=$default_ifs
      group=$((group + 1))
      # -na 2: files named by number, the true text in labels.txt (file names lose apostrophes)
      # shellcheck disable=SC2086
      "$venv/bin/trdg" -c "$count" -w 1 -f $height -b $background $extra -l en -t 1 -na 2 \
        --output_dir "$images/g$group" > /dev/null 2>&1
      # trdg now and then fails to draw an image (its photo too small for the text) but keeps the label
      sed -n "s#^\([^ ]*\) \([0-9A-Za-z]\{1,24\}\)\$#$images/g$group/\1 \2#p" "$images/g$group/labels.txt" |
        while read -r path label; do
          if [ -f "$path" ]; then echo "$path $label"; fi
        done >> "$images/annotations.txt"
      IFS='|'
    done
    IFS=$default_ifs
  done
done
"$bin/ovconvert" aocr dataset "$images/annotations.txt" "$out" --max-prediction 24 --log-path ''
