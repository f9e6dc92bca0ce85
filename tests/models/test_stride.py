"""network_stride: the downsampling factor inputs must be multiples of, for every decoder."""

import pytest

from keras_seg.export import network_stride
from keras_seg.models import get_model


@pytest.mark.parametrize("name, options, stride", [
    ("unet", {"filters": 4, "depth": 3}, 8),
    ("unet", {"encoder": "mobilenetv3small", "filters": 4}, 32),  # squeeze-excite pooling
    ("deeplabv3_plus", {"encoder": "mobilenetv3small"}, 32),  # ASPP image pooling
])
def test_global_pooling_does_not_count_as_downsampling(name, options, stride):
    model = get_model(name, input_shape=(None, None, 3), **options)
    assert network_stride(model) == stride
