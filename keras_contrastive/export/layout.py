"""TF Serving's folder layout, `<model>/<version>/`, and where the model zoo keeps its models.

A model folder holds integer version folders, each a SavedModel (`saved_model.pb`, `variables/`,
`assets/`); TF Serving loads the highest. Hidden folders (`.tmp-*`, `.publish-*`) are work in progress and
never count as versions.
"""

import os

_REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def model_versions(model_dir):
    """The integer versions under a model folder that hold a SavedModel, sorted."""
    if not os.path.isdir(model_dir):
        return []
    return sorted(
        int(v)
        for v in os.listdir(model_dir)
        if v.isdigit() and os.path.isfile(os.path.join(model_dir, v, "saved_model.pb"))
    )


def next_version(model_dir):
    """One more than the largest integer version folder under `model_dir` (1 for a new or empty folder)."""
    if not os.path.isdir(model_dir):
        return 1
    versions = [
        int(name) for name in os.listdir(model_dir) if name.isdigit() and os.path.isdir(os.path.join(model_dir, name))
    ]
    return max(versions, default=0) + 1


def version_dir(path):
    """The SavedModel folder of `path`: `path` itself if it holds `saved_model.pb`, the highest version if
    it is a model folder, else `None`."""
    path = os.fspath(path)
    if os.path.isfile(os.path.join(path, "saved_model.pb")):
        return path
    versions = model_versions(path)
    return os.path.join(path, str(versions[-1])) if versions else None


def zoo_root():
    """Where the zoo's models are: `$KERAS_CONTRASTIVE_ZOO`, else the `savedmodels/` folder of the checkout
    the package runs from (an editable install, `pip install -e .`), else `./savedmodels`. The models are not
    inside the installed package: after `pip install .`, set `KERAS_CONTRASTIVE_ZOO` (or pass `root=`,
    `--root`) to a checkout's `savedmodels/`."""
    if os.environ.get("KERAS_CONTRASTIVE_ZOO"):
        return os.environ["KERAS_CONTRASTIVE_ZOO"]
    repo = os.path.join(_REPO, "savedmodels")
    return repo if os.path.isdir(repo) else "savedmodels"


def empty_zoo_message(root):
    """What to do when the zoo at `root` holds no model."""
    where = os.path.abspath(root)
    state = "does not exist" if not os.path.isdir(root) else "holds no models"
    return (
        f"The model zoo at {where} {state}: models are expected as {where}/<name>/<version>/saved_model.pb. "
        "The zoo is not inside the installed package; point KERAS_CONTRASTIVE_ZOO (or root=, --root) at the "
        "savedmodels/ folder of a keras-contrastive checkout, e.g. "
        "`export KERAS_CONTRASTIVE_ZOO=/path/to/keras-contrastive/savedmodels`."
    )
