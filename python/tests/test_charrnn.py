"""recur.CharRNN: training, sampling, evaluation, checkpoints shared with the
CLI, the arrays for looking inside, and errors."""

import math
import re

import numpy as np
import pytest

import recur
from conftest import TEXT, WORDS

KEYS = {"iter", "train_loss", "smooth_loss", "val_loss", "chars_per_sec", "elapsed_s"}


def test_fit_returns_one_record_per_log_line_and_learns(trained):
    model, history = trained
    assert [r["iter"] for r in history] == [50, 75, 100, 150]
    for r in history:
        assert set(r) == KEYS
    # Validation on the lines at an evaluation (every 75 and at the end) only.
    assert [r["val_loss"] is not None for r in history] == [False, True, False, True]
    uniform = math.log(len(model.vocab))
    assert history[-1]["train_loss"] < 0.6 * uniform, history
    assert history[-1]["val_loss"] < 0.6 * uniform, history
    assert history[-1]["elapsed_s"] > 0 and history[-1]["chars_per_sec"] > 0


def test_the_same_seed_trains_the_same_model():
    def run():
        model = recur.CharRNN(model="gru", hidden=16, seed=5)
        model.fit(TEXT, batch=2, seq_len=8, iters=20, log_every=10)
        return model.parameters()

    a, b = run(), run()
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_fit_goes_on_from_the_trained_weights():
    model = recur.CharRNN(model="rnn", hidden=24, seed=1)
    first = model.fit(TEXT, batch=4, seq_len=16, iters=100, log_every=100, lr=5e-3)
    second = model.fit(TEXT, batch=4, seq_len=16, iters=100, log_every=100, lr=5e-3)
    assert second[-1]["train_loss"] < first[-1]["train_loss"]
    with pytest.raises(ValueError, match="not in"):
        model.fit(TEXT + "Z", iters=1)


@pytest.mark.parametrize("cell", ["mingru", "minlstm"])
def test_cells_without_a_recurrent_weight_train_and_sample(cell):
    model = recur.CharRNN(model=cell, hidden=24, layers=2, seed=2)
    history = model.fit(TEXT, batch=4, seq_len=16, iters=300, log_every=300, lr=1e-2,
                        optimizer="adam")
    # The characters' frequencies alone cost 2.27 nats: below 1.8 the model
    # reads the context (measured: 1.00 and 1.36; a GRU reaches 0.35).
    assert history[-1]["val_loss"] < 1.8, history
    names = sorted(model.parameters())
    assert not [n for n in names if "weight_hh" in n], names
    assert len(model.sample(40, seed=1)) >= 40


def test_epochs_count_passes_over_the_data():
    model = recur.CharRNN(model="rnn", hidden=8)
    history = model.fit(TEXT, batch=4, seq_len=16, epochs=2, val_frac=0.0, log_every=1)
    per_epoch = (len(TEXT) - 1) // (4 * 16)
    assert history[-1]["iter"] == 2 * per_epoch


def test_time_trains_for_a_duration_and_evaluates_at_the_end():
    model = recur.CharRNN(hidden=16, seed=3)
    history = model.fit(TEXT, batch=2, seq_len=8, time=0.5, schedule="cosine", warmup=5)
    assert history[-1]["elapsed_s"] >= 0.5, history[-1]
    assert history[-1]["val_loss"] is not None
    assert history[-1]["iter"] > 5
    with pytest.raises(ValueError, match="not two"):
        model.fit(TEXT, time="1s", iters=5)
    with pytest.raises(ValueError, match="30m"):
        model.fit(TEXT, time="5 minutes")
    with pytest.raises(ValueError, match="schedule"):
        model.fit(TEXT, iters=5, schedule="linear")
    with pytest.raises(ValueError, match="warmup"):
        model.fit(TEXT, batch=2, seq_len=8, iters=5, warmup=5)


def test_a_warm_up_changes_the_run():
    def run(**kw):
        model = recur.CharRNN(hidden=16, seed=5)
        model.fit(TEXT, batch=2, seq_len=8, iters=10, **kw)
        return model.parameters()

    plain, warmed = run(), run(warmup=5, schedule="cosine")
    assert any(not np.array_equal(plain[k], warmed[k]) for k in plain)


def test_bf16_products_follow_the_f32_run():
    # More than four rows a product (batch 8): bf16 operands, f32 sums.
    def run(**kw):
        model = recur.CharRNN(model="lstm", hidden=32, seed=7)
        history = model.fit(TEXT, batch=8, seq_len=16, iters=30, val_frac=0.1, **kw)
        return model.parameters(), history[-1]

    (f32, last32), (bf16, last16) = run(), run(precision="bf16")
    assert any(not np.array_equal(f32[k], bf16[k]) for k in f32), "bf16 changed nothing"
    assert all(v.dtype == np.float32 for v in bf16.values()), "weights stay f32"
    assert abs(last16["val_loss"] - last32["val_loss"]) < 0.05, (last16, last32)
    with pytest.raises(ValueError, match="f32 or bf16"):
        recur.CharRNN(hidden=8).fit(TEXT, iters=2, precision="fp8")


def test_a_forked_child_samples_like_its_parent():
    # Batch-1 products large enough are split over two cores by a helper
    # thread, which a forked child does not have: the child must not wait
    # for it.
    import os
    import time

    model = recur.CharRNN(model="lstm", hidden=128, seed=1)
    model.fit(TEXT, batch=2, seq_len=8, iters=2)
    want = model.sample(300, seed=4)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            os.write(w, model.sample(300, seed=4).encode())
        finally:
            os._exit(0)
    os.close(w)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.05)
    else:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        raise AssertionError("the forked child hung while sampling")
    got = os.read(r, 100000).decode()
    os.close(r)
    assert got == want


def test_sample_is_reproducible_and_respects_its_options(trained):
    model, _ = trained
    a = model.sample(80, prime="the ", seed=7)
    assert a == model.sample(80, prime="the ", seed=7)
    assert len(a) == 80 and set(a) <= set(model.vocab)
    greedy = model.sample(40, prime="the c", greedy=True)
    assert greedy == model.sample(40, prime="the c", greedy=True, seed=99)
    assert model.sample(0) == ""
    with pytest.raises(ValueError, match="temperature"):
        model.sample(10, temperature=0.0)


def test_evaluate_gives_nats_per_character(trained):
    model, history = trained
    loss = model.evaluate(TEXT[:400])
    assert 0 < loss < math.log(len(model.vocab))
    # The model is evaluated on text like its training text.
    assert abs(loss - history[-1]["train_loss"]) < 0.5


def test_a_python_checkpoint_is_the_clis(tmp_path, trained, cli):
    model, _ = trained
    path = tmp_path / "model.safetensors"
    model.save(path)
    again = recur.load(path)
    assert again.vocab == model.vocab
    for name, value in model.parameters().items():
        np.testing.assert_array_equal(again.parameters()[name], value, err_msg=name)
    # The CLI samples the text Python samples with the same seed...
    out = cli("sample", "--checkpoint", path, "--prime", "the ", "--length", 120, "--seed", 11).stdout
    assert out.rstrip("\n") == "the " + model.sample(120, prime="the ", seed=11)
    # ... and measures the loss Python measures.
    corpus = tmp_path / "eval.txt"
    corpus.write_text(TEXT[:500])
    line = cli("eval", "--checkpoint", path, "--corpus", corpus).stdout
    nats = float(re.match(r"([0-9.]+) nats/char", line).group(1))
    assert nats == pytest.approx(model.evaluate(TEXT[:500]), abs=1e-6)
    # A folder holds model.safetensors.
    model.save(tmp_path)
    assert recur.load(tmp_path).vocab == model.vocab


def test_a_cli_checkpoint_opens_in_python(tmp_path, cli):
    corpus = tmp_path / "input.txt"
    corpus.write_text(TEXT)
    out = tmp_path / "run"
    cli("train", "--corpus", corpus, "--model", "gru", "--hidden", 16, "--iters", 30,
        "--out", out, "--sample-len", 0)
    model = recur.load(out)
    assert model.config["model"] == "gru" and model.config["hidden"] == 16
    text = model.sample(60, seed=3)
    printed = cli("sample", "--checkpoint", out, "--length", 60, "--seed", 3).stdout
    # Both start after the corpus's first character; the CLI prints it.
    assert printed.rstrip("\n") == TEXT[0] + text
    # Training goes on from the CLI's weights in Python.
    model.fit(TEXT, batch=2, seq_len=8, iters=5)


def test_hidden_states_are_one_row_per_character(trained):
    model, _ = trained
    text = "the cat sat"
    h = model.hidden_states(text)
    assert h.shape == (len(text), 32) and h.dtype == np.float32
    assert np.all(np.abs(h) < 1)  # LSTM outputs o * tanh(c)
    first = model.hidden_states(text, layer=0)
    assert first.shape == h.shape and not np.array_equal(first, h)
    np.testing.assert_array_equal(model.hidden_states(text, layer=1), h)
    # A prefix's states do not depend on what follows.
    np.testing.assert_allclose(model.hidden_states(text[:5]), h[:5], rtol=1e-6, atol=1e-7)
    with pytest.raises(IndexError, match="2 layer"):
        model.hidden_states(text, layer=2)


def test_next_char_probs_are_distributions_over_the_vocabulary(trained):
    model, _ = trained
    text = "the cat sat on the ma"
    p = model.next_char_probs(text)
    assert p.shape == (len(text), len(model.vocab)) and p.dtype == np.float32
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-5)
    # A trained model expects "t" after "the ma".
    assert model.vocab[int(p[-1].argmax())] == "t"
    # The mean negative log probability of the next characters is the loss.
    ids = [model.vocab.index(c) for c in text]
    nll = -np.mean([math.log(p[t, ids[t + 1]]) for t in range(len(text) - 1)])
    assert nll == pytest.approx(model.evaluate(text), rel=1e-4)


def test_parameters_have_pytorchs_names_and_shapes(trained):
    model, _ = trained
    params = model.parameters()
    v, h, e = len(model.vocab), 32, 8
    assert params["embedding.weight"].shape == (v, e)
    assert params["rnn.weight_ih_l0"].shape == (4 * h, e)
    assert params["rnn.weight_hh_l1"].shape == (4 * h, h)
    assert params["rnn.bias_ih_l1"].shape == (4 * h,)
    assert params["fc.weight"].shape == (v, h) and params["fc.bias"].shape == (v,)
    assert all(a.dtype == np.float32 for a in params.values())
    # Copies: changing one changes nothing in the model.
    params["fc.bias"][:] = 100
    assert not np.any(model.parameters()["fc.bias"] == 100)


def test_gradients_are_those_of_the_loss(trained):
    model, _ = trained
    text = "the cat sat on the mat"
    grads = model.gradients(text)
    params = model.parameters()
    assert grads.keys() == params.keys()
    for name in grads:
        assert grads[name].shape == params[name].shape, name
        assert np.all(np.isfinite(grads[name])), name
    # The output bias's gradient is the mean over steps of (p - onehot).
    p = model.next_char_probs(text)[:-1].astype(np.float64)
    ids = [model.vocab.index(c) for c in text[1:]]
    p[np.arange(len(ids)), ids] -= 1
    np.testing.assert_allclose(grads["fc.bias"], p.mean(axis=0), atol=1e-6)


def test_word_lists_train_and_evaluate():
    model = recur.CharRNN(model="gru", hidden=32, seed=2)
    history = model.fit(WORDS, batch=5, iters=200, log_every=100, lr=1e-2, val_frac=0.0)
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert "<" in "".join(model.vocab) or len(model.vocab) > len(set("".join(WORDS)))
    loss = model.evaluate(WORDS)
    assert 0 < loss < math.log(len(model.vocab))
    word = model.sample(30, seed=1)
    assert "\n" not in word and len(word) <= 30


def test_callbacks_see_each_record_and_the_progress():
    model = recur.CharRNN(model="rnn", hidden=8)
    records, steps = [], []
    history = model.fit(TEXT, batch=2, seq_len=8, iters=40, log_every=10,
                        callback=records.append, on_step=lambda *a: steps.append(a))
    assert records == history
    assert steps and steps[-1][:2] == (40, 40)
    assert all(total == 40 and 1 <= i <= 40 for i, total, _ in steps)


def test_a_callback_that_raises_stops_the_run_with_its_exception():
    model = recur.CharRNN(model="rnn", hidden=8)

    def stop(record):
        if record["iter"] >= 20:
            raise RuntimeError("enough")

    with pytest.raises(RuntimeError, match="enough"):
        model.fit(TEXT, batch=2, seq_len=8, iters=1000, log_every=10, callback=stop)
    # The weights trained so far are kept.
    assert len(model.sample(5, seed=0)) == 5


def test_progress_shows_a_tqdm_bar(capsys):
    model = recur.CharRNN(model="rnn", hidden=8)
    model.fit(TEXT, batch=2, seq_len=8, iters=30, progress=True)
    assert "30/30" in capsys.readouterr().err


def test_progress_without_tqdm_warns_and_trains(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    model = recur.CharRNN(model="rnn", hidden=8)
    with pytest.warns(UserWarning, match="pip install tqdm"):
        history = model.fit(TEXT, batch=2, seq_len=8, iters=10, log_every=10, progress=True)
    assert history[-1]["iter"] == 10


def test_a_run_folder_holds_the_clis_run(tmp_path, cli):
    model = recur.CharRNN(model="lstm", hidden=16)
    out = tmp_path / "run"
    model.fit(TEXT, batch=2, seq_len=8, iters=20, eval_every=10, out=out)
    assert (out / "model.safetensors").is_file() and (out / "state.safetensors").is_file()
    with pytest.raises(ValueError, match="overwrite"):
        model.fit(TEXT, batch=2, seq_len=8, iters=20, out=out)
    model.fit(TEXT, batch=2, seq_len=8, iters=20, eval_every=10, out=out, overwrite=True)
    corpus = tmp_path / "input.txt"
    corpus.write_text(TEXT)
    # The CLI resumes it.
    cli("train", "--corpus", corpus, "--out", out, "--resume", "--iters", 30, "--sample-len", 0)


def test_bad_settings_and_data_are_python_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown cell 'transformer'"):
        recur.CharRNN(model="transformer")
    with pytest.raises(ValueError, match="--hidden"):
        recur.CharRNN(hidden=0)
    with pytest.raises(ValueError, match="relu"):
        recur.CharRNN(model="rnn", activation="sigmoid")
    model = recur.CharRNN(model="rnn", hidden=8)
    with pytest.raises(ValueError, match="not been trained"):
        model.sample(10)
    with pytest.raises(TypeError, match="str .* or a list of str"):
        model.fit(42)
    with pytest.raises(TypeError):
        model.fit([1, 2, 3])
    with pytest.raises(ValueError, match="unknown optimizer"):
        model.fit(TEXT, optimizer="adamw")
    with pytest.raises(ValueError, match="iters or epochs"):
        model.fit(TEXT, iters=5, epochs=1)
    with pytest.raises(ValueError, match="clip"):
        model.fit(TEXT, clip=1.0, clip_norm=1.0)
    with pytest.raises(FileNotFoundError):
        recur.load(tmp_path / "missing.safetensors")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(recur.CheckpointError):
        recur.load(junk)
    assert issubclass(recur.CheckpointError, ValueError)


def test_a_run_that_blows_up_raises_training_diverged():
    model = recur.CharRNN(model="rnn", hidden=16)
    with pytest.raises(recur.TrainingDiverged, match="Lower the learning rate"):
        model.fit(TEXT, batch=2, seq_len=8, iters=200, optimizer="sgd", lr=1e4, clip=None,
                  log_every=200)


def test_repr_and_config():
    model = recur.CharRNN(model="gru", hidden=12, layers=2, embed=4)
    assert "not trained" in repr(model) and "gru" in repr(model)
    assert model.config == {"model": "gru", "hidden": 12, "layers": 2, "embed": 4, "dropout": 0.0}


def test_the_notebook_api_on_a_word_list(capsys):
    model = recur.CharRNN(model="lstm", hidden=32, seed=4)
    losses = model.train_words(["hello"], epochs=150, print_every=50)
    assert len(losses) == 150 and losses[-1] < 0.05 < losses[0]
    printed = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in printed] == ["epoch 50", "epoch 100", "epoch 150"]
    assert model.predict("h", 10) == "ello"
    assert model.predict("he") == "llo"
    inputs, targets = model.prepare_sequences(["hello"])[0]
    assert len(inputs) == len(targets) == 6
    assert inputs[1:] == targets[:-1]
    assert [model.vocab[i] for i in targets[:-1]] == list("hello")
    assert model.compute_loss(["hello"]) == pytest.approx(losses[-1], abs=0.05)
    assert model.compute_loss(["hello"]) == model.evaluate(["hello"])


def test_train_words_needs_a_word_model(trained):
    model, _ = trained
    with pytest.raises(ValueError, match="running text"):
        model.train_words(["the"], epochs=1)
    # The model is unchanged.
    assert model.sample(5, seed=1) == model.sample(5, seed=1)
    with pytest.raises(ValueError, match="markers"):
        model.prepare_sequences(["the"])


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_pytorch_loads_a_python_checkpoint_and_gives_its_numbers(tmp_path, kind):
    torch = pytest.importorskip("torch")
    safetensors_torch = pytest.importorskip("safetensors.torch")
    embed = 6 if kind == "lstm" else None
    model = recur.CharRNN(model=kind, hidden=16, layers=2, embed=embed, seed=2)
    model.fit(TEXT, batch=4, seq_len=16, iters=30)
    path = tmp_path / "model.safetensors"
    model.save(path)
    v = len(model.vocab)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            if embed:
                self.embedding = torch.nn.Embedding(v, embed)
            layer = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind]
            self.rnn = layer(embed or v, 16, num_layers=2)
            self.fc = torch.nn.Linear(16, v)

        def forward(self, ids):
            x = self.embedding(ids) if embed else torch.nn.functional.one_hot(ids, v).double()
            out, _ = self.rnn(x[:, None])
            return self.fc(out[:, 0])

    net = Net().double()
    weights = {k: t.double() for k, t in safetensors_torch.load_file(str(path)).items()}
    net.load_state_dict(weights, strict=True)
    text = "the cat sat on the mat"
    ids = torch.tensor([model.vocab.index(c) for c in text])
    probs = torch.softmax(net(ids), dim=1).detach().numpy()
    np.testing.assert_allclose(model.next_char_probs(text), probs, atol=1e-5)


def test_sample_words_gives_whole_words_marked_new_or_known(tmp_path, cli):
    model = recur.CharRNN(model="gru", hidden=32, seed=2)
    model.fit(WORDS, batch=5, iters=300, lr=1e-2, val_frac=0.0, log_every=300)
    sample = model.sample_words(12, seed=3)
    assert len(sample) == 12 and list(sample) == sample.words
    assert all(w and "\n" not in w for w in sample)
    assert sample.new == [w not in WORDS for w in sample]
    assert sample.new_fraction == pytest.approx(sum(sample.new) / 12)
    assert 0 < sample.new_fraction < 1, sample.words  # some learned, some invented
    assert "(new)" in repr(sample) and repr(sample).endswith("% new")
    assert sample[-1] == sample.words[11]
    # The CLI draws the same words from the same checkpoint and seed.
    path = tmp_path / "names.safetensors"
    model.save(path)
    printed = cli("sample", "--checkpoint", path, "--count", 12, "--seed", 3).stdout.split()
    assert printed == sample.words
    # A loaded model knows no training list unless given one.
    loaded = recur.load(path)
    assert loaded.sample_words(12, seed=3).new is None
    assert loaded.sample_words(12, seed=3, training=WORDS).new == sample.new
    assert all(w.startswith("em") for w in model.sample_words(5, prefix="em", seed=1))


def test_sample_words_needs_a_word_model(trained):
    model, _ = trained
    with pytest.raises(ValueError, match="model trained on a word list"):
        model.sample_words(3)
