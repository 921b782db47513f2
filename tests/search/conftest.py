import numpy as np
import pytest


@pytest.fixture(scope="session")
def text_exports(tmp_path_factory):
    """Three tiny text encoder exports: `main` (seed 0), `other` (seed 1, same size), `wide` (16 dimensions);
    and the in-process model of `main`."""
    pytest.importorskip("tensorflow_text", reason="pip install -e .[text]")
    from keras_contrastive.export.text_export import export_text_encoder
    from keras_contrastive.models import SimCSE
    from keras_contrastive.testing import tiny_simcse
    from keras_contrastive.text.testing import tiny_text_encoder

    root = tmp_path_factory.mktemp("text_exports")
    model = tiny_simcse(seed=0)
    paths = {
        "main": export_text_encoder(model, root / "main"),
        "other": export_text_encoder(tiny_simcse(seed=1), root / "other"),
        "wide": export_text_encoder(SimCSE(tiny_text_encoder(hidden_dim=16), pooling="mean"), root / "wide"),
    }
    return paths, model


@pytest.fixture(scope="session")
def image_export(tmp_path_factory):
    """A tiny image encoder export (16 x 16 RGB) and a folder of 30 PNGs (3 colours, noise)."""
    import keras
    from PIL import Image

    from keras_contrastive.export import export_encoder

    keras.utils.set_random_seed(0)
    encoder = keras.Sequential(
        [keras.Input((16, 16, 3)), keras.layers.Conv2D(4, 3, activation="relu"), keras.layers.Flatten(),
         keras.layers.Dense(8)]
    )  # fmt: skip
    root = tmp_path_factory.mktemp("image_export")
    path = export_encoder(encoder, root / "encoder")
    rng = np.random.default_rng(0)
    folder = root / "images"
    for c, colour in enumerate(([200, 30, 30], [30, 200, 30], [30, 30, 200])):
        (folder / f"class{c}").mkdir(parents=True)
        for i in range(10):
            pixels = np.clip(np.array(colour) + rng.normal(0, 40, (16, 16, 3)), 0, 255).astype("uint8")
            Image.fromarray(pixels).save(folder / f"class{c}" / f"{i}.png")
    return path, str(folder), encoder
