"""Plots: PNG files that are not blank; the temperature sweep's known limits."""

import sys

import numpy as np
import pytest
from PIL import Image

from keras_contrastive import cli, plots


def assert_png_not_blank(path, min_std=10.0):
    with Image.open(path) as image:
        assert image.format == "PNG"
        pixels = np.asarray(image.convert("L"), dtype=np.float64)
    assert pixels.shape[0] > 100 and pixels.shape[1] > 100
    assert pixels.std() > min_std, f"{path} looks blank (pixel std {pixels.std():.1f})"


def _clusters(seed=0, per_class=30, classes=3, dim=16):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, dim)) * 5
    labels = np.repeat(np.arange(classes), per_class)
    return centres[labels] + rng.normal(size=(len(labels), dim)), labels


def test_pca_projection_separates_clusters_and_plots(tmp_path):
    features, labels = _clusters()
    coordinates, name = plots.project_2d(features, "pca")
    assert name == "PCA" and coordinates.shape == (90, 2)
    centres = np.stack([coordinates[labels == c].mean(axis=0) for c in range(3)])
    spread = max(coordinates[labels == c].std() for c in range(3))
    assert min(np.linalg.norm(centres[i] - centres[j]) for i in range(3) for j in range(i)) > 2 * spread
    path = plots.plot_embeddings(features, labels, str(tmp_path / "e.png"), ["a", "b", "c"], projection="pca")
    assert_png_not_blank(path)
    with pytest.raises(ValueError, match="projection must be one of auto, pca, tsne. Received 'umap'"):
        plots.project_2d(features, "umap")


def test_similarity_heatmap_and_temperature_sweep(tmp_path):
    rng = np.random.default_rng(0)
    z_a = rng.normal(size=(8, 4)).astype("float32")
    z_b = z_a + 0.05 * rng.normal(size=(8, 4)).astype("float32")
    similarity = plots.cosine_similarity_of_views(z_a, z_b)
    assert similarity.shape == (16, 16)
    np.testing.assert_allclose(np.diag(similarity), 1.0, rtol=1e-6)
    assert np.all(similarity[np.arange(8), np.arange(8) + 8] > 0.95)  # the positives
    assert_png_not_blank(plots.plot_similarity(z_a, z_b, str(tmp_path / "s.png")))

    sweep = plots.temperature_sweep(z_a, z_b, [0.01, 1.0, 1e4])
    # Hot softmax: uniform over the 2n - 1 candidates, loss log(2n - 1); cold: all mass on the positive.
    assert sweep["loss"][-1] == pytest.approx(np.log(15), rel=1e-3)
    assert sweep["normalized_entropy"][-1] == pytest.approx(1.0, abs=1e-3)
    assert sweep["positive_probability"][0] > 0.99 and sweep["normalized_entropy"][0] < 0.05
    assert_png_not_blank(plots.plot_temperature(z_a, z_b, str(tmp_path / "t.png"), marked=0.2))


@pytest.mark.parametrize("figure", ["embeddings", "similarity", "temperature"])
def test_plot_commands_on_a_run(tiny_run_dir, tmp_path, figure):
    out = tmp_path / f"{figure}.png"
    extra = ["--count", "300", "--projection", "pca"] if figure == "embeddings" else ["--batch", "12"]
    assert cli.main(["plot", figure, "--run", tiny_run_dir, "--out", str(out), *extra]) == 0
    assert_png_not_blank(out)


def test_plot_of_a_missing_run_is_an_error(tmp_path, capsys):
    assert cli.main(["plot", "similarity", "--run", str(tmp_path), "--out", str(tmp_path / "x.png")]) == 2
    assert "is not a finished run" in capsys.readouterr().err


@pytest.mark.parametrize("figure", ["embeddings", "similarity", "temperature"])
def test_plot_without_matplotlib_says_which_extra_to_install(tmp_path, capsys, monkeypatch, figure):
    for module in ("matplotlib", "matplotlib.pyplot"):
        monkeypatch.setitem(sys.modules, module, None)  # `import matplotlib` now raises ImportError
    out = tmp_path / "x.png"
    assert cli.main(["plot", figure, "--run", str(tmp_path / "no-run"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert 'pip install "keras-contrastive[plots]"' in err and "matplotlib" in err
    assert not out.exists()
