import numpy as np
import pytest

from keras_contrastive.backbones import ConvNet, ResNet, build_backbone


@pytest.mark.parametrize(
    "depth,features,params", [(18, 512, 11_168_832), (34, 512, 21_276_992), (50, 2048, 23_500_352)]
)
def test_resnet_small_image_stem_output_and_size(depth, features, params):
    model = ResNet(depth=depth, input_shape=(32, 32, 3), small_images=True)
    assert model.output_shape == (None, features)
    # torchvision's counts without the classifier, with the 3x3 stem.
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == params
    assert model.get_layer("stem_conv").kernel.shape == (3, 3, 3, 64)
    assert "stem_pool" not in [layer.name for layer in model.layers]


def test_resnet_imagenet_stem_and_width_multiplier():
    model = ResNet(depth=18, input_shape=(64, 64, 3), small_images=False, width_multiplier=0.5)
    assert model.get_layer("stem_conv").kernel.shape == (7, 7, 3, 32)
    assert model.get_layer("stem_pool") is not None
    assert model.output_shape == (None, 256)


def test_convnet_and_builder():
    model = build_backbone("convnet", (28, 28, 1), width=8, stages=2)
    assert model.output_shape == (None, 32)
    assert model(np.zeros((2, 28, 28, 1), "float32")).shape == (2, 32)
    assert (
        build_backbone("keras.applications.MobileNetV3Small", (32, 32, 3), include_preprocessing=False).output_shape[-1]
        > 0
    )


def test_bad_backbone_arguments():
    with pytest.raises(ValueError, match="depth=19"):
        ResNet(depth=19)
    with pytest.raises(ValueError, match="Unknown encoder 'vgg'"):
        build_backbone("vgg", (32, 32, 3))
    with pytest.raises(ValueError, match="output_pool"):
        ConvNet(output_pool="median")
