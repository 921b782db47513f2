"""The evaluation protocols, by modality. The run layer (`runs`: each task's evaluation after training, and
`runs.evaluate_run` by name, `runs.EVALUATIONS`) and the zoo's re-evaluation call these.

- image: `linear_probe` and `knn_classify` on frozen features (`evaluate_features`, `evaluate_encoder`,
  `baselines`; `extract_features`), `few_shot` fine-tuning beside training from scratch;
- text: `sts` (STS12-16 and STS-B Spearman);
- image-text: `zero_shot` classification and `retrieval` recall, on pairs together in `image_text`.
"""

from keras_contrastive.evaluation.evaluate_encoder import (
    baselines,
    evaluate_encoder,
    evaluate_features,
)
from keras_contrastive.evaluation.extract_features import (
    extract_dataset_features,
    extract_features,
    images_to_float,
)
from keras_contrastive.evaluation.knn_classify import knn_classify, l2_normalize
from keras_contrastive.evaluation.linear_probe import linear_probe, standardize
from keras_contrastive.evaluation.sts import evaluate_sts, load_sts

__all__ = [
    "baselines",
    "evaluate_encoder",
    "evaluate_features",
    "evaluate_sts",
    "extract_dataset_features",
    "extract_features",
    "images_to_float",
    "knn_classify",
    "l2_normalize",
    "linear_probe",
    "load_sts",
    "standardize",
]
