# The two Quick-start commands: `make demo` and `make test`. Each creates the virtual environment
# (.venv) on first use and reinstalls when setup.cfg changes, so a fresh clone needs nothing else.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

.PHONY: install demo test test-avx2 test-slow
install: $(STAMP)

demo: $(STAMP)
	$(BIN)/ovconvert run recipes/aocr.yaml -o runs/demo

# Two pytest-xdist workers: most of a test's time is single-threaded Python (mo's graph passes,
# imports, freezing), so two at a time on a 2-core machine keep both cores busy. TEST_JOBS=0 runs
# the suite in one process.
TEST_JOBS ?= 2
test: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_JOBS) --durations=15

# The same suite as an AVX2-only CPU sees it, on a CPU with AVX-512/AMX: oneDNN, which OpenVINO's
# CPU plugin and TensorFlow both build on, caps its kernels at AVX2, so OpenVINO runs f32 by default
# with AVX2's kernels (its int8 ones included). .ci/run runs this on bf16 CPUs, so a change that only
# breaks the AVX2 side is caught on either kind of CI machine (docs/ci.md).
test-avx2: $(STAMP)
	ONEDNN_MAX_CPU_ISA=AVX2 $(MAKE) test

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow

# Training the bundled attention-OCR model (docs/aocr.md, "Training the bundled model"): hours on a
# 2-core CPU, so it runs in the background with its log in a file, and resumes where it stopped.
# Data and checkpoints live in AOCR_WORK, outside the clone; `make aocr-train` resumes from
# AOCR_WORK/model when it has a checkpoint, else starts from the bundled model's weights (which are the
# newest milestone: they are overwritten in place, docs/aocr.md).
AOCR_WORK ?= ../aocr-work
AOCR_SHARDS ?= 020 021 022 023 024
# Shards drawn in Google Fonts families only (make aocr-google-fonts), beside those in Debian's.
AOCR_GOOGLE_SHARDS ?= 070 071 072 073
# The training background kinds, as the bundled model's last stages drew them (docs/aocr.md): one image in
# seven on a photo, two on a texture (walls of blocks among them), two on noise (periodic screens among
# them).
AOCR_BACKGROUNDS ?= plain,gradient,noise,noise,texture,texture,photo
# Share of words drawn outlined, shadowed, underlined or struck through (synth --text-effects; docs/aocr.md,
# "Text effects"), as the last stage's fresh shards were.
AOCR_TEXT_EFFECTS ?= 0.5
AOCR_START ?= pretrained
# The CNN's width: 0.25, for speed (docs/aocr.md, "A narrower CNN"): the bundled model's. It was cut from
# a 0.5 model (a smaller scale started from a wider model keeps its strongest filters: aocr/narrow.py).
AOCR_CNN_SCALE ?= 0.25
# The encoder's, attention's and decoder's units; a value above the starting model's grows it so that it
# reads as before (aocr/widen.py).
AOCR_HIDDEN ?= 128
AOCR_MODEL_FLAGS := --max-width 640 --max-height 64 --max-prediction 24 --cnn-scale $(AOCR_CNN_SCALE) \
	--attn-num-hidden $(AOCR_HIDDEN)
# Adam's learning rate; an explicit one wins over the checkpoint's on resume. Lower it when the held-out
# accuracy stops moving (the bundled model's history: 5e-4, 2e-4, 1e-4; then with more fonts 2e-4, 1e-4,
# 5e-5; then with photos 1e-4, 5e-5; docs/aocr.md).
AOCR_LR ?= 0.00005
# Checkpoints kept (each 200 steps, 12 MB with Adam's state): enough for `aocr average` over the stage's
# last hour (docs/aocr.md, "Averaging the last checkpoints").
AOCR_KEEP ?= 40
# Debian's word list and font families (serif, sans, mono, condensed, italic, bold, display, hand):
# the synthetic data's variety comes from these (fonts.py keeps one family in five out of training).
AOCR_FONT_PACKAGES := wamerican wbritish fonts-liberation fonts-freefont-ttf fonts-urw-base35 \
	fonts-crosextra-carlito fonts-crosextra-caladea fonts-roboto fonts-open-sans fonts-lato fonts-cantarell \
	fonts-linuxlibertine fonts-inconsolata fonts-hack fonts-comic-neue fonts-noto-mono fonts-ebgaramond \
	fonts-go fonts-dejavu-extra fonts-sil-gentium fonts-sil-charis fonts-sil-andika fonts-firacode \
	fonts-jetbrains-mono fonts-lobster fonts-league-spartan fonts-quicksand fonts-adf-accanthis \
	fonts-adf-baskervald fonts-adf-gillius fonts-adf-universalis fonts-oldstandard fonts-junicode \
	fonts-averia-gwf fonts-cabin fonts-fantasque-sans fonts-paratype fonts-courier-prime \
	fonts-anonymous-pro fonts-agave fonts-yanone-kaffeesatz fonts-dkg-handwriting fonts-humor-sans \
	fonts-play fonts-sixtyfour fonts-staypuft fonts-vollkorn fonts-mononoki fonts-tuffy fonts-radisnoir \
	fonts-blankenburg fonts-oflb-euterpe \
	fonts-adf-berenis fonts-adf-ikarius fonts-adf-irianis fonts-adf-libris fonts-adf-oldania fonts-adf-romande \
	fonts-adf-solothurn fonts-adf-switzera fonts-adf-tribun fonts-adf-verana fonts-allerta fonts-apropal \
	fonts-arapey fonts-b612 fonts-beteckna fonts-breip fonts-bwht fonts-cabinsketch fonts-cardo \
	fonts-century-catalogue fonts-clear-sans fonts-cmu fonts-comfortaa fonts-compagnon fonts-dancingscript \
	fonts-dosis fonts-dustin fonts-ecolier-court fonts-engadget fonts-eurofurence fonts-fanwood \
	fonts-femkeklaver fonts-gnutypewriter fonts-goudybookletter fonts-inter fonts-isabella fonts-junction \
	fonts-jura fonts-karla fonts-karmilla fonts-kaushanscript fonts-kristi fonts-lindenhill fonts-league-mono \
	fonts-leckerli-one fonts-levien-museum fonts-lobstertwo fonts-manrope fonts-millimetre fonts-monofur \
	fonts-monoid fonts-mplus fonts-national-park fonts-ocr-a fonts-ocr-b fonts-okolaks fonts-opendin \
	fonts-opendyslexic fonts-osifont fonts-prociono fonts-quattrocento fonts-roboto-slab fonts-rufscript \
	fonts-routed-gothic fonts-roadgeek fonts-3270 fonts-hermit fonts-oxygen fonts-sora fonts-summersby \
	fonts-tiresias fonts-tomsontalks fonts-yrsa-rasa fonts-solide-mirage fonts-sjfonts fonts-klaudia-berenika \
	fonts-essays1743 \
	fonts-bajaderka fonts-bebas-neue fonts-cherrybomb fonts-dotgothic16 fonts-elstob fonts-f500 fonts-fantasma \
	fonts-gamaliel fonts-georgewilliams fonts-gfs-didot fonts-gotico-antiqua fonts-havana fonts-kiloji \
	fonts-klee fonts-le-murmure fonts-lemonada fonts-adf-mekanus fonts-mph-2b-damase fonts-reggae \
	fonts-rocknroll fonts-sil-doulos fonts-smiley-sans fonts-stick fonts-train fonts-triod-postnaja \
	fonts-ubuntu-title fonts-yusei-magic
# Photos to draw words on (synth's photo background kind: desktop wallpapers; photos.py holds one in five out).
# UKUI's and Ubuntu Touch's are photographs (a bridge, a city, a desert, water, leaves): 78 in all, was 47.
AOCR_PHOTO_PACKAGES := mate-backgrounds gnome-backgrounds desktop-base ukui-wallpapers lomiri-wallpapers-16.04 \
	lomiri-wallpapers-20.04
# ImageMagick draws the held-out set of words in a renderer training never used (aocr-data draws it); Tesseract is
# what benchmarks/aocr_vs_tesseract.py and aocr_predict.py compare with. A fresh machine has neither.
AOCR_TOOL_PACKAGES := imagemagick tesseract-ocr
# Left out on purpose: clones of held-out designs (fonts-texgyre's Termes and Pagella, fonts-croscore's
# Tinos, fonts-arkpandora, fonts-stix: Times and Palatino like Liberation Serif, Nimbus Roman and P052;
# the Avería Sans/Serif variants of Averia GWF), which would make the held-out score flatter the model;
# fonts-lmodern (dozens of near-identical Latin Modern families); fonts-linex (school fonts drawn on ruled
# lines, a background kind kept out of training); fonts-aenigma (novelty pictures); fonts-uralic and
# fonts-povray (clones of URW's base 35, among them Palatino and Times, held out); fonts-campania (its
# digits are fractions) and fonts-joscelyn (ornaments past reading).

.PHONY: aocr-fonts aocr-google-fonts aocr-data aocr-train
aocr-fonts:
	apt-get install -y --no-install-recommends $(AOCR_FONT_PACKAGES) $(AOCR_PHOTO_PACKAGES) $(AOCR_TOOL_PACKAGES)

# About 1,300 Google Fonts families more (92 MB, a few minutes), from the npm registry's Fontsource
# packages (aocr/google_fonts.py); aocr-data draws the AOCR_GOOGLE_SHARDS with them when they are there.
aocr-google-fonts: $(STAMP)
	$(BIN)/ovconvert aocr google-fonts $(AOCR_WORK)/google-fonts --log-path ''

aocr-data: $(STAMP)
	mkdir -p $(AOCR_WORK)/data
	for shard in $(AOCR_SHARDS); do \
	  test -f $(AOCR_WORK)/data/train-$$shard.tfrecords || $(BIN)/ovconvert aocr synth 100000 \
	    $(AOCR_WORK)/data/train-$$shard.tfrecords --max-prediction 24 --seed 2$$shard -j 2 \
	    --backgrounds $(AOCR_BACKGROUNDS) --text-effects $(AOCR_TEXT_EFFECTS) --log-path '' || exit 1; \
	done
	if test -f $(AOCR_WORK)/google-fonts/google-fonts.json; then for shard in $(AOCR_GOOGLE_SHARDS); do \
	  test -f $(AOCR_WORK)/data/train-$$shard.tfrecords || $(BIN)/ovconvert aocr synth 100000 \
	    $(AOCR_WORK)/data/train-$$shard.tfrecords --fonts-dir $(AOCR_WORK)/google-fonts --max-prediction 24 \
	    --seed 2$$shard -j 2 --backgrounds $(AOCR_BACKGROUNDS) --text-effects $(AOCR_TEXT_EFFECTS) --log-path '' || exit 1; \
	done; fi
	@# the held-out sets docs/aocr.md reports, drawn as they were (today's synth draws other images)
	test -f $(AOCR_WORK)/data/heldout-photo.tfrecords || sh benchmarks/aocr_heldout_sets.sh $(AOCR_WORK)/data

# The log is appended to, so a resumed run keeps the history of the ones before it.
aocr-train: $(STAMP)
	nohup nice $(BIN)/ovconvert aocr train '$(AOCR_WORK)/data/train-*.tfrecords' --model-dir $(AOCR_WORK)/model \
	  $(AOCR_MODEL_FLAGS) --init-from $(AOCR_START) --optimizer adam --initial-learning-rate $(AOCR_LR) \
	  --batch-size 32 --steps-per-checkpoint 200 --keep-checkpoints $(AOCR_KEEP) --width-jitter 0.55,1.3 \
	  --dropout 0.1 --log-path '' \
	  >> $(AOCR_WORK)/train.log 2>&1 &
	@echo "training in the background; follow it with: tail -f $(AOCR_WORK)/train.log"
