"""`ProgressBar`: silent unless asked (or on a terminal), a line at the end, never on stdout."""

from keras_contrastive.progress_bar import ProgressBar


def test_a_line_on_stderr_when_done_and_nothing_when_off(capsys):
    bar = ProgressBar(10, "corpus", progress=True)
    bar.update(4)  # not a terminal: a line every 30 s, or at the end
    assert capsys.readouterr().err == ""
    bar.update(6)
    bar.close()
    out = capsys.readouterr()
    assert out.out == "" and out.err.startswith("corpus: [" + "=" * 30 + "] 10/10 (") and out.err.endswith(" s)\n")
    quiet = ProgressBar(3, "mining", progress=False)
    quiet.update(3)
    quiet.close()
    assert capsys.readouterr().err == ""
