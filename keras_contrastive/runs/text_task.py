"""The text task: sentences -> token ids (in the graph) -> a text method (SimCSE) -> `fit`.

`metrics.json` holds the training figures. STS scores need the STS files, which the package never
assumes: `keras-contrastive evaluate sts --model RUN --sts-dir DIR` (`runs.evaluate_run`), or
`benchmarks/bench_sts.py`.

Training batches hold at most `TRAIN_SEQUENCE_LENGTH` = 32 tokens per sentence (SimCSE's setting,
appendix A); the encoder's own `sequence_length` (its tokenizer's) applies to embeddings, evaluation and
export.

Recipe keys used: `encoder.name` (`minilm`, `bert_preset`, `small_transformer`, with their builder
arguments), `method` (the text method's arguments), `data.source` / `data.path` (see
`load_text_columns`), `data.min_gold` (`stsb` only), `data.hard_negatives` / `data.mine_margin` (`stsb`,
`tsv` pairs; `add_mined_negatives`), `data.low_gold_negatives` (`stsb`; `low_gold_triplets`), `train`
(not `online_probe` or `knn_monitor_every`), `optimizer`, `export.name`.
"""

from keras_contrastive import data, models, recipes
from keras_contrastive.data import sources, text_files
from keras_contrastive.runs.task import Task

TRAIN_SEQUENCE_LENGTH = 32


def text_source(recipe):
    """The parsed `data.source` of a text recipe (`data.sources`: its kind and file), or a `RecipeError`."""
    cfg = recipe["data"]
    try:
        return sources.parse(cfg["source"], "text", path=cfg["path"], what="data.source")
    except sources.SourceError as e:
        if sources.find(cfg["source"], "text") is None:
            raise recipes.RecipeError(
                f"data.source: {cfg['source']!r} is not a text source; text methods take one of "
                f"{sources.help_text('text')}."
            ) from None
        raise recipes.RecipeError(str(e)) from None


def load_text_columns(recipe):
    """The training sentences of the recipe's `data` section, as a tuple of columns: any text source of
    `data.sources` (`wordnet`, `wordnet_triplets`, `text:PATH`, `tsv:PATH`, `stsb:PATH`; the file may be
    `data.path` instead), `data.min_gold` for `stsb`, `train.seed` for `wordnet_triplets`."""
    spec = text_source(recipe)
    return spec.kind.load(spec, min_gold=recipe["data"]["min_gold"], seed=recipe["train"]["seed"])


def open_text_file(recipe):
    """The checked file (`data.text_files.TextFile`) of a source streamed when training (`text:PATH`,
    `tsv:PATH`); `None` for the in-memory ones (WordNet, a fixed corpus of 165,000 sentences; STS-B) and for
    pairs whose hard negatives are mined (mining needs every pair at once)."""
    spec = text_source(recipe)
    if spec.kind.in_memory or recipe["data"]["hard_negatives"]:
        return None
    return spec.kind.open(spec)


def mining_corpus(recipe, columns):
    """The sentences hard negatives are mined from: the source's corpus (`data.sources`: every sentence of the
    STS-B file, whatever its score, for `stsb`; the distinct sentences of the pairs for `tsv`)."""
    spec = text_source(recipe)
    return spec.kind.corpus(spec)


def add_mined_negatives(recipe, model, columns):
    """`(anchors, positives, negatives)`: `data.hard_negatives` negatives mined per pair with `model` (the
    encoder as built, before training), one of them drawn per pair (seeded). A pair left with no candidate
    (every corpus sentence within the margin) gets a random corpus sentence, so the steps per epoch do not
    change.

    Returns:
        `(columns, info)`, `info` the mining figures recorded in `metrics.json`.
    """
    import time

    import numpy as np

    from keras_contrastive.mining import mine_hard_negatives

    cfg = recipe["data"]
    if len(columns) != 2:
        raise recipes.RecipeError(
            f"data.hard_negatives={cfg['hard_negatives']} mines negatives for (anchor, positive) pairs, but "
            f"data.source {cfg['source']!r} gives {'triplets' if len(columns) == 3 else 'single sentences'}: "
            "use a pairs source (stsb:PATH, or tsv:PATH with two columns), or set data.hard_negatives=0."
        )
    start = time.perf_counter()
    corpus = mining_corpus(recipe, columns)
    mined = mine_hard_negatives(
        model, columns[0], columns[1], corpus, k=cfg["hard_negatives"], margin=cfg["mine_margin"], progress=False
    )
    rng = np.random.default_rng(recipe["train"]["seed"])
    negatives, random_draws = [], 0
    for anchor, positive, row in zip(*columns, mined["negatives"]):
        if not row:
            random_draws += 1
            row = [s for s in (corpus[i] for i in rng.integers(len(corpus), size=8)) if s not in (anchor, positive)]
        negatives.append(row[rng.integers(len(row))] if row else corpus[0])
    info = {
        "hard_negatives": cfg["hard_negatives"],
        "mine_margin": cfg["mine_margin"],
        "mine_corpus": len(corpus),
        "mine_seconds": round(time.perf_counter() - start, 1),
        "pairs_with_random_negative": random_draws,
    }
    return (list(columns[0]), list(columns[1]), negatives), info


def low_gold_triplets(recipe):
    """`(sentences_1, sentences_1, sentences_2)` of the STS-B pairs scored <= `data.low_gold_negatives`, or
    `None` when the key is unset: each sentence is its own positive (a second dropout view) and its low-scored
    partner its hard negative. One row per anchor (a repeated anchor in a batch would turn its own positive into
    a negative); pairs of two equal sentences are left out.

    Raises:
        RecipeError: the key is set without mined hard negatives (the rows join the mined triplets).
    """
    cfg = recipe["data"]
    if cfg["low_gold_negatives"] is None:
        return None
    if not cfg["hard_negatives"]:
        raise recipes.RecipeError(
            "data.low_gold_negatives adds STS-B's low-scored pairs as triplets beside the mined ones: set "
            "data.hard_negatives >= 1 too (the training rows are then triplets)."
        )
    first, second, gold = data.load_stsb_rows(text_source(recipe).argument)
    seen, rows = set(), []
    for a, b, g in zip(first, second, gold):
        if g <= cfg["low_gold_negatives"] and a and b and a != b and a not in seen:
            seen.add(a)
            rows.append((a, b))
    return [a for a, _ in rows], [a for a, _ in rows], [b for _, b in rows]


def build_text_model(recipe):
    """The recipe's text method on its text encoder (not compiled)."""
    from keras_contrastive.text import build_text_encoder

    enc = dict(recipe["encoder"])
    encoder = build_text_encoder(enc.pop("name"), **enc)
    method = dict(recipe["method"])
    return models.get_method(method.pop("name"))(encoder, **method)


class TextTask(Task):
    """Sentences (WordNet, text files, TSV pairs / triplets) into a text method."""

    modality = "text"

    def load_data(self):
        self.mining, self.low_gold = {}, None
        self.text_file = open_text_file(self.recipe)
        if self.text_file is not None:  # streamed from disk
            return self.text_file.sentences
        self.data = load_text_columns(self.recipe)
        self.low_gold = low_gold_triplets(self.recipe)
        return len(self.data[0]) + (len(self.low_gold[0]) if self.low_gold else 0)

    @property
    def examples_name(self):
        return "training sentences"

    def build_model(self):
        return build_text_model(self.recipe)

    def training_dataset(self, model):
        cfg = self.recipe["train"]
        tokenizer = model.encoder.tokenizer
        if self.recipe["data"]["hard_negatives"] and not self.mining:
            # Mined with the encoder as built, before `fit` restores a backup: a resumed run mines the same.
            self.data, self.mining = add_mined_negatives(self.recipe, model, self.data)
            if self.low_gold:
                self.data = tuple(c + extra for c, extra in zip(self.data, self.low_gold))
                self.mining["low_gold_triplets"] = len(self.low_gold[0])
        if self.text_file is not None:
            return text_files.text_file_dataset(
                self.text_file,
                tokenizer,
                cfg["batch_size"],
                shuffle=True,
                seed=cfg["seed"],
                repeat=True,
                sequence_length=min(tokenizer.sequence_length, TRAIN_SEQUENCE_LENGTH),
            )
        return data.text_dataset(
            self.data,
            tokenizer,
            cfg["batch_size"],
            shuffle=True,
            seed=cfg["seed"],
            repeat=True,
            sequence_length=min(tokenizer.sequence_length, TRAIN_SEQUENCE_LENGTH),
        )

    def training_metrics(self, model, history):
        logs = history.history
        accuracy = logs.get("contrastive_accuracy")
        return {
            "encoder": self.recipe["encoder"]["name"],
            "sentences": (
                self.text_file.sentences
                if self.text_file is not None
                else len(self.data[0]) - self.mining.get("low_gold_triplets", 0)
            ),
            "final_contrastive_accuracy": float(accuracy[-1]) if accuracy else None,
            **self.mining,
        }

    def export(self, model, target, version=None, assets=None, **options):
        from keras_contrastive.export.text_export import export_text_encoder

        if options:
            raise ValueError(f"A text encoder's export takes no {sorted(options)}: they are for CLIP runs.")
        return {"encoder": export_text_encoder(model, target, version=version, assets=assets)}
