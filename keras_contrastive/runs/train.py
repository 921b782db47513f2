"""`train(recipe, output_dir)`: one training path for every modality, driving a `Task`."""

import os

import keras

from keras_contrastive import distributed, models, recipes
from keras_contrastive.io_utils import atomic_write_json
from keras_contrastive.runs import core
from keras_contrastive.runs.image_task import ImageTask
from keras_contrastive.runs.image_text_task import ImageTextTask
from keras_contrastive.runs.text_task import TextTask

TASKS = {"image": ImageTask, "text": TextTask, "image_text": ImageTextTask}


def task_for(recipe):
    """The `Task` of a validated recipe, chosen by its method's modality."""
    modality = models.get_method(recipe["method"]["name"]).modality
    if modality not in TASKS:
        raise ValueError(f"No task for modality {modality!r}: known modalities are {', '.join(TASKS)}.")
    return TASKS[modality](recipe)


def train(recipe, output_dir, strategy="auto", verbose="auto", callbacks=(), precision=None, command=None):
    """Trains the recipe's method into the run directory `output_dir`, then evaluates it.

    Re-running the same call after an interruption resumes from the last finished epoch. The steps are the
    same for every modality (`runs.task.Task`): the seed is set, the data are read, the model is built and
    compiled in the strategy's scope, `fit` runs with backup / resume, the chief saves `model.keras`,
    evaluates and writes `metrics.json`.

    Args:
        recipe: dict. A recipe (validated here).
        output_dir: str. The run directory.
        strategy: str or `tf.distribute.Strategy`. See `distributed.resolve_strategy`. Defaults to `"auto"`.
        verbose: `fit` verbosity. Defaults to `"auto"`.
        callbacks: extra Keras callbacks.
        precision: str or None. Keras dtype policy of the model: `float32`, `mixed_float16` (Keras wraps
            the optimizer in a loss-scale optimizer; the train step calls `optimizer.scale_loss`),
            `mixed_bfloat16`, or `auto` (`precision.resolve_precision`: bfloat16 where the CPU runs it natively).
            Logits and losses stay float32. Defaults to `None`: the recipe's `train.precision`.
        command: str or None. The command line, saved as `command.txt`.

    Returns:
        The metrics dict also written to `output_dir/metrics.json` (on the chief; other workers return the
        training figures only).
    """
    recipe = recipes.validate(recipe)
    if precision is not None:  # recorded in the run's recipe.yaml like any other setting
        recipe["train"]["precision"] = precision
        recipe = recipes.validate(recipe)
    task = task_for(recipe)
    strategy = distributed.resolve_strategy(strategy)
    output_dir, chief = core.open_run_dir(recipe, output_dir, strategy, command)
    task.work_dir = output_dir
    cfg = recipe["train"]
    keras.utils.set_random_seed(cfg["seed"])
    examples = task.load_data()
    steps = core.check_batch_size(cfg, strategy, examples, task.examples_name)
    model = core.compile_in_scope(task.build_model, recipe, steps, strategy, cfg["precision"])
    dataset = task.training_dataset(model)
    monitors = task.monitors(model, os.path.join(output_dir, "logs"))
    history, progress = core.fit_run(model, dataset, cfg, steps, output_dir, verbose, callbacks, monitors)
    metrics = {**core.run_summary(recipe, task.data_name, history, progress, steps)}
    metrics.update(task.training_metrics(model, history))
    if chief:  # the chief saves and evaluates; another worker keeps its backup
        core.save_model(model, output_dir)
        metrics.update(task.evaluate(model))
        atomic_write_json(os.path.join(output_dir, "metrics.json"), metrics)
    distributed.finish_together(strategy)
    return metrics
