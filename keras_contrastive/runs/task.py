"""`Task`: what a run does that depends on the kind of data its method reads.

`runs.train` drives a task through the same steps for every modality:

    task = ImageTask(recipe)                # or TextTask, ImageTextTask: `runs.task_for(recipe)`
    n = task.load_data()                    # training examples
    model = task.build_model()              # the method on its encoder(s), not compiled
    dataset = task.training_dataset(model)  # batches `fit` takes (repeated, shuffled)
    monitors = task.monitors(model, logs)   # callbacks that add to each epoch's logs
    metrics = task.training_metrics(history)
    metrics |= task.evaluate(model)         # after training, on the chief
    paths = task.export(model, target, ...) # TF Serving SavedModels

Each task lives in its own module and none imports another; what they share is in `runs.core`.
"""


class Task:
    """Base class of the image, text and image-text tasks.

    Args:
        recipe: dict. A validated recipe (`recipes.load` / `recipes.validate`).
    """

    modality = None

    def __init__(self, recipe, work_dir=None):
        self.recipe = recipe
        self.data = None
        # The directory this process writes (the run directory, or a worker's own): listings, skip logs.
        self.work_dir = work_dir

    @property
    def data_name(self):
        """The name of the training data, as `metrics.json` records it."""
        return self.recipe["data"]["source"]

    @property
    def examples_name(self):
        """What the training examples are, for messages ("training images of fashion_mnist_subset")."""
        return f"training examples of {self.data_name}"

    def load_data(self):
        """Reads the recipe's training data (checking its paths now). Returns the number of training
        examples."""
        raise NotImplementedError

    def build_model(self):
        """The recipe's method on its encoder(s), not compiled (called inside the strategy's scope)."""
        raise NotImplementedError

    def training_dataset(self, model):
        """A repeated, shuffled `tf.data.Dataset` of the batches `model.fit` takes."""
        raise NotImplementedError

    def monitors(self, model, log_dir):
        """Callbacks that add a value to each epoch's logs (before `history.csv` is written)."""
        return []

    def training_metrics(self, model, history):
        """What the run measured while training, beyond `core.run_summary`."""
        return {}

    def evaluate(self, model):
        """What the run measures after training (on the chief process)."""
        return {}

    def export(self, model, target, version=None, assets=None, **options):
        """Exports `model` as TF Serving SavedModel(s) under `target`. Returns `{name: version folder}`."""
        raise NotImplementedError
