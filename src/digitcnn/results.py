"""The shape of a reading: what the Python API returns, the CLI prints as JSON and the HTTP API sends.

One definition, plain dataclasses (no import cost on the prediction path); FastAPI declares
``ReadResult`` as the endpoints' ``response_model``, so /docs lists every field with its type.
New fields go here once.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import ClassVar

LOW_CONFIDENCE = 0.6  # below this a result is flagged as unsure
NO_DIGIT = "no digit found"


@dataclass
class Candidate:
    """One class and its probability."""

    digit: int
    probability: float


@dataclass
class DigitPrediction:
    """One digit read: its class, probability, the ``top_k`` candidates, all ten probabilities and
    its box ``[x, y, width, height]`` in the pixels of the input image. For a digit read by the
    line reader, ``probability`` is the digit's at its likeliest step of the line and
    ``probabilities`` the ten digits' at that step (what they leave is CTC's blank, "no digit
    here", as the digit model's ten leave "not a digit")."""

    digit: int
    probability: float
    top_k: list[Candidate]
    probabilities: list[float]
    box: list[int]


@dataclass
class RejectedMark:
    """A mark that is not a digit (a dot, a dash, a letter, a doodle), or writing set apart beside a
    number (a printed label or unit, ``sequence.apart_ends``): the probability the digit model gave
    to "not a digit" (for writing beside a number it may be low), and its box ``[x, y, width, height]``."""

    not_a_digit: float
    box: list[int]


@dataclass
class LineReading:
    """One line of writing, lines top to bottom: its ``digits``, its ``text`` (the digits with the
    separators seen, ``"1.990"``), the probability of its least sure digit, its box
    ``[x, y, width, height]`` and the model that read it: ``"line"`` (the line reader, whole line
    at once) or ``"digit"`` (the digit model, one mark at a time)."""

    digits: str
    text: str
    confidence: float
    box: list[int]
    reader: str


@dataclass
class ReadResult:
    """What was read in one input.

    ``digits`` is the number read, left to right ("" when none), the numbers of several lines
    joined by a newline, top to bottom; ``text`` is the same with the separators seen (``1.990``,
    ``10 000``), and ``lines`` has each line on its own. ``confidence`` the probability of
    its least sure digit, ``low_confidence`` True below LOW_CONFIDENCE; ``message`` says why
    nothing was read (no digit found); ``error`` says why the input could not be read at all.
    ``rejected`` lists the marks that are not digits, left out of ``digits``. ``images`` (HTTP, with
    ``include_images=true``) holds the 28x28 images the model saw as PNG data URLs, ``source_image``
    the picture that was read (the one fetched, for a URL), as a PNG data URL at most 640 px, and
    ``source_size`` that picture's own [width, height], the pixels of the boxes. ``frames`` holds the same images as float32 (K, 28, 28, 1) in [0, 1]: set on results
    of the Python API, never serialized.
    """

    input: str
    digits: str = ""
    text: str = ""
    confidence: float = 0.0
    low_confidence: bool = False
    message: str | None = None
    predictions: list[DigitPrediction] = field(default_factory=list)
    error: str | None = None
    rejected: list[RejectedMark] = field(default_factory=list)
    images: list[str] | None = None
    source_image: str | None = None
    source_size: list[int] | None = None
    lines: list[LineReading] = field(default_factory=list)

    frames: ClassVar = None  # a ClassVar, so that it is no field: set per instance, never serialized
    source: ClassVar = None  # the decoded input picture (PIL image or array), set like frames

    @classmethod
    def read(cls, name: str, predictions: list[DigitPrediction], frames=None,
             rejected: list[RejectedMark] = (), lines: list[LineReading] = ()) -> ReadResult:
        """The result of a reading; the confidence is the least sure digit's probability.

        (The least, not the product: a product would punish long numbers from a model trained with
        label smoothing, whose probabilities top out near 0.9 even when it is right.)
        """
        confidence = min(d.probability for d in predictions) if predictions else 0.0
        message = None
        if not predictions:
            marks = f"; {len(rejected)} mark{'s' if len(rejected) > 1 else ''} that {'are' if len(rejected) > 1 else 'is'} not a digit" if rejected else ""
            message = NO_DIGIT + marks
        digits = "".join(str(d.digit) for d in predictions)
        if lines:
            digits = "\n".join(line.digits for line in lines)
        result = cls(input=name, digits=digits, text="\n".join(line.text for line in lines) if lines else digits,
                     confidence=confidence, low_confidence=bool(predictions) and confidence < LOW_CONFIDENCE,
                     message=message, predictions=predictions, rejected=list(rejected), lines=list(lines))
        result.frames = frames
        return result

    @classmethod
    def failed(cls, name: str, message: str) -> ReadResult:
        return cls(input=name, error=message)

    def to_json(self) -> dict:
        """The JSON-ready fields (``images`` only when set)."""
        payload = dataclasses.asdict(self)
        for optional in ("images", "source_image", "source_size"):
            if payload[optional] is None:
                del payload[optional]
        return payload
