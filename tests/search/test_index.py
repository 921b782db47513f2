"""`search.build_index` / `keras-contrastive index` and `search`: written atomically, loaded in a fresh process,
queried by text, image file or vector with the ids of a brute-force search; shards merge to the whole; each bad
input is an error naming the fix."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from keras_contrastive import cli, search
from keras_contrastive.runs import embeddings
from keras_contrastive.text.testing import TINY_SENTENCES

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}


def _corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(TINY_SENTENCES) + "\n", encoding="utf-8")
    return str(path)


def _brute_force(vectors, queries, k):
    scores = queries @ vectors.T
    return np.argsort(-scores, axis=1, kind="stable")[:, :k], np.sort(scores, axis=1)[:, ::-1][:, :k]


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "keras_contrastive.cli", *args], capture_output=True, text=True,
                          env=ENV, timeout=300)  # fmt: skip


def test_text_index_round_trip_in_a_fresh_process(text_exports, tmp_path, capsys):
    paths, model = text_exports
    out = str(tmp_path / "index")
    assert cli.main(["index", "--model", paths["main"], "--input", _corpus(tmp_path), "--out", out]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["count"], summary["dim"], summary["modality"], summary["normalized"]) == (12, 8, "text", True)
    assert sorted(os.listdir(tmp_path)) == ["corpus.txt", "index"]  # no temporary folder left
    assert sorted(os.listdir(out)) == ["ids.txt", "index.json", "vectors.npy"]

    queries = ["the cat sat on a mat", "a fast red car"]
    (tmp_path / "queries.txt").write_text("\n".join(queries) + "\n", encoding="utf-8")
    result = _cli("search", "--index", out, "--queries", str(tmp_path / "queries.txt"), "--k", "4", "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    served = json.loads(result.stdout)["results"]
    rows, scores = _brute_force(model.encode(TINY_SENTENCES), model.encode(queries), 4)
    assert [r["query"] for r in served] == queries
    assert [r["ids"] for r in served] == [[str(i + 1) for i in row] for row in rows]  # ids: line numbers
    np.testing.assert_allclose([r["scores"] for r in served], scores, atol=1e-5)

    # The same in this process, by text and by vector; the human-readable form lists rank, score, id.
    index = search.load_index(out)
    assert index.search(queries, k=4).ids == [r["ids"] for r in served]
    assert index.search(model.encode(queries), k=4).ids == [r["ids"] for r in served]
    assert cli.main(["search", "--index", out, "--query", queries[0], "--k", "2"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[:2] == [f"query: {queries[0]}", f"   1  {scores[0][0]:.4f}  {rows[0][0] + 1}"]


def test_image_index_queried_by_image_file(image_export, tmp_path):
    encoder_path, folder, encoder = image_export
    out = str(tmp_path / "index")
    index = search.build_index(encoder_path, folder, out)
    assert index.count == 30 and index.meta["modality"] == "image" and index.ids[0] == os.path.join("class0", "0.png")
    result = _cli("search", "--index", out, "--image", os.path.join(folder, "class1", "3.png"), "--k", "3", "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    served = json.loads(result.stdout)["results"][0]
    assert served["ids"][0] == os.path.join("class1", "3.png") and served["scores"][0] == pytest.approx(1.0, abs=1e-5)
    vectors = np.asarray(index.vectors)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    rows, _ = _brute_force(vectors, vectors[[13]], 3)
    assert served["ids"] == [index.ids[r] for r in rows[0]]


def test_a_killed_build_never_leaves_an_index_that_loads(text_exports, tmp_path):
    paths, _ = text_exports
    out = tmp_path / "index"
    kill = (
        "import os, signal, sys\n"
        "from keras_contrastive.search import index\n"
        "index._finish = lambda *a: os.kill(os.getpid(), signal.SIGKILL)  # killed after the vectors, before the end\n"
        "from keras_contrastive import cli\n"
        "sys.exit(cli.main(sys.argv[1:]))\n"
    )
    args = ["index", "--model", paths["main"], "--input", _corpus(tmp_path), "--out", str(out)]
    killed = subprocess.run([sys.executable, "-c", kill, *args], env=ENV, timeout=300)
    assert killed.returncode == -9
    assert not out.exists()
    (leftover,) = [p for p in tmp_path.iterdir() if p.name.startswith(".index.tmp-")]
    assert (leftover / "vectors.npy").exists() and not (leftover / "index.json").exists()
    with pytest.raises(FileNotFoundError, match="No index at .*: build one with `keras-contrastive index --model M"):
        search.load_index(out)
    with pytest.raises(ValueError, match=r"not a complete index: it has no index.json.*unfinished build: delete it"):
        search.load_index(leftover)
    # The same command then builds it.
    assert cli.main(args) == 0 and search.load_index(out).count == 12


def test_shards_merge_to_the_whole_index_in_order(text_exports, tmp_path):
    paths, _ = text_exports
    corpus = _corpus(tmp_path)
    whole = search.build_index(paths["main"], corpus, tmp_path / "whole")
    parts = [str(tmp_path / f"part{i}") for i in range(3)]
    for i, part in enumerate(parts):
        assert cli.main(["index", "--model", paths["main"], "--input", corpus, "--out", part, "--shard", f"{i}/3"]) == 0
    assert [search.load_index(p).count for p in parts] == [4, 4, 4]
    merged = search.merge_indexes([parts[2], parts[0], parts[1]], tmp_path / "merged")  # put in shard order
    assert merged.ids == whole.ids
    np.testing.assert_allclose(merged.vectors, whole.vectors, atol=1e-6)  # batches of other sizes: last bits
    with pytest.raises(ValueError, match=r"shards I/3, missing 1/3: build each with `keras-contrastive index --shard"):
        search.merge_indexes([parts[0], parts[2]], tmp_path / "m2")
    with pytest.raises(ValueError, match=r"shards I/3, missing 2/3; given twice: \[0\]"):
        search.merge_indexes([parts[0], parts[0], parts[1]], tmp_path / "m3")

    # `embed --shard` on two machines, then one index of both outputs.
    outputs = [str(tmp_path / f"emb{i}.npy") for i in range(2)]
    for i, output in enumerate(outputs):
        args = ["embed", "--model", paths["main"], "--input", corpus, "--out", output, "--shard", f"{i}/2"]
        assert cli.main(args) == 0
    assert [len(embeddings.read_embeddings(o)[0]) for o in outputs] == [6, 6]
    assert cli.main(["index", "--model", paths["main"], "--input", *outputs, "--out", str(tmp_path / "e")]) == 0
    from_embed = search.load_index(tmp_path / "e")
    assert from_embed.ids == whole.ids
    np.testing.assert_allclose(from_embed.vectors, whole.vectors, atol=1e-6)
    with pytest.raises(ValueError, match=r"The id '1' occurs twice .*ids must be unique. Was a part given twice"):
        search.build_index(paths["main"], [outputs[0], outputs[0]], tmp_path / "e2")


def test_another_model_is_refused(text_exports, tmp_path, capsys):
    paths, _ = text_exports
    out = str(tmp_path / "index")
    index = search.build_index(paths["main"], _corpus(tmp_path), out)
    fix = r"Query with the model the index was built with .*or rebuild the index with this one: `keras-contrastive"
    with pytest.raises(ValueError, match=r"is not the model the index .* was built with: its embeddings of the probe"):
        index.search(["a cat"], model=paths["other"])
    with pytest.raises(ValueError, match=rf"embeds into 16 dimensions, the index .* into 8\. {fix}"):
        index.search(["a cat"], model=paths["wide"])
    with pytest.raises(ValueError, match=r"Query vectors have dimension 16, the index .* 8: embed the queries with"):
        index.search(np.ones((1, 16), "float32"))
    assert cli.main(["search", "--index", out, "--query", "a cat", "--model", paths["other"]]) == 2
    assert "is not the model the index" in capsys.readouterr().err
    # Embeddings of another model, indexed with this one: refused by dimension.
    other = str(tmp_path / "wide.npy")
    embeddings.write_embeddings(paths["wide"], _corpus(tmp_path), other)
    with pytest.raises(ValueError, match=r"dimension 16, but .* embeds into 8: index it with the model"):
        search.build_index(paths["main"], other, tmp_path / "x")


def test_bad_inputs_name_the_fix(text_exports, tmp_path, capsys):
    paths, _ = text_exports
    out = tmp_path / "index"
    (tmp_path / "empty.txt").write_text("\n\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no sentences .* Put one sentence per line"):
        search.build_index(paths["main"], str(tmp_path / "empty.txt"), out)
    with pytest.raises(ValueError, match="The corpus .* is empty: an index needs at least one item"):
        search.build_index(paths["main"], [], out)
    assert not out.exists()

    index = search.build_index(paths["main"], _corpus(tmp_path), out)
    assert cli.main(["search", "--index", str(out), "--query", "a cat", "--k", "13"]) == 2
    assert "k=13 is larger than the index, which holds 12 vectors: ask for --k 12 or fewer" in capsys.readouterr().err
    with pytest.raises(FileExistsError, match="already exists; it was left untouched. Choose another --out, or pass"):
        search.build_index(paths["main"], _corpus(tmp_path), out)
    assert search.build_index(paths["main"], TINY_SENTENCES[:3], out, overwrite=True).count == 3
    with pytest.raises(ValueError, match=r"has no approximate engine: build it with `keras-contrastive index"):
        index.search(["a cat"], engine="ann")

    # Half-written or damaged directories.
    (out / "ids.txt").write_text("1\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"not a complete index: ids.txt holds 1 ids for 3 vectors. Build it again"):
        search.load_index(out)
    np.save(out / "vectors.npy", np.zeros((2, 8), "float32"))
    with pytest.raises(ValueError, match=r"vectors.npy holds float32 \(2, 8\), index.json says \(3, 8\)"):
        search.load_index(out)
    os.remove(out / "index.json")
    with pytest.raises(ValueError, match="it has no index.json, written last when a build finishes"):
        search.load_index(out)
