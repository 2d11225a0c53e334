"""Every training setting in one place: ``TrainConfig``, its presets, and overrides.

    config = make_config("accurate", epochs=5)        # dataclasses.replace on the preset
    config.epochs, config.learning_rate

A run's ``config.json`` holds ``dataclasses.asdict(config)``; ``digitcnn train --help`` lists a flag
for every field (derived from the fields below). The standard library only: the CLI imports it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from .errors import UsageError

SCHEDULES = ("constant", "warmup-cosine")
MIN_LIMIT = 100  # --limit below this leaves a validation split without some digits
AUGMENTATIONS = ("none", "shift", "writers")
STRATEGIES = ("default", "mirrored", "multi-worker")  # tf.distribute strategies (train.make_strategy)


class ConfigError(UsageError, ValueError):
    """A configuration names an unknown preset, field or value."""


def _setting(default, help: str, choices=None, **kwargs):
    """A dataclass field with the help text (and choices) of its command-line flag."""
    return field(default=default, metadata={"help": help, "choices": choices}, **kwargs)


@dataclass(frozen=True)
class Augmentation:
    """The writer variations of ``augment="writers"`` (digitcnn.augment), each with its range; 0 turns one off."""

    share: float = _setting(0.5, "share of each batch that is varied; the rest stays plain MNIST")
    rotation: float = _setting(12.0, "rotation, degrees either way")
    shear: float = _setting(0.3, "horizontal shear (slant), either way")
    aspect: float = _setting(0.25, "width scaled by 1 -/+ this (narrow and wide writers)")
    thickness: float = _setting(0.5, "probability of a pen one pixel thicker or thinner (at 56x56)")
    breaks: float = _setting(0.15, "probability of one or two gaps in the strokes (pen lifted)")
    flag_one: float = _setting(0.3, "probability that a 1 gets a flag (and half of those a base)")
    cross_seven: float = _setting(0.3, "probability that a 7 gets a bar across its stem (Europe, Latin America)")
    hook_nine: float = _setting(0.3, "probability that a 9's tail ends in a hook to the left")
    elastic: float = _setting(0.0, "strength of a smooth random warp, pixels at 56x56 (lowered MNIST: off)")
    copies: int = _setting(4, "variations drawn per training image, once per run")


@dataclass(frozen=True)
class TrainConfig:
    """A training run's every setting. Presets are instances; flags replace fields."""

    preset: str = _setting("fast", "the preset these settings started from")
    arch: str = _setting("fast", "architecture (models.ARCHITECTURES)")
    epochs: int = _setting(2, "passes over the training split")
    batch_size: int = _setting(64, "images per step (the global batch under a distribution strategy)")
    learning_rate: float = _setting(6e-3, "Adam's peak learning rate")
    schedule: str = _setting("warmup-cosine", "learning-rate schedule", SCHEDULES)
    warmup_share: float = _setting(0.2, "warmup-cosine: share of the steps rising from a tenth of the peak")
    final_lr_share: float = _setting(0.01, "warmup-cosine: the cosine ends at this share of the peak")
    label_smoothing: float = _setting(0.1, "label smoothing of the cross-entropy")
    augment: str = _setting("none", "augmentation: none; shift (small rotation, zoom and shift); "
                                    "writers (other people's writing, see the writers fields)", AUGMENTATIONS)
    shift_rotation: float = _setting(0.03, "shift: rotation, share of a full turn either way")
    shift_zoom: float = _setting(0.1, "shift: zoom, share either way")
    shift_translation: float = _setting(0.1, "shift: translation, share of the side either way")
    writers: Augmentation = field(default_factory=Augmentation)
    nondigit_share: float = _setting(0.0, "writers: marks that are not digits (digitcnn.nondigits) added to each epoch, "
                                          "as a share of its digits, as an eleventh class; 0: ten classes")
    seed: int = _setting(0, "seed of the split, the shuffles, the augmentation and the initial weights")
    validation_fraction: float = _setting(0.1, "stratified share of the training set held out for validation")
    limit: int | None = _setting(None, "a stratified subset of N training and N test images (quick runs)")
    data_dir: str | None = _setting(None, "folder of the four IDX files (format checks, no pinned checksums)")
    strategy: str = _setting("default", "tf.distribute: mirrored on all GPUs (or --devices N CPU splits), "
                                        "multi-worker from TF_CONFIG", STRATEGIES)
    devices: int | None = _setting(None, "with --strategy mirrored and no GPU: N logical CPU devices")
    ensemble: int = _setting(1, "train N differently seeded members and export one model averaging them")
    steps_per_execution: int = _setting(32, "steps per call into the graph (1 under a distribution strategy)")


PRESETS = {
    # Keras's classic "simple MNIST convnet" example, as the project description describes it.
    "baseline": TrainConfig(preset="baseline", arch="baseline", epochs=15, batch_size=128, learning_rate=1e-3,
                            schedule="constant", label_smoothing=0.0),
    # The least CPU time to >= 99.0% test accuracy: two epochs of a small CNN without batch
    # normalization (it made an epoch about 1.7x as costly here), small batches for many updates,
    # warmup+cosine to a high rate, and label smoothing. Measured in benchmarks/RESULTS.md.
    "fast": TrainConfig(),
    # The default model: a batch-normalized CNN trained on MNIST made to look like other
    # people's writing (slant, rotation, aspect, pen width, lifted pen, flagged 1s, barred 7s,
    # hooked 9s), so that it reads real photos and drawings, not only MNIST. Each ingredient was
    # measured alone on real handwriting (benchmarks/RESULTS.md). bn-lite, not bn-deep: at 2.5x
    # fewer multiply-adds it scored as high on MNIST and predicts about 2x faster.
    # Marks that are not digits (a quarter as many as digits) teach it to say so (issue 13).
    "accurate": TrainConfig(preset="accurate", arch="bn-lite", epochs=20, batch_size=128, learning_rate=3e-3,
                            augment="writers", nondigit_share=0.25),
}


@dataclass(frozen=True)
class LineConfig:
    """The line reader's training run (digitcnn.train_lines). Presets are instances."""

    preset: str = _setting("lines", "the preset these settings started from")
    lines: int = _setting(150_000, "synthetic training lines, drawn once per run from MNIST training digits")
    val_lines: int = _setting(2_000, "validation lines (MNIST validation digits)")
    test_lines: int = _setting(2_000, "test lines for the report (MNIST test digits)")
    width: int = _setting(192, "training input width in px (32 high); wider lines are squeezed")
    epochs: int = _setting(3, "passes over the training lines")
    batch_size: int = _setting(64, "lines per step")
    learning_rate: float = _setting(2e-3, "Adam's peak learning rate (warmup then cosine)")
    features: int = _setting(64, "channels of the last convolution and of the dense layer before the GRUs")
    recurrent_layers: int = _setting(1, "bidirectional GRU layers")
    recurrent_units: int = _setting(64, "units of each GRU direction")
    dropout: float = _setting(0.2, "dropout before the GRUs")
    style: str = _setting("general", "synthesis style (linesynth): general, cheque (long-flagged 1s, "
                                     "smaller tails), mixed (half each), or mixed-writers (as mixed, the cheque "
                                     "half also with long 1s, hooked 9s and crossed 7s), or mixed-closing (as "
                                     "mixed-writers, the cheque half also closed by marks other than dashes), or "
                                     "mixed-round (as mixed-closing, a third of the cheque half's amounts round: "
                                     "ending in 000 or 00, half of those written as a chain of quick loops)",
                          ("general", "cheque", "mixed", "mixed-writers", "mixed-closing", "mixed-round"))
    mark_share: float = _setting(0.0, "share of lines that are marks that are not digits (letters, scribbles, "
                                      "shapes), read as nothing: outlier exposure")
    stray_share: float = _setting(0.0, "share of numbers with such a mark before or after them")
    init_from: str | None = _setting(None, "start from this train-lines run's model.keras (a second stage)")
    limit: int | None = _setting(None, "use only this many MNIST images per split (quick runs)")
    data_dir: str | None = _setting(None, "folder of the MNIST IDX files; default: the copy shipped with the package")
    seed: int = _setting(0, "random seed (synthesis, initialisation, shuffling)")


LINE_PRESETS = {
    "lines": LineConfig(),
    # the second stage of the shipped line reader: one epoch on 60,000 lines of the cheque style,
    # from the first stage's model, at a quarter of its learning rate
    "lines-cheque": LineConfig(preset="lines-cheque", style="cheque", init_from="runs/lines", lines=60_000,
                               epochs=1, learning_rate=5e-4),
    # the third stage: two epochs on 150,000 new lines (another seed), half of each style, from the
    # second stage's model at half the first stage's learning rate; validation was still rising
    "lines-long": LineConfig(preset="lines-long", style="mixed", init_from="runs/lines-cheque", epochs=2,
                             learning_rate=1e-3, seed=1),
    # the fourth stage: one epoch on 80,000 new lines of the cheque style, from the third stage
    "lines-final": LineConfig(preset="lines-final", style="cheque", init_from="runs/lines-long", lines=80_000,
                              epochs=1, learning_rate=5e-4, seed=2),
    # the fifth: one epoch on 100,000 new lines, half of each style, at a lower rate, from the fourth
    "lines-polish": LineConfig(preset="lines-polish", style="mixed", init_from="runs/lines-final", lines=100_000,
                               epochs=1, learning_rate=3e-4, seed=3),
    # the sixth: one epoch on 120,000 new lines, half of each style, a tenth of them marks that are not
    # digits and a twentieth numbers with such a mark beside them, so that a scribble or a word reads nothing
    "lines-marks": LineConfig(preset="lines-marks", style="mixed", init_from="runs/lines-polish", lines=120_000,
                              epochs=1, learning_rate=3e-4, seed=4, mark_share=0.1, stray_share=0.05),
    # the seventh: one epoch on 120,000 new lines, a twentieth marks and no stray ones, at a lower rate:
    # the sixth had cost a point or two of synthetic numbers; this one gives them back and keeps the marks
    "lines-settle": LineConfig(preset="lines-settle", style="mixed", init_from="runs/lines-marks", lines=120_000,
                               epochs=1, learning_rate=2e-4, seed=5, mark_share=0.05),
    # the shipped line reader's first stage is no preset: a larger model (features 96, two GRU layers of
    # 96) trained from scratch by scripts/train_lines_stream.py for 7.4 minutes on a lent GPU, on 1.05
    # million lines drawn while it trained (RESULTS, eighth session), made a run folder runs/lines-stream.
    # Its second: one epoch on 60,000 new lines whose cheque half also has long 1s, hooked 9s and
    # crossed 7s, as Latin American and European writers make them
    "lines-writers": LineConfig(preset="lines-writers", style="mixed-writers", init_from="runs/lines-stream",
                                lines=60_000, epochs=1, learning_rate=3e-4, seed=10, mark_share=0.05,
                                features=96, recurrent_layers=2, recurrent_units=96),
    # one more epoch from the shipped reader (rebuilt from models/lines.onnx into runs/lines-shipped by
    # scripts/line_model_from_onnx.py) on 60,000 new lines whose cheque half is also closed by ",-",
    # ".-", "~" or a low dash (RESULTS, twenty-fifth session)
    "lines-closing": LineConfig(preset="lines-closing", style="mixed-closing", init_from="runs/lines-shipped",
                                lines=60_000, epochs=1, learning_rate=2e-4, seed=15, mark_share=0.05,
                                features=96, recurrent_layers=2, recurrent_units=96),
    # one more epoch from it on 60,000 new lines whose cheque half also has round amounts; the shipped
    # reader is the mean of the weights of this run and one with --seed 21
    # (scripts/average_line_models.py; RESULTS, twenty-sixth session)
    "lines-round": LineConfig(preset="lines-round", style="mixed-round", init_from="runs/lines-closing",
                              lines=60_000, epochs=1, learning_rate=2e-4, seed=20, mark_share=0.05,
                              features=96, recurrent_layers=2, recurrent_units=96),
    # the end-to-end check of CI: a few hundred lines, one epoch, a small model
    "lines-tiny": LineConfig(preset="lines-tiny", lines=512, val_lines=64, test_lines=64, epochs=1,
                             features=32, recurrent_units=16, limit=1000),
}


def make_line_config(preset: str = "lines", **overrides) -> LineConfig:
    """A line-reader preset with the given fields replaced (None means keep the preset's)."""
    if preset not in LINE_PRESETS:
        raise ConfigError(f"unknown line preset {preset!r}; expected one of {', '.join(LINE_PRESETS)}")
    names = {f.name for f in dataclasses.fields(LineConfig)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise ConfigError(f"unknown line configuration field(s) {', '.join(unknown)}")
    config = dataclasses.replace(LINE_PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None})
    if not 0 <= config.dropout < 1:
        raise ConfigError(f"dropout must be in [0, 1), got {config.dropout}")
    for name in ("mark_share", "stray_share"):
        if not 0 <= getattr(config, name) <= 1:
            raise ConfigError(f"{name} must be in [0, 1], got {getattr(config, name)}")
    return config


def make_config(preset: str = "fast", **overrides) -> TrainConfig:
    """The preset with the given fields replaced (None means keep the preset's); ``writers_X``
    replaces field X of the writer augmentation."""
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; expected one of {', '.join(PRESETS)}")
    config = PRESETS[preset]
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    writer_names = {f"writers_{f.name}" for f in dataclasses.fields(Augmentation)}
    unknown = sorted(set(overrides) - names - writer_names)
    if unknown:
        raise ConfigError(f"unknown configuration field(s) {', '.join(unknown)}")
    writers = {k.removeprefix("writers_"): v for k, v in overrides.items() if k in writer_names and v is not None}
    fields = {k: v for k, v in overrides.items() if k in names and v is not None}
    if writers:
        fields["writers"] = dataclasses.replace(config.writers, **writers)
    config = dataclasses.replace(config, **fields)
    from .models import ARCHITECTURES  # NumPy only

    if config.arch not in ARCHITECTURES:
        raise ConfigError(f"arch must be one of {', '.join(ARCHITECTURES)}, got {config.arch!r}")
    for f in dataclasses.fields(TrainConfig):
        choices = f.metadata.get("choices")
        if choices and getattr(config, f.name) not in choices:
            raise ConfigError(f"{f.name} must be one of {', '.join(choices)}, got {getattr(config, f.name)!r}")
    ranges = {"learning_rate": (0, 1, False), "label_smoothing": (0, 1, True), "warmup_share": (0, 1, True),
              "final_lr_share": (0, 1, True), "validation_fraction": (0, 0.5, False)}
    for name, (low, high, low_included) in ranges.items():
        value = getattr(config, name)
        if not (low <= value if low_included else low < value) or not value < high:
            raise ConfigError(f"{name} must be {'at least' if low_included else 'above'} {low} and below {high}, "
                              f"got {value}")
    if config.nondigit_share and config.augment != "writers":
        raise ConfigError("nondigit_share needs augment=writers (the marks join its epochs)")
    if not 0 <= config.nondigit_share <= 1:
        raise ConfigError(f"nondigit_share must be 0 to 1, got {config.nondigit_share}")
    if config.limit is not None and config.limit < MIN_LIMIT:
        raise ConfigError(f"limit must be at least {MIN_LIMIT} (the validation split needs images of every "
                          f"digit), got {config.limit}")
    return config


def as_dict(config: TrainConfig) -> dict:
    """The JSON form of a configuration (what config.json holds)."""
    return dataclasses.asdict(config)


def flags(cls=TrainConfig, prefix: str = "") -> list[tuple[str, type, dict]]:
    """One (flag, type, field metadata + default) per setting, nested dataclasses flattened with a prefix."""
    out = []
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(f.default_factory if f.default_factory is not dataclasses.MISSING else None):
            out += flags(f.default_factory, prefix=f"{prefix}{f.name}_")
            continue
        kind = {"int": int, "float": float, "str": str, "int | None": int, "str | None": str}[str(f.type)]
        out.append((f"{prefix}{f.name}", kind, {**f.metadata, "default": f.default}))
    return out
