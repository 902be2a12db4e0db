"""recur.Seq2Seq: training on a task or on pairs, translation and its
attention, checkpoints shared with `recur seq2seq`, and errors."""

import numpy as np
import pytest

import recur

KEYS = {"iter", "train_loss", "smooth_loss", "accuracy", "chars_per_sec", "elapsed_s"}
# A small reverse task that a small model learns in well under a second.
TASK = dict(task="reverse", lengths=(3, 6), train_size=2000, test_size=100)
PAIRS = [(w, w.upper()) for w in
         ["cat", "dog", "bird", "fish", "cow", "hen", "owl", "bee", "ant", "fox",
          "pig", "rat", "bat", "elk", "yak", "emu", "eel", "gnu", "ape", "doe"]]


@pytest.fixture(scope="module")
def reverser():
    """A GRU with attention fitted on TASK (shared, do not refit)."""
    model = recur.Seq2Seq(hidden=32, embed=16, seed=1)
    history = model.fit(**TASK, lr=1e-2, iters=600, eval_every=200, log_every=100)
    return model, history


def test_fit_on_a_task_learns_it(reverser):
    model, history = reverser
    assert [r["iter"] for r in history] == [100, 200, 300, 400, 500, 600]
    assert all(set(r) == KEYS for r in history)
    # The held-out accuracy is measured every 200 iterations and at the end.
    assert [r["accuracy"] is not None for r in history] == [False, True, False, True, False, True]
    assert history[-1]["train_loss"] < 0.1 * history[0]["train_loss"], history
    assert history[-1]["accuracy"] > 0.9, history
    assert model.translate("abcde") == "edcba"
    assert model.translate("tuvw", beam=4) == "wvut"


def test_the_same_seed_trains_the_same_model():
    def run():
        model = recur.Seq2Seq(cell="lstm", hidden=8, embed=4, seed=5)
        history = model.fit([list(p) for p in PAIRS], iters=20, batch=4, log_every=10)
        return [r["train_loss"] for r in history], model.translate("cat")

    assert run() == run()


def test_attention_rows_are_distributions_over_the_source(reverser):
    model, _ = reverser
    text, weights = model.translate("hello", attention=True)
    assert text == "olleh"
    # One row per output character and one for the end marker.
    assert weights.shape == (len(text) + 1, len("hello")) and weights.dtype == np.float32
    np.testing.assert_allclose(weights.sum(axis=1), 1, rtol=1e-5)
    # Reversing, the first output character looks at the last input one.
    assert weights[0].argmax() == 4
    np.testing.assert_array_equal(model.attention("hello"), weights)
    plain = recur.Seq2Seq(hidden=8, embed=4, attention=None)
    plain.fit(PAIRS, iters=5, batch=4)
    with pytest.raises(ValueError, match="attention"):
        plain.translate("cat", attention=True)


def test_translations_are_the_clis(tmp_path, reverser, cli):
    model, _ = reverser
    path = tmp_path / "s2s.safetensors"
    model.save(path)
    for text, beam in [("abcdef", 1), ("xyz", 3), ("qqqqqq", 5)]:
        printed = cli("seq2seq", "translate", "--checkpoint", path, "--input", text,
                      "--beam", beam).stdout
        assert printed.rstrip("\n") == model.translate(text, beam=beam), text
    again = recur.load(path)
    assert isinstance(again, recur.Seq2Seq)
    assert again.config == model.config
    assert again.source_vocab == model.source_vocab
    assert again.target_vocab == model.target_vocab
    _, a = again.translate("hello", attention=True)
    np.testing.assert_array_equal(a, model.attention("hello"))
    # A folder holds model.safetensors.
    model.save(tmp_path)
    assert recur.load(tmp_path).translate("abc") == model.translate("abc")


def test_a_cli_checkpoint_opens_in_python_and_trains_on(tmp_path, cli):
    out = tmp_path / "run"
    cli("seq2seq", "train", "--task", "reverse", "--lengths", "3-5", "--train-size", 300,
        "--test-size", 20, "--hidden", 16, "--embed", 8, "--cell", "lstm", "--bidirectional",
        "--attention", "bahdanau", "--iters", 40, "--eval-every", 40, "--out", out)
    model = recur.load(out)
    assert isinstance(model, recur.Seq2Seq)
    c = model.config
    assert (c["cell"], c["hidden"], c["embed"], c["bidirectional"], c["attention"]) == \
        ("lstm", 16, 8, True, "bahdanau")
    printed = cli("seq2seq", "translate", "--checkpoint", out, "--input", "abcd").stdout
    assert printed.rstrip("\n") == model.translate("abcd")
    # Python goes on from the CLI's weights.
    history = model.fit(task="reverse", lengths=(3, 5), train_size=300, test_size=20,
                        iters=20, log_every=10)
    assert history[-1]["iter"] == 20
    assert set(model.translate("abcd")) <= set(model.target_vocab)


def test_a_python_run_folder_is_resumed_by_the_cli(tmp_path, cli):
    out = tmp_path / "run"
    model = recur.Seq2Seq(hidden=16, embed=8, seed=7)
    model.fit(task="reverse", lengths=(3, 6), train_size=300, test_size=20, iters=20,
              eval_every=10, out=out)
    assert (out / "model.safetensors").is_file() and (out / "state.safetensors").is_file()
    with pytest.raises(ValueError, match="overwrite"):
        model.fit(task="reverse", lengths=(3, 6), iters=5, out=out)
    cli("seq2seq", "train", "--task", "reverse", "--lengths", "3-6", "--train-size", 300,
        "--test-size", 20, "--seed", 7, "--out", out, "--resume", "--iters", 30)


def test_fit_on_pairs_holds_some_out_and_goes_on():
    model = recur.Seq2Seq(hidden=32, embed=16, seed=2)
    # Any iterable of pairs, tuples or lists.
    sources, targets = [s for s, _ in PAIRS], [t for _, t in PAIRS]
    history = model.fit(zip(sources, targets), iters=300, batch=10, lr=1e-2, val_frac=0.1,
                        eval_every=100, log_every=100)
    # Two of the twenty pairs are held out; their accuracy is measured.
    assert history[-1]["accuracy"] is not None
    assert history[-1]["train_loss"] < 0.1
    assert model.translate("cat") == "CAT"
    assert set(model.source_vocab) == set("".join(s for s, _ in PAIRS))
    assert {"\x02", "\x03"} <= set(model.target_vocab)
    # Fitting again goes on from the weights, on the same characters only.
    more = model.fit(PAIRS, iters=10, batch=10)
    # (Untrained, the loss is about ln(30) = 3.4 nats.)
    assert more[-1]["train_loss"] < 1.0
    with pytest.raises(ValueError, match="source vocabulary"):
        model.fit([("zebra", "ZEBRA")], iters=1)
    with pytest.raises(ValueError, match="not in"):
        model.translate("zebra")


def test_callbacks_progress_and_epochs(capsys):
    model = recur.Seq2Seq(hidden=8, embed=4)
    records, steps = [], []
    history = model.fit(PAIRS, batch=4, epochs=2, val_frac=0.0, log_every=1,
                        callback=records.append, on_step=lambda *a: steps.append(a),
                        progress=True)
    # 20 pairs in batches of 4: five iterations an epoch.
    assert records == history and history[-1]["iter"] == 10
    assert steps and steps[-1][:2] == (10, 10)
    assert "10/10" in capsys.readouterr().err
    # Without held-out pairs nothing is measured.
    assert all(r["accuracy"] is None for r in history)


def test_a_callback_that_raises_stops_the_run_keeping_the_weights():
    model = recur.Seq2Seq(hidden=8, embed=4)

    def stop(record):
        if record["iter"] >= 20:
            raise RuntimeError("enough")

    with pytest.raises(RuntimeError, match="enough"):
        model.fit(PAIRS, batch=4, iters=100_000, log_every=10, callback=stop)
    assert isinstance(model.translate("cat"), str)


def test_bad_settings_and_data_are_python_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown cell 'transformer'"):
        recur.Seq2Seq(cell="transformer")
    with pytest.raises(ValueError, match="unknown attention 'dot'"):
        recur.Seq2Seq(attention="dot")
    with pytest.raises(ValueError, match="--hidden"):
        recur.Seq2Seq(hidden=0)
    model = recur.Seq2Seq(hidden=8, embed=4)
    with pytest.raises(ValueError, match="not been trained"):
        model.translate("abc")
    with pytest.raises(ValueError, match="give pairs"):
        model.fit()
    with pytest.raises(TypeError, match=r"list of \(source, target\) str tuples"):
        model.fit("abc")
    with pytest.raises(TypeError, match=r"pairs\[1\] must be a \(source, target\) pair of str, not \('a', 1\)"):
        model.fit([("a", "b"), ("a", 1)])
    with pytest.raises(TypeError, match=r"pairs\[0\] must be a \(source, target\) pair"):
        model.fit(["ab"])
    with pytest.raises(ValueError, match="no pairs"):
        model.fit([])
    with pytest.raises(ValueError, match=r"pairs\[1\]: the target is empty"):
        model.fit([("a", "b"), ("c", "")])
    with pytest.raises(ValueError, match="not both"):
        model.fit(PAIRS, task="reverse")
    with pytest.raises(ValueError, match="unknown task 'translate'"):
        model.fit(task="translate")
    with pytest.raises(ValueError, match="lengths"):
        model.fit(PAIRS, lengths=(2, 3))
    with pytest.raises(ValueError, match="MIN <= MAX"):
        model.fit(task="reverse", lengths=(5, 2))
    with pytest.raises(ValueError, match="iters or epochs"):
        model.fit(PAIRS, iters=5, epochs=1)
    with pytest.raises(ValueError, match="schedule"):
        model.fit(PAIRS, schedule="linear")
    with pytest.raises(ValueError, match="--teacher-forcing"):
        model.fit(PAIRS, teacher_forcing=1.5)
    model.fit(PAIRS, iters=2, batch=4)
    with pytest.raises(ValueError, match="empty"):
        model.translate("")
    with pytest.raises(ValueError, match="--beam"):
        model.translate("cat", beam=0)
    # A language model's file is not a sequence-to-sequence model's, and
    # back: recur.load opens each as its own class.
    lm = recur.CharRNN(model="rnn", hidden=4)
    lm.fit("abcabc" * 20, batch=2, seq_len=4, iters=2)
    lm.save(tmp_path / "lm.safetensors")
    model.save(tmp_path / "s2s.safetensors")
    assert isinstance(recur.load(tmp_path / "lm.safetensors"), recur.CharRNN)
    assert isinstance(recur.load(tmp_path / "s2s.safetensors"), recur.Seq2Seq)


def test_repr_and_config():
    model = recur.Seq2Seq(cell="lstm", hidden=12, embed=6, layers=2, bidirectional=True,
                          attention="bahdanau", attention_size=5)
    assert "not trained" in repr(model) and "lstm" in repr(model)
    assert model.config == {"cell": "lstm", "hidden": 12, "embed": 6, "layers": 2,
                            "bidirectional": True, "attention": "bahdanau",
                            "attention_size": 5}
    assert recur.Seq2Seq(attention=None).config["attention"] is None
