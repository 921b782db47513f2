"""Text sources: WordNet, text files, sentence-pair TSVs and STS Benchmark CSVs."""

from keras_contrastive.data.sources import SourceKind


def _wordnet_dir(spec):
    from keras_contrastive.data import text

    return spec.argument or text.WORDNET_DIR


def _wordnet(spec, min_gold=None, seed=0):
    from keras_contrastive.data import text

    return (text.load_wordnet(_wordnet_dir(spec)),)


def _wordnet_triplets(spec, min_gold=None, seed=0):
    from keras_contrastive.data import text

    return text.load_wordnet_triplets(_wordnet_dir(spec), seed=seed)


def _wordnet_corpus(spec):
    from keras_contrastive.data import text

    return text.load_wordnet(_wordnet_dir(spec))


def _lines(spec, min_gold=None, seed=0):
    from keras_contrastive.data import text

    return (text.load_sentences(spec.argument),)


def _lines_corpus(spec):
    from keras_contrastive.data import text

    return text.load_sentences(spec.argument)


def _tuples(spec, min_gold=None, seed=0):
    from keras_contrastive.data import text

    return tuple(c for c in text.load_sentence_tuples(spec.argument) if c is not None)


def _tuples_corpus(spec):
    return list(dict.fromkeys(s for column in _tuples(spec) for s in column))


def _stsb(spec, min_gold=4.0, seed=0):
    from keras_contrastive.data import text

    return tuple(text.load_stsb_pairs(spec.argument, min_gold=min_gold)[:2])


def _stsb_corpus(spec):
    from keras_contrastive.data import text

    return text.load_stsb_pairs(spec.argument, min_gold=0.0)[2]


def _text_file(spec):
    from keras_contrastive.data import text_files

    return text_files.scan_text_file(spec.argument, tsv=spec.kind.prefix == "tsv")


_MINED = ("hard_negatives", "mine_margin")

KINDS = (
    SourceKind(
        "wordnet", "text", "WordNet glosses and examples (unsupervised; data.path: the WordNet folder)",
        keys=("path",), argument="DIR", argument_required=False, path_is_argument=True, in_memory=True,
        load=_wordnet, corpus=_wordnet_corpus,
    ),
    SourceKind(
        "wordnet_triplets", "text", "(example, its gloss, gloss of another sense of the word) triplets",
        keys=("path",), argument="DIR", argument_required=False, path_is_argument=True, in_memory=True,
        load=_wordnet_triplets, corpus=_wordnet_corpus,
    ),
    SourceKind(
        "text", "text", "one sentence a line (.gz too; unsupervised)", keys=("path",), argument="PATH",
        path_is_argument=True, load=_lines, open=_text_file, corpus=_lines_corpus,
    ),
    SourceKind(
        "tsv", "text", "anchor<TAB>positive[<TAB>hard negative] a line (supervised)", keys=("path", *_MINED),
        argument="PATH", path_is_argument=True, load=_tuples, open=_text_file, corpus=_tuples_corpus,
    ),
    SourceKind(
        "stsb", "text", "an STS Benchmark CSV: its pairs scored >= data.min_gold as (anchor, positive)",
        keys=("path", "min_gold", *_MINED, "low_gold_negatives"), argument="PATH", path_is_argument=True,
        in_memory=True, load=_stsb, corpus=_stsb_corpus,
    ),
)  # fmt: skip
