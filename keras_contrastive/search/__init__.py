"""Search: an index of a corpus's embeddings, written to a directory, loaded anywhere, queried by text, image or
vector; exact search in blocks (NumPy only) or approximate (FAISS, the `ann` extra); a retrieval SavedModel.

    index = build_index("minilm", "sentences.txt", "index/")   # keras-contrastive index
    load_index("index/").search(["a cat on a mat"], k=5).ids    # keras-contrastive search
    export_index("index/", "savedmodels/sentence_search")      # keras-contrastive export --index
"""

from keras_contrastive.search.exact import exact_search
from keras_contrastive.search.index import Index, SearchResult, build_index, load_index, merge_indexes
from keras_contrastive.search.serving import export_index

__all__ = ["Index", "SearchResult", "build_index", "exact_search", "export_index", "load_index", "merge_indexes"]
