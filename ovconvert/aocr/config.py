"""The model's configuration, saved as `config.json` beside its checkpoints.

train writes it; test, predict and export read it back, so flags cannot drift from training (aocr #135,
#140). A flag given on the command line that contradicts the saved value is an error, never a silently
different model.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass

from ovconvert.aocr.charset import Charset
from ovconvert.errors import UserError

CONFIG_FILE = "config.json"
IMAGE_HEIGHT = 32
# data.trim_blank_margins (and ovconvert/predict.py's NumPy copy, which cannot import TensorFlow): a row
# or column of pixels whose values span no more than this (of 255, in every channel) holds no ink (JPEG's
# ringing in a white margin spans a few levels; the faintest text synth draws on a photo, 12); a blank
# margin is cut to this many times the ink's height.
BLANK_SPAN = 8.0
MARGIN_IN_INK_HEIGHTS = 1.0
# aocr's CNN: 3×3 convolutions with these filters, then a 2×2 one; `cnn_scale` scales them all (the
# bundled model uses 0.25 to stay a few MB, read a word in a few ms and train on a CPU).
CNN_FILTERS = (64, 128, 256, 256, 512, 512, 512)
# test and predict read a word again at other widths when its reading is less probable than this, or
# its characters narrow (aocr/reread.py; --reread-below, 0 to read once as aocr does).
REREAD_BELOW = 0.5
# and English spelling chooses among the letters the model is unsure of, weighed so against the model's
# probabilities (aocr/spelling.py; --spelling-weight, 0 to read as the model reads). Chosen on the
# held-out set and three trdg sets among 0.05–0.3: 0.05–0.125 read within a word or two of each other
# (docs/aocr.md, "An English spelling prior").
SPELLING_WEIGHT = 0.1


@dataclass(frozen=True)
class ModelConfig:
    charset: str
    max_width: int = 160
    max_height: int = 60
    max_prediction: int = 8
    channels: int = 1
    force_uppercase: bool = True
    use_gru: bool = False
    attn_num_layers: int = 2
    attn_num_hidden: int = 128
    target_embedding_size: int = 10
    cnn_scale: float = 1.0
    dropout: float = 0.5
    # Cut blank margins wider than the word needs before fitting the image (data.trim_blank_margins).
    trim_margins: bool = True
    # Read each word on a canvas cut to its width: the narrowest of these widths (pixels) that holds its
    # ink and canvas.CANVAS_MARGIN more, or image_width when none does; () reads every word at image_width,
    # as aocr does. The network's time is nearly proportional to the width (an IR at 160 pixels reads a
    # row in 54% of the time at 320), and most words are far narrower than the widest the model takes.
    # A model reads so only if trained so: train gives each image a canvas (canvas.random_canvas).
    canvas_widths: tuple[int, ...] = ()

    def __post_init__(self):
        Charset(self.charset)  # validates
        # (config.json holds a list; the dataclass is frozen and hashable, so it keeps a sorted tuple)
        object.__setattr__(self, "canvas_widths", tuple(sorted(int(w) for w in self.canvas_widths)))
        for width in self.canvas_widths:
            if width % 4 or not 4 <= width < self.image_width:
                half, three_quarters = (self.image_width * share // 16 * 4 for share in (2, 3))
                raise UserError(f"--canvas-widths: {width} is not a multiple of 4 between 4 and the image width "
                                f"{self.image_width} (exclusive); give narrower canvases, e.g. {half},{three_quarters}")
        for name in ("max_width", "max_height", "max_prediction", "attn_num_layers", "attn_num_hidden",
                     "target_embedding_size"):
            if getattr(self, name) < 1:
                raise UserError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.channels not in (1, 3):
            raise UserError(f"channels must be 1 (grey) or 3 (--color), got {self.channels}")
        if not 0 <= self.dropout < 1:
            raise UserError(f"--dropout must be in [0, 1), got {self.dropout}")
        if not 0 < self.cnn_scale <= 4:
            raise UserError(f"--cnn-scale must be in (0, 4], got {self.cnn_scale}")
        if self.image_width < 4:
            raise UserError(f"--max-width {self.max_width} / --max-height {self.max_height} gives an image "
                            f"{self.image_width} pixels wide at height 32; raise --max-width")

    @property
    def image_width(self) -> int:
        """The padded width of the model's input: aocr's ceil(max_width / max_height · 32)."""
        return math.ceil(self.max_width / self.max_height * IMAGE_HEIGHT)

    @property
    def decode_steps(self) -> int:
        """Characters plus EOS plus one spare step, as aocr decodes (max_prediction + 2)."""
        return self.max_prediction + 2

    @property
    def charset_object(self) -> Charset:
        return Charset(self.charset)

    @property
    def cnn_filters(self) -> tuple[int, ...]:
        return tuple(max(8, int(round(f * self.cnn_scale))) for f in CNN_FILTERS)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, text: str, origin: str) -> "ModelConfig":
        try:
            values = json.loads(text)
        except json.JSONDecodeError as error:
            raise UserError(f"{origin}: not valid JSON ({error.msg} at line {error.lineno}); "
                            "restore it or retrain with --no-resume") from None
        known = {field.name for field in dataclasses.fields(cls)}
        # A config.json without the key was written before margins were trimmed: that model read (and was
        # trained on) its images as they came, and goes on doing so.
        if isinstance(values, dict):
            values.setdefault("trim_margins", False)
        unknown = sorted(set(values) - known)
        if unknown:
            raise UserError(f"{origin}: unknown keys {unknown}; was it written by a newer ovconvert?")
        return cls(**values)


def config_path(model_dir: str) -> str:
    return f"{model_dir.rstrip('/')}/{CONFIG_FILE}"


def save(config: ModelConfig, model_dir: str) -> None:
    import tensorflow as tf

    tf.io.gfile.makedirs(model_dir)
    path = config_path(model_dir)
    temporary = path + ".tmp"
    with tf.io.gfile.GFile(temporary, "w") as handle:
        handle.write(config.to_json())
    tf.io.gfile.rename(temporary, path, overwrite=True)


def load(model_dir: str) -> ModelConfig | None:
    import tensorflow as tf

    path = config_path(model_dir)
    if not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path, "r") as handle:
        return ModelConfig.from_json(handle.read(), path)


def resolve(saved: ModelConfig | None, requested: dict, model_dir: str) -> ModelConfig:
    """The configuration to use: the saved one, checked against flags the user gave explicitly
    (`requested` holds only those); a fresh one from the flags when nothing is saved."""
    if saved is None:
        return ModelConfig(**requested)
    conflicts = [f"--{name.replace('_', '-')} {value!r} (trained with {getattr(saved, name)!r})"
                 for name, value in requested.items() if getattr(saved, name) != value]
    if conflicts:
        raise UserError(f"{config_path(model_dir)}: the model was trained with other settings: "
                        f"{'; '.join(conflicts)}; drop those flags, or train a new model in another --model-dir")
    return saved
