"""The ``digitcnn`` command: train, evaluate, predict, serve.

Every heavy import (TensorFlow, Keras, matplotlib, FastAPI) happens inside the command that
needs it, so ``digitcnn predict`` never pays for TensorFlow.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import warnings
from pathlib import Path

from .config import LINE_PRESETS, PRESETS, LineConfig, flags
from .errors import UsageError


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def port_number(text: str) -> int:
    value = positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"expected a TCP port, 1 to 65535, got {value}")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, 0 or more, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number, 0 or more, got {value}")
    return value


def preset_value(preset: str, name: str):
    """A setting of a preset by its flag name (``writers_rotation`` is ``writers.rotation``)."""
    config = PRESETS[preset]
    if name.startswith("writers_"):
        return getattr(config.writers, name.removeprefix("writers_"))
    return getattr(config, name)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="digitcnn", description="Handwritten digit recognition with a CNN.")
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("train", help="train a preset, export it to ONNX, evaluate it, write a report",
                            description="Every setting of config.TrainConfig has a flag; a flag left out keeps "
                                        "the preset's value (defaults shown: fast | accurate | baseline).")
    p.add_argument("--preset", choices=sorted(PRESETS), default="fast",
                   help="the settings to start from (default fast; accurate is the pretrained model's)")
    p.add_argument("--out", type=Path, default=None, help="run folder (default runs/PRESET)")
    for name, kind, meta in flags():
        if name == "preset":
            continue
        shown = " | ".join(str(preset_value(preset, name)) for preset in ("fast", "accurate", "baseline"))
        number = non_negative_int if name == "seed" else positive_int
        p.add_argument(f"--{name.replace('_', '-')}", dest=name, type=number if kind is int else kind,
                       choices=meta["choices"], help=f"{meta['help']} (default: {shown})")
    p.add_argument("--quiet", action="store_true", help="plain log lines instead of a progress bar")
    p.add_argument("--overwrite", action="store_true", help="replace whatever the run folder holds")

    p = commands.add_parser("train-lines", help="train the line reader (whole numbers, touching digits) on "
                                                "synthetic numbers, export it to ONNX, write a report",
                            description="Every setting of config.LineConfig has a flag; a flag left out keeps "
                                        "the preset's value (defaults shown: lines | lines-cheque | lines-tiny).")
    p.add_argument("--preset", choices=sorted(LINE_PRESETS), default="lines",
                   help="the settings to start from (default lines; config.LINE_PRESETS says what each stage "
                        "draws and which stage it continues)")
    p.add_argument("--out", type=Path, default=None, help="run folder (default runs/PRESET)")
    for name, kind, meta in flags(LineConfig):
        if name == "preset":
            continue
        shown = " | ".join(str(getattr(LINE_PRESETS[preset], name)) for preset in ("lines", "lines-cheque", "lines-tiny"))
        number = non_negative_int if name == "seed" else positive_int
        p.add_argument(f"--{name.replace('_', '-')}", dest=name, type=number if kind is int else kind,
                       choices=meta["choices"], help=f"{meta['help']} (default: {shown})")
    p.add_argument("--quiet", action="store_true", help="plain log lines instead of a progress bar")
    p.add_argument("--overwrite", action="store_true", help="replace whatever the run folder holds")

    p = commands.add_parser("evaluate", help="recompute the metrics, figures and report of a model with ONNX Runtime")
    p.add_argument("--model", type=Path, required=True, help="a run folder or a .onnx file")
    p.add_argument("--data-dir", type=Path,
                   help="folder of the MNIST IDX files to test on (default: the copy shipped with the package)")
    p.add_argument("--limit", type=positive_int, help="evaluate a stratified subset of N test images")
    p.add_argument("--real-dir", type=Path, metavar="DIR",
                   help="also measure accuracy and calibration on real handwriting in DIR (photo/, drawn/, tiny/, "
                        "usps.npz, optdigits32.npz; for example ../shared/data/realdev)")
    p.add_argument("--out", type=Path,
                   help="folder to write into (default: the run folder; for another .onnx file, a folder named "
                        "after it beside it)")
    p = commands.add_parser("quantize", help="write an int8 version of a model (about 2x faster on a CPU)")
    p.add_argument("--model", type=Path, required=True, help="a run folder or a .onnx file")
    p.add_argument("--out", type=Path,
                   help="folder to write X.int8.onnx into (default: beside the model; model.int8.onnx in a run)")
    p.add_argument("--data-dir", type=Path, help="calibrate on this folder's training images")

    p = commands.add_parser("predict", help="read the digits in image files, folders, URLs or stdin")
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="an image file, a folder (every file in it, sorted), an http(s) URL, or - for stdin")
    p.add_argument("--model", type=Path, help="a .onnx file or a run folder (default: the pretrained model)")
    p.add_argument("--top-k", type=positive_int, metavar="K",
                   help="list K candidates per digit (the JSON lists 3 unless told)")
    p.add_argument("--json", action="store_true", help="one JSON object per line per input")
    p.add_argument("--save-preprocessed", type=Path, metavar="DIR", help="write the 28x28 images the model saw")
    line_reader = p.add_mutually_exclusive_group()
    line_reader.add_argument("--line-model", type=Path, metavar="RUN_DIR_OR_ONNX",
                             help="the line reader, a .onnx file or a train-lines run folder (default: the "
                                  "pretrained one)")
    line_reader.add_argument("--no-line-reader", action="store_true",
                             help="read every mark with the digit model alone (the pipeline before the line reader)")

    p = commands.add_parser("serve", help="serve the web page and the HTTP API")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1, this machine only; 0.0.0.0 for every interface)")
    p.add_argument("--port", type=port_number, default=8000, help="port to listen on (default 8000)")
    p.add_argument("--model", type=Path, help="a .onnx file or a run folder (default: the pretrained model)")
    p.add_argument("--workers", type=positive_int, default=1, help="worker processes (default 1)")
    p.add_argument("--allow-private-urls", action="store_true",
                   help="let /api/predict-url fetch from loopback and private addresses (off: SSRF guard)")
    return parser


def output_folder(path: Path) -> Path:
    """``--out`` of every command is a folder: refuse a path that is a file, or lies under one."""
    from .errors import DigitcnnError

    for part in (path, *path.parents):
        if part.exists():
            if not part.is_dir():
                raise DigitcnnError(f"{path}: not a folder ({part} is a file); --out names the folder to write into")
            break
    return path


def run_serve(args) -> int:
    from .serve import serve

    serve(args.host, args.port, args.model, args.workers, args.allow_private_urls)
    return 0


def is_folder(item: str) -> bool:
    """True when the input ``item`` names a folder (not stdin's "-", nor a URL)."""
    from .fetch import is_url

    try:
        return item != "-" and not is_url(item) and Path(item).is_dir()
    except OSError:  # an unreadable path, a name too long: reading the item says why, on its line
        return False


def expand_inputs(inputs: list[str]) -> list[str]:
    """Folders become their files (sorted; hidden files and subfolders skipped); everything else, and
    a folder with no file in it, stays as given (``run_predict`` says it has none)."""
    expanded = []
    for item in inputs:
        try:
            files = sorted(p for p in Path(item).iterdir()
                           if p.is_file() and not p.name.startswith(".")) if is_folder(item) else None
        except OSError:  # an unreadable folder: reading the item says why, on its line
            files = None
        expanded.extend(map(str, files) if files else [item])
    return expanded


def read_stdin(max_bytes: int) -> bytes:
    """Standard input, at most ``max_bytes`` (the URL cap): `- < /dev/zero` is refused, not read forever."""
    from .imaging import ImageError
    from .predict import read_stream

    if sys.stdin is None:
        raise ImageError("standard input: closed (nothing to read)")
    return read_stream(sys.stdin.buffer, max_bytes)


def format_result(result, top_k: int, show_runners_up: bool) -> str:
    """One ReadResult as the human-readable lines of ``digitcnn predict``: the number as written
    (with its separators); a picture with several lines of writing gets a line each."""
    if result.error:
        said = result.error.removeprefix(f"{result.input}: ")  # a URL's errors name it (after redirects, the last)
        return f"{result.input}: error: {said}"
    if not result.predictions:
        return f"{result.input}: {result.message}"
    if len(result.lines) > 1:
        line = f"{result.input}: {len(result.lines)} lines (confidence {result.confidence:.3f}"
        line += ", unsure)" if result.low_confidence else ")"
        line += "".join(f"\n  line {i}: {reading.text} (confidence {reading.confidence:.3f})"
                        for i, reading in enumerate(result.lines, 1))
    else:
        line = f"{result.input}: {result.text or result.digits} (confidence {result.confidence:.3f}"
        line += ", unsure)" if result.low_confidence else ")"
    if result.rejected:  # (the picture's, not its last line's: on a line of its own after several)
        count = len(result.rejected)
        line += "\n  " if len(result.lines) > 1 else "; "
        line += f"{count} mark{'s' if count > 1 else ''} that {'are' if count > 1 else 'is'} not a digit left out"
    if show_runners_up:
        for i, digit in enumerate(result.predictions, 1):
            runners = ", ".join(f"{c.digit} {c.probability:.3f}" for c in digit.top_k[1:top_k])
            line += f"\n  digit {i}: {digit.digit} {digit.probability:.3f}; runners-up: {runners}"
    return line


def save_preprocessed(folder: Path, index: int, result) -> None:
    from .artifacts import write_bytes
    from .fetch import is_url
    from .imaging import frame_to_png

    stem = "url" if is_url(result.input) else Path(result.input).stem
    frames = result.frames if result.frames is not None else []
    width = len(str(max(len(frames) - 1, 0)))  # "_02" before "_10": the digits' order sorts by name
    for k, image in enumerate(frames):
        write_bytes(folder / f"{index:03d}_{stem}_{k:0{width}d}.png", frame_to_png(image))


def run_predict(args) -> int:
    import json

    from .fetch import MAX_BYTES
    from .imaging import ImageError
    from .predict import DigitReader
    from .results import ReadResult

    if args.save_preprocessed and args.save_preprocessed.exists() and not args.save_preprocessed.is_dir():
        raise UsageError(f"--save-preprocessed: {args.save_preprocessed} is a file; expected a folder "
                         "(made when missing)")
    reader = DigitReader(args.model, top_k=args.top_k or 3, line_model=False if args.no_line_reader else args.line_model)
    failures = 0
    for index, item in enumerate(expand_inputs(args.inputs)):
        try:
            if is_folder(item):  # (expand_inputs leaves only folders with no file)
                raise ImageError("a folder with no file in it (its subfolders are not read)")
            result = reader.read(read_stdin(MAX_BYTES) if item == "-" else item, strict=True)
            result.input = item
        except ImageError as exc:
            result = ReadResult.failed(item, str(exc))
        if args.save_preprocessed and result.frames is not None:
            try:
                save_preprocessed(args.save_preprocessed, index, result)
            except OSError as exc:  # a read-only folder, a file in the way, a full disk
                result.error = f"cannot save the preprocessed images in {args.save_preprocessed}: {exc.strerror or exc}"
        failures += result.error is not None
        if args.json:
            print(json.dumps(result.to_json()), flush=True)
        else:
            print(format_result(result, reader.top_k, args.top_k is not None), flush=True)
    return 1 if failures else 0


def interrupt_on_sigterm(signum, frame):
    """A kill is handled like Ctrl-C: the last finished epoch is already saved."""
    raise KeyboardInterrupt


def settings_of(args, cls) -> dict:
    """The flags of ``cls``'s fields as given (None where left out), paths made absolute."""
    settings = {name: getattr(args, name) for name, _, _ in flags(cls) if name != "preset"}
    if settings["data_dir"]:
        settings["data_dir"] = str(Path(settings["data_dir"]).resolve())
    return settings


def train_interruptibly(train_function, config, out: Path, args):
    """Run a training function; Ctrl-C or a kill says how to resume and gives None."""
    signal.signal(signal.SIGTERM, interrupt_on_sigterm)
    try:
        return train_function(config, out, verbose=2 if args.quiet else 1, overwrite=args.overwrite)
    except KeyboardInterrupt:
        print(f"\nInterrupted. Finished epochs are saved in {out}/checkpoint; "
              "run the same command again to resume.", file=sys.stderr)
        return None


def run_train(args) -> int:
    from .artifacts import RunFolder
    from .config import TrainConfig, make_config
    from .train import train, train_ensemble

    config = make_config(args.preset, **settings_of(args, TrainConfig))
    out = output_folder(args.out or Path("runs") / args.preset)
    metrics = train_interruptibly(train_ensemble if config.ensemble > 1 else train, config, out, args)
    if metrics is None:
        return 130
    if "members" in metrics:
        print("Members: " + ", ".join(f"seed {m['seed']} {m['accuracy'] * 100:.2f}%" for m in metrics["members"]))
    print(f"Test accuracy {metrics['accuracy'] * 100:.2f}% ({metrics['test_size']} images). "
          f"Report: {RunFolder(out).report}")
    return 0


def run_train_lines(args) -> int:
    from .artifacts import RunFolder
    from .config import make_line_config
    from .train_lines import train_lines

    config = make_line_config(args.preset, **settings_of(args, LineConfig))
    out = output_folder(args.out or Path("runs") / args.preset)
    metrics = train_interruptibly(train_lines, config, out, args)
    if metrics is None:
        return 130
    print("Exact match on synthetic numbers of MNIST test digits: " + ", ".join(
        f"{name} {m['exact_match']:.2%}" for name, m in metrics["test"].items()) + f". Report: {RunFolder(out).report}")
    return 0


def run_evaluate(args) -> int:
    from .artifacts import RunFolder
    from .evaluate import evaluate_run
    from .inference import resolve_model_path

    model = resolve_model_path(args.model)
    # A run's own model.onnx is evaluated in its run (its report shows the run's configuration and
    # curves); any other file in a folder named after it, so that evaluating model.int8.onnx
    # never overwrites the run's own metrics.
    run = RunFolder(model.parent) if model.name == "model.onnx" else None
    out = output_folder(args.out or (run.path if run else model.parent / model.name.removesuffix(".onnx").replace(".", "-")))
    if args.real_dir is not None and not args.real_dir.is_dir():
        raise UsageError(f"--real-dir {args.real_dir}: no such folder")
    metrics = evaluate_run(model, out, args.data_dir, args.limit, run=run, real_dir=args.real_dir)
    for name, m in metrics.get("real_sets", {}).items():
        print(f"{name}: accuracy {m['accuracy']:.2%}, ECE {m['expected_calibration_error']:.2%} ({m['images']} images)")
    print(f"Test accuracy {metrics['accuracy'] * 100:.2f}% ({metrics['test_size']} images). "
          f"Report: {RunFolder(out).report}")
    return 0


def run_quantize(args) -> int:
    from .inference import resolve_model_path
    from .quantize import quantize

    model = resolve_model_path(args.model)
    out = output_folder(args.out or model.parent) / f"{model.name.removesuffix('.onnx')}.int8.onnx"
    result = quantize(model, out, data_dir=args.data_dir)
    print(f"Wrote {out} ({result['bytes'] / 1e6:.2f} MB): same class as the float32 model on "
          f"{result['agreement']:.2%} of held-out training images. Its test accuracy: "
          f"digitcnn evaluate --model {out}")
    return 0


COMMANDS = {"train": run_train, "train-lines": run_train_lines, "evaluate": run_evaluate, "quantize": run_quantize, "predict": run_predict,
            "serve": run_serve}


# Top-level modules of the optional extras in pyproject.toml (prediction needs none of them).
OPTIONAL_MODULES = {
    "train": {"tensorflow", "keras", "tf2onnx", "onnx", "matplotlib", "seaborn"},
    "serve": {"fastapi", "uvicorn", "uvloop", "httptools", "multipart", "python_multipart", "starlette"},
}


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter
    # A file name that is not UTF-8 must not stop the output of the other inputs.
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    warnings.filterwarnings("ignore", category=FutureWarning)  # tf2onnx on NumPy 2
    args = build_parser().parse_args(argv)
    from .errors import DigitcnnError

    try:
        return COMMANDS[args.command](args)
    except DigitcnnError as exc:  # the project's every error: one line, no traceback
        print(f"digitcnn {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_status
    except OSError as exc:  # writing a run: a read-only folder, a full disk (the files written are whole)
        print(f"digitcnn {args.command}: error: cannot write {exc.filename or 'the output'}: "
              f"{exc.strerror or exc}", file=sys.stderr)
        return 1
    except ModuleNotFoundError as exc:
        package = (exc.name or "").split(".")[0]
        extra = next((name for name, modules in OPTIONAL_MODULES.items() if package in modules), None)
        hint = f"pip install 'digitcnn[{extra}]'" if extra else "reinstall digitcnn with its dependencies"
        print(f"digitcnn {args.command}: error: needs the Python package {package!r}, which is not installed "
              f"({hint})", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
