"""Property tests: arbitrary bytes and arrays never raise anything but the project's own error."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from digitcnn.imaging import ImageError, decode_image, image_to_digits

PNG_HEADER = b"\x89PNG\r\n\x1a\n"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.one_of(st.binary(max_size=2048), st.binary(max_size=512).map(lambda b: PNG_HEADER + b),
                     st.binary(max_size=512).map(lambda b: b"GIF89a" + b),
                     st.binary(max_size=512).map(lambda b: b"\xff\xd8\xff" + b)))
def test_arbitrary_bytes(reader, raw):
    try:
        image = decode_image(raw)
        image_to_digits(image)
    except ImageError:
        pass
    result = reader.read(raw)  # the reader turns every ImageError into a result
    assert result.error is None or isinstance(result.error, str)


shapes = st.tuples(st.integers(1, 64), st.integers(1, 64)).flatmap(
    lambda hw: st.sampled_from([hw, (*hw, 1), (*hw, 3), (*hw, 4), (hw[0],), (*hw, 2), (*hw, 3, 1)]))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(array=st.one_of(
    arrays(np.uint8, shapes),
    arrays(np.float32, shapes, elements=st.floats(-2, 2, width=32) | st.sampled_from([np.nan, np.inf])),
    arrays(np.uint16, shapes), arrays(np.bool_, shapes), arrays(np.int64, shapes)))
def test_arbitrary_arrays(reader, array):
    try:
        digits, boxes = image_to_digits(array)
    except ImageError:
        return
    assert digits.shape[1:] == (28, 28, 1) and len(digits) == len(boxes)
    assert np.isfinite(digits).all() and ((digits >= 0) & (digits <= 1)).all()
    result = reader.read(array)
    assert len(result.digits.replace("\n", "")) == len(result.predictions)  # lines are joined by newlines
