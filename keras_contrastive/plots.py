"""Figures of a representation: embeddings, view similarities, temperature.

Each `plot_*` function takes arrays and writes a PNG (matplotlib, Agg
backend: no display needed); the `*_of_model` functions compute those arrays
from a run directory for `keras-contrastive plot`.
"""

import os

import numpy as np

PROJECTIONS = ("auto", "pca", "tsne")


PLOTS_EXTRA = 'pip install "keras-contrastive[plots]"'


def require_plotting():
    """Raises a `ValueError` that says how to install the `[plots]` extra when matplotlib is missing
    (checked before any model is loaded)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ValueError(f"plots need matplotlib, which is not installed: {PLOTS_EXTRA}.") from None


def _pyplot():
    require_plotting()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path):
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    _pyplot().close(fig)
    return path


def project_2d(features, projection="auto", seed=0):
    """2-D coordinates of `features` `[N, D]`, and the projection used.

    `pca`: the two leading principal components (NumPy SVD of the centred
    features). `tsne`: scikit-learn's t-SNE on L2-normalised features (cosine
    geometry, as the kNN evaluation). `auto`: t-SNE when scikit-learn is
    installed, else PCA.

    Returns:
        `(coordinates [N, 2], name)`.
    """
    if projection not in PROJECTIONS:
        raise ValueError(f"projection must be one of {', '.join(PROJECTIONS)}. Received {projection!r}.")
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or len(features) < 3:
        raise ValueError(f"Expected at least 3 features of shape [N, D]. Received shape {features.shape}.")
    if projection in ("auto", "tsne"):
        try:
            from sklearn.manifold import TSNE
        except ImportError:
            if projection == "tsne":
                raise ValueError("projection 'tsne' needs scikit-learn: pip install scikit-learn.") from None
        else:
            unit = features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
            perplexity = float(min(30.0, (len(unit) - 1) / 3))
            tsne = TSNE(2, perplexity=perplexity, init="pca", random_state=seed, metric="cosine")
            return tsne.fit_transform(unit), "t-SNE"
    centred = features - features.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    coordinates = centred @ vt[:2].T
    if coordinates.shape[1] < 2:  # one-dimensional features
        coordinates = np.pad(coordinates, ((0, 0), (0, 2 - coordinates.shape[1])))
    return coordinates, "PCA"


def plot_embeddings(features, labels, path, class_names=None, projection="auto", title=None, seed=0):
    """Scatter plot of a 2-D projection of `features`, one colour per class.

    Args:
        features: array `[N, D]`.
        labels: int array `[N]`.
        path: str. PNG file to write.
        class_names: sequence of str or None. Legend names by label.
        projection: str. `auto`, `pca` or `tsne` (see `project_2d`).
        title: str or None.
        seed: int. t-SNE seed. Defaults to `0`.

    Returns:
        `path`.
    """
    labels = np.asarray(labels).reshape(-1)
    if len(labels) != len(features):
        raise ValueError(f"{len(features)} features but {len(labels)} labels.")
    coordinates, name = project_2d(features, projection, seed=seed)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 6))
    cmap = plt.get_cmap("tab10" if labels.max() < 10 else "tab20")
    for label in np.unique(labels):
        points = coordinates[labels == label]
        text = class_names[label] if class_names is not None else str(label)
        ax.scatter(points[:, 0], points[:, 1], s=6, alpha=0.7, color=cmap(int(label) % cmap.N), label=text)
    ax.legend(markerscale=3, fontsize=8, loc="best", framealpha=0.8)
    ax.set_xlabel(f"{name} 1")
    ax.set_ylabel(f"{name} 2")
    ax.set_title(title or f"{name} of {len(labels)} embeddings, coloured by class")
    return _save(fig, path)


def cosine_similarity_of_views(z_a, z_b):
    """`[2n, 2n]` cosine similarities of the views `[z_a; z_b]` (row `i` and
    row `i + n` are the two views of example `i`)."""
    z = np.concatenate([np.asarray(z_a, np.float64), np.asarray(z_b, np.float64)], axis=0)
    z = z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)
    return z @ z.T


def plot_similarity(z_a, z_b, path, title=None):
    """Heatmap of the cosine similarities of a batch of views, positives boxed.

    Rows and columns are ordered `a_1..a_n, b_1..b_n`: the positive pairs
    `(a_i, b_i)` lie on the two off-diagonals at distance `n`, marked with
    boxes; NT-Xent pulls those up and pushes every other off-diagonal entry
    down.

    Returns:
        `path`.
    """
    similarity = cosine_similarity_of_views(z_a, z_b)
    n = len(similarity) // 2
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 6))
    image = ax.imshow(similarity, cmap="viridis", vmin=-1, vmax=1, interpolation="nearest")
    fig.colorbar(image, ax=ax, label="cosine similarity")
    from matplotlib.patches import Rectangle

    for i in range(n):
        for row, col in ((i, i + n), (i + n, i)):
            ax.add_patch(Rectangle((col - 0.5, row - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=1.2))
    ax.axhline(n - 0.5, color="white", linewidth=0.8)
    ax.axvline(n - 0.5, color="white", linewidth=0.8)
    ticks = [n // 2, n + n // 2]
    ax.set_xticks(ticks, ["view 1", "view 2"])
    ax.set_yticks(ticks, ["view 1", "view 2"])
    positives = similarity[np.arange(n), np.arange(n) + n]
    negatives = similarity[~np.eye(2 * n, dtype=bool) & ~np.roll(np.eye(2 * n, dtype=bool), n, axis=1)]
    ax.set_title(
        title
        or f"{n} examples x 2 views (red boxes: positive pairs)\n"
        f"mean positive {positives.mean():.2f}, mean negative {negatives.mean():.2f}"
    )
    return _save(fig, path)


def temperature_sweep(z_a, z_b, temperatures):
    """NT-Xent loss and softmax sharpness of one batch at each temperature.

    Uses `losses.nt_xent` itself. Sharpness is read from its logits: the mean
    softmax probability of each anchor's positive, and the mean entropy of
    the softmax over the `2n - 1` candidates divided by `log(2n - 1)` (1 is
    uniform, 0 is one-hot).

    Returns:
        A dict of float arrays: `temperature`, `loss`, `positive_probability`,
        `normalized_entropy`, and the float `uniform_loss` (`log(2n - 1)`).
    """
    from keras import ops

    from keras_contrastive.losses import nt_xent

    n = len(z_a)
    out = {"temperature": [], "loss": [], "positive_probability": [], "normalized_entropy": []}
    for tau in temperatures:
        loss, logits, labels = nt_xent(z_a, z_b, temperature=float(tau), return_logits=True)
        logits = np.asarray(ops.convert_to_numpy(logits), np.float64)
        labels = np.asarray(ops.convert_to_numpy(labels))
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        entropy = -np.sum(np.where(probs > 0, probs * np.log(np.maximum(probs, 1e-300)), 0.0), axis=1)
        out["temperature"].append(float(tau))
        out["loss"].append(float(loss))
        out["positive_probability"].append(float(np.mean(probs[np.arange(len(labels)), labels])))
        out["normalized_entropy"].append(float(np.mean(entropy) / np.log(2 * n - 1)))
    result = {k: np.asarray(v) for k, v in out.items()}
    result["uniform_loss"] = float(np.log(2 * n - 1))
    return result


def plot_temperature(z_a, z_b, path, temperatures=None, marked=None, title=None):
    """NT-Xent loss (left) and softmax sharpness (right) against temperature
    for one batch of view pairs, on a log temperature axis.

    Args:
        z_a, z_b: arrays `[n, d]`. The two views' embeddings (what the loss sees).
        path: str. PNG file to write.
        temperatures: sequence of floats or None. Defaults to 30 values from
            0.01 to 2, geometrically spaced.
        marked: float or None. A temperature to mark (the recipe's).
        title: str or None.

    Returns:
        `path`.
    """
    if temperatures is None:
        temperatures = np.geomspace(0.01, 2.0, 30)
    sweep = temperature_sweep(z_a, z_b, temperatures)
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    t = sweep["temperature"]
    left.plot(t, sweep["loss"], "o-", markersize=3, label="NT-Xent loss")
    left.axhline(sweep["uniform_loss"], color="grey", linestyle="--", label="log(2n-1): uniform softmax")
    left.set_ylabel("loss")
    right.plot(t, sweep["positive_probability"], "o-", markersize=3, label="p(positive)")
    right.plot(t, sweep["normalized_entropy"], "s-", markersize=3, label="entropy / log(2n-1)")
    right.set_ylim(-0.02, 1.02)
    right.set_ylabel("softmax sharpness")
    for ax in (left, right):
        ax.set_xscale("log")
        ax.set_xlabel("temperature τ")
        if marked is not None:
            ax.axvline(marked, color="red", linewidth=1, label=f"recipe τ = {marked:g}")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3, which="both")
    n = len(z_a)
    fig.suptitle(title or f"One batch of {n} view pairs: loss and softmax sharpness against τ")
    return _save(fig, path)


# --- from a model: a run directory, an export or a zoo name ---------------------------------------------------


def _model_and_splits(spec, data_spec=None):
    from keras_contrastive.runs import actions, open_model

    source = open_model(spec)
    source.require("image", "These plots")
    return source, actions.image_splits(source, data_spec)


def _view_embeddings(source, images, seed):
    """Embeddings of two augmented views (the recipe's) of `images`, as the loss sees them: after the
    projection head when the model is a Keras method with one, else the encoder's (or export's) features."""
    from keras_contrastive.evaluation import images_to_float
    from keras_contrastive.runs.views import build_views

    if source.recipe is None:
        raise ValueError(f"{source.spec} does not carry its training recipe, whose views these plots draw.")
    views = build_views(source.recipe, images.shape[1:], seed=seed)[:2]
    batch = images_to_float(images)
    out = []
    for view in views:
        augmented = np.asarray(view(batch))
        if source.model is None:
            out.append(source.exported(augmented))
            continue
        features = source.model.encoder(augmented, training=False)
        projector = getattr(source.model, "projector", None)
        out.append(np.asarray(projector(features, training=False) if projector is not None else features))
    return out


def embeddings_of_model(model, path, data_spec=None, count=2000, projection="auto", seed=0):
    """`plot_embeddings` of the features of the first `count` test images (`model`: a run directory, an
    export or a zoo name)."""
    source, splits = _model_and_splits(model, data_spec)
    images, labels = splits.x_test[:count], splits.y_test[:count]
    features = source.embed_images(images)
    method = (source.recipe or {}).get("method", {}).get("name", "encoder")
    title = f"{method} features of {len(labels)} {splits.name} test images"
    return plot_embeddings(features, labels, path, splits.class_names, projection=projection, title=title, seed=seed)


def similarity_of_model(model, path, data_spec=None, batch=16, seed=0):
    """`plot_similarity` of two recipe-augmented views of `batch` test images."""
    source, splits = _model_and_splits(model, data_spec)
    z_a, z_b = _view_embeddings(source, splits.x_test[:batch], seed)
    return plot_similarity(z_a, z_b, path)


def temperature_of_model(model, path, data_spec=None, batch=128, seed=0):
    """`plot_temperature` of two recipe-augmented views of `batch` test images."""
    source, splits = _model_and_splits(model, data_spec)
    z_a, z_b = _view_embeddings(source, splits.x_test[:batch], seed)
    temperature = getattr(source.model, "temperature", None) if source.model is not None else None
    return plot_temperature(z_a, z_b, path, marked=temperature)
