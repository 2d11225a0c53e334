"""Training: a preset's recipe, a tf.data pipeline, resumable epochs, ONNX export, evaluation.

``train(config, out_dir)`` writes a whole run folder:

    config.json      the configuration, package versions and data checksums
    history.json     per-epoch loss and accuracy, training and validation
    model.keras      the best model by validation accuracy
    model.onnx       the same model for ONNX Runtime, checked against Keras at export
    metrics.json, classification_report.txt, figures/*.png, report.html  (see evaluate.py)

While training, ``checkpoint/`` holds the last finished epoch; running the same command again
resumes from it. TensorFlow is imported only in here, never on the prediction path.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import os
import platform
import shutil
import time
from pathlib import Path

import numpy as np

from . import data
from .artifacts import RunFolder, atomic_path, read_json, write_json
from .config import STRATEGIES, TrainConfig, as_dict, make_config  # noqa: F401  (make_config: the API)
from .errors import DigitcnnError
from .models import NOT_A_DIGIT, build_model

PARITY_TOLERANCE = 1e-5
# Distribution names; alternatives (the GPU and CPU builds of TensorFlow) separated by "|".
VERSIONED_PACKAGES = ("numpy", "tensorflow|tensorflow-cpu", "keras", "tf2onnx", "onnx", "onnxruntime",
                      "scikit-learn")


class TrainError(DigitcnnError, RuntimeError):
    """A run cannot start or finish, for a reason the user can act on."""


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for names in VERSIONED_PACKAGES:
        versions[names.split("|")[0]] = None
        for name in names.split("|"):
            try:
                versions[names.split("|")[0]] = importlib.metadata.version(name)
                break
            except importlib.metadata.PackageNotFoundError:
                continue
    return versions


def write_run_record(run: RunFolder, config: TrainConfig) -> None:
    """config.json: the configuration, package versions, data checksums and machine of a run, and
    the handwriting fonts its non-digit letters were drawn in (those installed change the marks)."""
    record = {
        "config": as_dict(config),
        "versions": package_versions(),
        "data_checksums_sha256": data.checksums(config.data_dir),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
    }
    if getattr(config, "nondigit_share", 0):  # (a line reader's LineConfig draws its marks otherwise)
        from .nondigits import LETTER_FONTS, installed

        record["letter_fonts"] = [Path(font).name for font in installed(LETTER_FONTS)]
    write_json(run.config, record)


def load_training_data(config: TrainConfig):
    """Load, split and preprocess the data that ``config`` names.

    Returns a dict of float32 images (N, 28, 28, 1) in [0, 1] and int labels (N,) for
    ``train``, ``val`` and ``test``. Validation is a seeded stratified share of the
    training set; the test set is never used before the final evaluation.
    """
    (x_train, y_train), (x_test, y_test) = data.load_mnist(config.data_dir)
    x_train, y_train = data.limit_per_split(x_train, y_train, config.limit, config.seed)
    x_test, y_test = data.limit_per_split(x_test, y_test, config.limit, config.seed)
    train_idx, val_idx = data.stratified_split(y_train, config.validation_fraction, config.seed)
    return {
        "train": (data.preprocess(x_train[train_idx]), y_train[train_idx]),
        "val": (data.preprocess(x_train[val_idx]), y_train[val_idx]),
        "test": (data.preprocess(x_test), y_test),
    }


def make_dataset(images, labels, config: TrainConfig, training: bool):
    """A tf.data pipeline of (image, one-hot label) batches; shuffled and augmented for training.

    ``augment``: "none"; "shift" for small rotations, zooms and shifts (Keras layers in the
    pipeline); "writers" for digitcnn.augment's writer variations, drawn once into a pool, a share
    of each epoch's images swapped for one of them.
    """
    import tensorflow as tf

    if training and config.augment == "writers":
        return writer_epochs(images, labels, config)
    ds = tf.data.Dataset.from_tensor_slices((images, data.one_hot(labels, num_classes(config))))
    if training:
        ds = ds.shuffle(len(images), seed=config.seed, reshuffle_each_iteration=True)
    ds = ds.batch(config.batch_size)
    if training and config.augment == "shift":
        # Augment here, not in the model: random layers inside a model break its ONNX export.
        augment = make_augmenter(config)
        ds = ds.map(lambda x, y: (augment(x, training=True), y), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def writer_epochs(images, labels, config: TrainConfig):
    """Training batches with writer variations: the pool is drawn once, each epoch picks anew."""
    import tensorflow as tf

    from .augment import draw_pool, epoch_images

    aug = config.writers
    pool = draw_pool(images, labels, aug, seed=config.seed)
    rng = np.random.default_rng(config.seed)
    marks = nondigit_marks(config, 24_000, seed=config.seed + 10_000)
    classes = num_classes(config)

    def epoch():
        x, y = epoch_images(images, labels, pool, aug.share, marks, config.nondigit_share, rng, NOT_A_DIGIT)
        x = x[..., np.newaxis]
        targets = data.one_hot(y, classes)
        order = rng.permutation(len(x))
        for start in range(0, len(x), config.batch_size):
            batch = order[start:start + config.batch_size]
            yield x[batch], targets[batch]

    signature = (tf.TensorSpec((None, 28, 28, 1), tf.float32), tf.TensorSpec((None, classes), tf.float32))
    return tf.data.Dataset.from_generator(epoch, output_signature=signature).prefetch(tf.data.AUTOTUNE)


def num_classes(config: TrainConfig) -> int:
    """10 digits, and an eleventh class, "not a digit", when the run trains with non-digit marks."""
    return data.NUM_CLASSES + 1 if config.nondigit_share else data.NUM_CLASSES


def nondigit_marks(config: TrainConfig, count: int, seed: int) -> np.ndarray:
    """``count`` non-digit marks (float32 (count, 28, 28)), drawn in worker processes; none when off."""
    if not config.nondigit_share:
        return np.zeros((0, 28, 28), dtype=np.float32)
    from .augment import map_chunks
    from .nondigits import make_set

    step = 2000  # chunks seeded seed, seed + 1, ...: the shipped model's 24,000 marks are 10000-10011
    marks, _ = map_chunks(make_set, [(min(step, count - i), seed + k) for k, i in enumerate(range(0, count, step))])
    return marks


def make_augmenter(config: TrainConfig):
    """Small random rotations, zooms and shifts (``shift_*`` of the configuration)."""
    import keras
    from keras import layers

    return keras.Sequential([
        layers.RandomRotation(config.shift_rotation, fill_mode="constant", seed=config.seed),
        layers.RandomZoom(config.shift_zoom, fill_mode="constant", seed=config.seed + 1),
        layers.RandomTranslation(config.shift_translation, config.shift_translation, fill_mode="constant",
                                 seed=config.seed + 2),
    ], name="augment")


def make_optimizer(config: TrainConfig, steps_per_epoch: int):
    import keras

    total_steps = max(1, steps_per_epoch * config.epochs)
    lr = config.learning_rate
    if config.schedule == "constant":
        schedule = lr
    elif config.schedule == "warmup-cosine":
        warmup = max(1, int(config.warmup_share * total_steps))
        schedule = keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=lr / 10, decay_steps=max(1, total_steps - warmup),
            warmup_target=lr, warmup_steps=warmup, alpha=config.final_lr_share)
    else:
        raise TrainError(f"unknown schedule {config.schedule!r}; expected constant or warmup-cosine")
    return keras.optimizers.Adam(schedule)


def make_strategy(config: TrainConfig):
    """The tf.distribute strategy that ``config.strategy`` names.

    ``mirrored`` replicates the model on every visible GPU; with no GPU and ``devices`` = N it
    splits the CPU into N logical devices (how the tests exercise it). ``multi-worker`` reads
    the cluster from the TF_CONFIG environment variable. The batch size is the global one.
    Must run before TensorFlow has started its runtime.
    """
    import tensorflow as tf

    name = config.strategy
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        if config.devices and not tf.config.list_physical_devices("GPU"):
            cpu = tf.config.list_physical_devices("CPU")[0]
            try:
                tf.config.set_logical_device_configuration(
                    cpu, [tf.config.LogicalDeviceConfiguration()] * config.devices)
            except RuntimeError as exc:
                raise TrainError(f"cannot split the CPU into {config.devices} devices: {exc}") from None
            return tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(config.devices)])
        return tf.distribute.MirroredStrategy()
    if name == "multi-worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise TrainError(f"unknown strategy {name!r}; expected one of {', '.join(STRATEGIES)}")


def compile_model(config: TrainConfig, steps_per_epoch: int):
    import keras

    model = build_model(config.arch, num_classes(config))
    model.compile(
        optimizer=make_optimizer(config, steps_per_epoch),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
        metrics=["accuracy"],
        # Running many steps per call to the graph removes most of Python's per-step overhead;
        # tf.distribute strategies fail with it in Keras 3.15 ("must feed a value for placeholder").
        steps_per_execution=config.steps_per_execution if config.strategy == "default" else 1,
    )
    return model


def make_epoch_checkpoint(run: RunFolder, history: dict,
                          keys=("loss", "accuracy", "val_loss", "val_accuracy"), best_key: str = "val_accuracy"):
    """A Keras callback that, after each epoch, saves the model and the history atomically.

    ``last.keras`` (with the optimizer state) and ``state.json`` make a run resumable;
    ``best.keras`` keeps the model with the best ``best_key`` so far (validation accuracy).
    """
    import keras

    class EpochCheckpoint(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            for key in keys:
                history.setdefault(key, []).append(float(logs[key]))
            history.setdefault("seconds", []).append(time.perf_counter() - self.started)
            if history[best_key][-1] >= max(history[best_key]):
                with atomic_path(run.checkpoint_best) as tmp:
                    self.model.save(tmp)
            with atomic_path(run.checkpoint_last) as tmp:
                self.model.save(tmp)
            # state.json last: it only ever points at files already complete on disk.
            write_json(run.checkpoint_state, {"epochs_done": epoch + 1, "history": history})

    return EpochCheckpoint()


def calibrate_model(model, validation, config: TrainConfig):
    """The model with the temperature that best fits the validation split inside it, and that
    temperature (digitcnn.calibrate); with non-digit marks of their own seed beside the digits."""
    from .calibrate import calibrated, fit_temperature

    x_val, y_val = validation
    marks = nondigit_marks(config, 1200, seed=config.seed + 20_000)
    x = np.concatenate([x_val, marks[..., np.newaxis]])
    y = np.concatenate([y_val, np.full(len(marks), NOT_A_DIGIT)])
    temperature = fit_temperature(model.predict(x, batch_size=1024, verbose=0), y)
    return calibrated(model, temperature), temperature


def export_onnx(model, path: Path, check_images: np.ndarray, tolerance: float = PARITY_TOLERANCE) -> float:
    """Export ``model`` to ONNX at ``path`` (atomically) and check it against Keras.

    Returns the largest absolute difference between the two on ``check_images``;
    raises TrainError when it exceeds ``tolerance`` (nothing is written then).
    """
    import onnxruntime as ort

    expected = model(check_images, training=False).numpy()  # also "builds" a loaded model
    with atomic_path(path) as tmp:
        model.export(str(tmp), format="onnx", verbose=False)
        session = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
        got = session.run(None, {session.get_inputs()[0].name: check_images})[0]
        diff = float(np.max(np.abs(got - expected)))
        if not diff <= tolerance:
            raise TrainError(f"ONNX export differs from Keras by {diff:.2e} (tolerance {tolerance:.0e})")
    return diff


def prepare_out_dir(run: RunFolder, config: TrainConfig, overwrite: bool) -> int:
    """Check the run folder; return the number of epochs already done (0 for a new run)."""
    if overwrite and run.path.exists():
        shutil.rmtree(run.path)
    if run.checkpoint_state.exists():
        saved, wanted = read_json(run.config)["config"], as_dict(config)
        if saved != wanted:
            changed = sorted(k for k in wanted if saved.get(k) != wanted[k])
            raise TrainError(
                f"{run.path} holds an interrupted run with another configuration (differs in "
                f"{', '.join(changed)}); use another --out, the same options, or --overwrite")
        return read_json(run.checkpoint_state)["epochs_done"]
    if run.model_onnx.exists():
        raise TrainError(f"{run.path} already holds a finished run; use another --out or --overwrite")
    return 0


def train(config: TrainConfig, out_dir: str | Path, verbose: int = 1, overwrite: bool = False, log=print,
          callbacks=()) -> dict:
    """Train, export and evaluate one run; return its metrics (see evaluate.evaluate_run).

    ``verbose`` is Keras's: 1 for a progress bar, 2 for one plain line per epoch.
    ``callbacks`` are extra Keras callbacks (the benchmarks watch the test accuracy with one).
    """
    run = RunFolder(out_dir)
    epochs_done = prepare_out_dir(run, config, overwrite)

    import keras  # imported here, after the cheap checks, because it costs seconds

    strategy = make_strategy(config)
    keras.utils.set_random_seed(config.seed)
    splits = load_training_data(config)
    x_train, y_train = splits["train"]
    if config.nondigit_share:
        from .nondigits import LETTER_FONT_PACKAGES, LETTER_FONTS, missing_letter_fonts

        if missing := missing_letter_fonts():
            log(f"Note: {len(missing)} of the {len(LETTER_FONTS)} handwriting fonts "
                f"the non-digit letters are drawn in are not installed (apt-get install {' '.join(LETTER_FONT_PACKAGES)}); "
                "the letters come in fewer hands than the shipped model's")
    # the writer epochs add non-digit marks to the digits: the schedule counts their batches too
    steps_per_epoch = int(np.ceil(len(x_train) * (1 + config.nondigit_share) / config.batch_size))

    history: dict = {}
    if epochs_done:
        history = read_json(run.checkpoint_state)["history"]
        with strategy.scope():
            model = keras.models.load_model(run.checkpoint_last)
        log(f"Resuming {run.path} from epoch {epochs_done} of {config.epochs} (checkpoint found)")
    else:
        with strategy.scope():
            model = compile_model(config, steps_per_epoch)
        write_run_record(run, config)
        log(f"Training preset {config.preset} ({config.arch}) for {config.epochs} epochs "
            f"on {len(x_train)} images, validating on {len(splits['val'][1])}, "
            f"{strategy.num_replicas_in_sync} replica(s); run folder {run.path}")

    if epochs_done < config.epochs:
        model.fit(
            make_dataset(x_train, y_train, config, training=True),
            validation_data=make_dataset(*splits["val"], config, training=False),
            epochs=config.epochs, initial_epoch=epochs_done, verbose=verbose, shuffle=False,
            callbacks=[make_epoch_checkpoint(run, history), *callbacks],
        )
    train_seconds = float(sum(history["seconds"]))

    best, temperature = calibrate_model(keras.models.load_model(run.checkpoint_best), splits["val"], config)
    with atomic_path(run.model_keras) as tmp:
        best.save(tmp)
    x_test = splits["test"][0]
    parity = export_onnx(best, run.model_onnx, x_test[:256])
    write_json(run.history, history)

    from .evaluate import evaluate_run

    metrics = evaluate_run(run.model_onnx, run.path, config.data_dir, config.limit, config.seed, run=run,
                           extra={"train_seconds": train_seconds, "onnx_max_abs_diff": parity,
                                  "best_epoch": int(np.argmax(history["val_accuracy"])) + 1,
                                  "temperature": temperature})
    shutil.rmtree(run.checkpoint, ignore_errors=True)
    return metrics


def average_models(members: list):
    """One Keras model whose output is the mean of the members' probabilities (N, 10)."""
    import keras

    from .models import INPUT_SHAPE

    inputs = keras.Input(shape=INPUT_SHAPE, name="image")
    outputs = [keras.Model(m.inputs[0], m.outputs[0], name=f"member_{k}")(inputs) for k, m in enumerate(members)]
    averaged = keras.layers.Average(name="probabilities")(outputs)
    return keras.Model(inputs, averaged, name=f"ensemble_of_{len(members)}")


def train_ensemble(config: TrainConfig, out_dir: str | Path, verbose: int = 1, overwrite: bool = False,
                   log=print) -> dict:
    """Train ``config.ensemble`` members (seeds seed, seed+1, ...) and export their average.

    Members live in ``members/member_K/``, each a whole run (resumable as one); a member that
    is already finished is reused, so an interrupted ensemble resumes where it stopped. The
    ensemble's ``model.onnx`` averages the members in one graph: prediction and the web page
    use it unchanged. metrics.json lists each member's test accuracy beside the ensemble's.
    """
    run = RunFolder(out_dir)
    if overwrite and run.path.exists():
        shutil.rmtree(run.path)
    if run.model_onnx.exists():
        raise TrainError(f"{run.path} already holds a finished run; use another --out or --overwrite")
    count = config.ensemble
    members = []
    for k in range(count):
        member = RunFolder(run.members / f"member_{k}")
        member_config = dataclasses.replace(config, seed=config.seed + k, ensemble=1)
        if member.metrics.exists() and member.model_keras.exists():
            if read_json(member.config)["config"] != as_dict(member_config):
                raise TrainError(f"{member.path} holds a member trained with another configuration; "
                                 "use another --out, the same options, or --overwrite")
            log(f"Member {k + 1} of {count} already trained: {member.path}")
            metrics = read_json(member.metrics)
        else:
            log(f"Training member {k + 1} of {count} (seed {member_config.seed})")
            metrics = train(member_config, member.path, verbose=verbose, log=log)
        members.append({"seed": member_config.seed, "accuracy": metrics["accuracy"],
                        "train_seconds": metrics["train_seconds"], "folder": str(member.path)})

    import keras

    ensemble = average_models([keras.models.load_model(RunFolder(m["folder"]).model_keras) for m in members])
    with atomic_path(run.model_keras) as tmp:
        ensemble.save(tmp)
    write_run_record(run, config)
    (_, _), (x_test, _) = data.load_mnist(config.data_dir)
    parity = export_onnx(ensemble, run.model_onnx, data.preprocess(x_test[:256]))

    from .evaluate import evaluate_run

    return evaluate_run(run.model_onnx, run.path, config.data_dir, config.limit, config.seed, run=run,
                        extra={"members": members, "best_member_accuracy": max(m["accuracy"] for m in members),
                               "train_seconds": sum(m["train_seconds"] for m in members),
                               "onnx_max_abs_diff": parity})
