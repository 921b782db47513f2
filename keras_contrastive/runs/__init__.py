"""The run layer: one place that trains a recipe, and uses what it trained.

The command line, the zoo, the benchmarks and a user's own Python all call these:

- `train(recipe, output_dir)`: data -> views -> method -> loss -> `fit` (backup / resume, non-finite-loss
  guard) -> evaluation, for every modality through a `Task` (`ImageTask`, `TextTask`, `ImageTextTask`);
- `load_run(run_dir)`, `open_model(spec)`: a finished run, or any model (run, export, zoo name);
- `export_run`, `evaluate_run` (and `evaluate_linear_probe`, `evaluate_knn`, `evaluate_sts`,
  `evaluate_zero_shot`, `evaluate_retrieval`), `few_shot_run`, `mine_triplets` (hard negatives);
- `embed`, `write_embeddings` (`.npy` + ids, or `.parquet`), `read_embeddings`: vectors for retrieval.

`runs.core` holds what every run shares (run directory, batch checks, `fit_run`, atomic saves); the
strategy comes from `distributed`, the optimizer from `optimizers`, the precision from `precision`.
"""

from keras_contrastive.distributed import resolve_strategy
from keras_contrastive.run_options import PRECISIONS, STRATEGIES
from keras_contrastive.runs.actions import (
    EVALUATIONS,
    evaluate_knn,
    evaluate_linear_probe,
    evaluate_retrieval,
    evaluate_run,
    evaluate_sts,
    evaluate_zero_shot,
    export_run,
    export_zero_shot_run,
    few_shot_run,
    mine_triplets,
)
from keras_contrastive.runs.core import TrainingError, load_recipe, load_run, run_assets
from keras_contrastive.runs.embeddings import embed, read_embeddings, write_embeddings
from keras_contrastive.runs.image_task import ImageTask
from keras_contrastive.runs.image_text_task import ImageTextTask
from keras_contrastive.runs.sources import ModelSource, open_model
from keras_contrastive.runs.task import Task
from keras_contrastive.runs.text_task import TextTask
from keras_contrastive.runs.train import TASKS, task_for, train

__all__ = [
    "EVALUATIONS",
    "PRECISIONS",
    "STRATEGIES",
    "TASKS",
    "ImageTask",
    "ImageTextTask",
    "ModelSource",
    "Task",
    "TextTask",
    "TrainingError",
    "evaluate_knn",
    "evaluate_linear_probe",
    "evaluate_retrieval",
    "evaluate_run",
    "evaluate_sts",
    "embed",
    "evaluate_zero_shot",
    "export_run",
    "export_zero_shot_run",
    "few_shot_run",
    "load_recipe",
    "load_run",
    "mine_triplets",
    "open_model",
    "read_embeddings",
    "resolve_strategy",
    "run_assets",
    "task_for",
    "train",
    "write_embeddings",
]
