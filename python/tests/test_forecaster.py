"""recur.Forecaster: training on numpy, pandas or a built-in series,
forecasts, checkpoints shared with `recur forecast`, and errors."""

import csv

import numpy as np
import pytest

import recur

KEYS = {"iter", "train_loss", "smooth_loss", "val_loss", "chars_per_sec", "elapsed_s"}
STEPS = np.arange(640)
WAVE = np.sin(0.3 * STEPS)


@pytest.fixture(scope="module")
def sine():
    """A GRU fitted on the first 600 steps of WAVE (shared, do not refit)."""
    model = recur.Forecaster(model="gru", hidden=16, lookback=16, seed=3)
    history = model.fit(WAVE[:600], iters=300, log_every=100, eval_every=150)
    return model, history


def clis_forecast(cli, *args):
    """The rows `recur forecast predict` prints, as a float array (steps, K)."""
    rows = list(csv.reader(cli("forecast", "predict", *args).stdout.splitlines()))
    return rows[0], np.array([[float(v) for v in row[1:]] for row in rows[1:]])


def test_fit_learns_a_sine_better_than_the_naive_forecast(sine):
    model, history = sine
    assert [r["iter"] for r in history] == [100, 150, 200, 300]
    assert all(set(r) == KEYS for r in history)
    assert [r["val_loss"] is not None for r in history] == [False, True, False, True]
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    report = model.report
    assert report["mse"] < 0.5 * report["last_value_mse"], report
    assert report["seasonal_mse"] is None and report["windows"] > 0
    # The next steps after the series, against the truth and against
    # repeating the last value.
    forecast = model.predict(steps=5)
    assert forecast.shape == (5, 1) and forecast.dtype == np.float64
    truth = WAVE[600:605]
    assert np.abs(forecast[:, 0] - truth).mean() < np.abs(WAVE[599] - truth).mean()
    assert np.abs(forecast[:, 0] - truth).max() < 0.2
    np.testing.assert_array_equal(model.predict(steps=5), forecast)
    assert model.predict().shape == (1, 1)  # the horizon
    assert model.features == model.targets == model.columns == ["x0"]


def test_forecasting_from_given_data(sine):
    model, _ = sine
    # From the end of the data given, float32 or float64.
    later = model.predict(steps=3, data=WAVE[:620])
    assert np.abs(later[:, 0] - WAVE[620:623]).max() < 0.2
    np.testing.assert_allclose(model.predict(steps=3, data=WAVE[:620].astype(np.float32)),
                               later, atol=1e-4)
    np.testing.assert_array_equal(model.predict(steps=3, data=WAVE[:620, None]), later)
    np.testing.assert_array_equal(model.predict(steps=3, data=WAVE[:600]),
                                  model.predict(steps=3))
    with pytest.raises(ValueError, match="16 rows"):
        model.predict(data=WAVE[:10])
    with pytest.raises(ValueError, match=r"data has 2 column\(s\); the model reads 1"):
        model.predict(data=np.stack([WAVE, WAVE], axis=1))


def test_float32_trains_and_the_same_seed_gives_the_same_model():
    def run(dtype):
        model = recur.Forecaster(hidden=8, lookback=8, seed=1)
        model.fit(WAVE[:300].astype(dtype), iters=30, log_every=10)
        return model.predict(steps=3)

    np.testing.assert_array_equal(run(np.float64), run(np.float64))
    np.testing.assert_allclose(run(np.float32), run(np.float64), atol=1e-3)


def test_several_columns_and_chosen_targets():
    data = np.stack([WAVE, np.cos(0.3 * STEPS), 0.5 * WAVE], axis=1)[:500]
    model = recur.Forecaster(hidden=12, lookback=12, horizon=2, seed=4)
    model.fit(data, targets=[0, -1], columns=["sin", "cos", "half"], iters=100)
    assert model.features == ["sin", "cos", "half"] and model.targets == ["sin", "half"]
    assert model.predict().shape == (2, 2)
    # Rolling past the horizon feeds forecasts back: every column must be a target.
    with pytest.raises(ValueError, match="feeding predictions back"):
        model.predict(steps=3)
    everything = recur.Forecaster(hidden=8, lookback=8, horizon=2, seed=4)
    everything.fit(data, iters=20)
    assert everything.targets == ["x0", "x1", "x2"]
    assert everything.predict(steps=5).shape == (5, 3)
    with pytest.raises(IndexError, match="out of range"):
        model.fit(data, targets=[3])
    with pytest.raises(ValueError, match="no column 'tan'"):
        model.fit(data, targets="tan", columns=["sin", "cos", "half"])
    with pytest.raises(ValueError, match="2 column names given for the 3 columns"):
        model.fit(data, columns=["a", "b"])
    with pytest.raises(ValueError, match="appears twice"):
        model.fit(data, columns=["a", "b", "a"])


def test_a_built_in_series_forecasts_as_the_cli(tmp_path, cli):
    model = recur.Forecaster(hidden=8, lookback=12, seed=5)
    model.fit(synthetic="mackey-glass", length=600, iters=60, season=17)
    assert model.features == model.targets == ["mackey-glass"]
    assert model.report["seasonal_mse"] is not None
    path = tmp_path / "mg.safetensors"
    model.save(path)
    head, printed = clis_forecast(cli, "--checkpoint", path, "--synthetic", "mackey-glass",
                                  "--length", 600, "--seed", 5, "--steps", 6)
    assert head == ["step", "mackey-glass"]
    # The CLI prints six decimals.
    np.testing.assert_allclose(printed, model.predict(steps=6), atol=1e-6)


def test_a_python_checkpoint_forecasts_a_csv_file_as_the_cli(tmp_path, cli, sine):
    model, _ = sine
    path = tmp_path / "model.safetensors"
    model.save(path)
    table = tmp_path / "series.csv"
    table.write_text("x0\n" + "\n".join(f"{v:.17g}" for v in WAVE[:620]) + "\n")
    _, printed = clis_forecast(cli, "--checkpoint", path, "--csv", table, "--steps", 4)
    np.testing.assert_allclose(printed, model.predict(steps=4, data=WAVE[:620]), atol=1e-6)
    again = recur.load(path)
    assert isinstance(again, recur.Forecaster)
    assert again.config == model.config and again.report is None
    np.testing.assert_array_equal(again.predict(steps=4, data=WAVE[:620]),
                                  model.predict(steps=4, data=WAVE[:620]))
    with pytest.raises(ValueError, match="give data="):
        again.predict()
    # A folder holds model.safetensors.
    model.save(tmp_path)
    assert isinstance(recur.load(tmp_path), recur.Forecaster)


def test_a_cli_checkpoint_forecasts_in_python(tmp_path, cli):
    table = tmp_path / "load.csv"
    values = 10 + 3 * np.sin(0.2 * np.arange(400)) + 0.1 * np.cos(1.3 * np.arange(400))
    table.write_text("hour,load,temp\n" + "\n".join(
        f"{i},{v:.17g},{20 + 0.01 * i:.17g}" for i, v in enumerate(values)) + "\n")
    out = tmp_path / "run"
    cli("forecast", "train", "--csv", table, "--time", "hour", "--target", "load",
        "--features", "load,temp", "--hidden", 8, "--lookback", 10, "--iters", 50, "--out", out)
    model = recur.load(out)
    assert isinstance(model, recur.Forecaster)
    assert (model.features, model.targets) == (["load", "temp"], ["load"])
    c = model.config
    assert (c["model"], c["hidden"], c["lookback"], c["iters"]) == ("lstm", 8, 10, 50)
    _, printed = clis_forecast(cli, "--checkpoint", out, "--csv", table)
    data = np.stack([values, 20 + 0.01 * np.arange(400)], axis=1)
    np.testing.assert_allclose(printed, model.predict(data=data), atol=1e-6)


def test_a_run_folder_holds_what_the_cli_reads(tmp_path, cli):
    out = tmp_path / "run"
    model = recur.Forecaster(hidden=8, lookback=8)
    model.fit(WAVE[:300], iters=20, eval_every=10, out=out)
    assert (out / "model.safetensors").is_file() and (out / "state.safetensors").is_file()
    with pytest.raises(ValueError, match="overwrite"):
        model.fit(WAVE[:300], iters=20, out=out)
    model.fit(WAVE[:300], iters=20, out=out, overwrite=True)
    table = tmp_path / "series.csv"
    table.write_text("x0\n" + "\n".join(f"{v:.17g}" for v in WAVE[:300]) + "\n")
    _, printed = clis_forecast(cli, "--checkpoint", out, "--csv", table)
    np.testing.assert_allclose(printed, model.predict(), atol=1e-6)


def test_callbacks_and_progress(capsys):
    model = recur.Forecaster(hidden=8, lookback=8)
    records, steps = [], []
    history = model.fit(WAVE[:300], iters=30, log_every=10, callback=records.append,
                        on_step=lambda *a: steps.append(a), progress=True)
    assert records == history and [r["iter"] for r in history] == [10, 20, 30]
    assert steps and steps[-1][:2] == (30, 30)
    assert "30/30" in capsys.readouterr().err


def test_a_callback_that_raises_stops_the_run_keeping_the_model():
    model = recur.Forecaster(hidden=8, lookback=8)

    def stop(record):
        if record["iter"] >= 20:
            raise RuntimeError("enough")

    with pytest.raises(RuntimeError, match="enough"):
        model.fit(WAVE[:300], iters=1_000_000, log_every=10, callback=stop)
    assert model.predict().shape == (1, 1) and model.report is not None


def test_wrong_dtypes_shapes_and_settings_are_python_errors():
    model = recur.Forecaster(hidden=8, lookback=8)
    with pytest.raises(TypeError, match=r"float32 or float64 numpy array of shape \(T,\) or \(T, F\).*int64"):
        model.fit(np.arange(300))
    with pytest.raises(TypeError, match=r"shape \(T,\) or \(T, F\).*list"):
        model.fit([0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match=r"shape \[2, 100, 3\]; expected \(T,\) or \(T, F\)"):
        model.fit(np.zeros((2, 100, 3)))
    with pytest.raises(ValueError, match="no columns"):
        model.fit(np.zeros((100, 0)))
    broken = WAVE[:300].copy()
    broken[42] = np.nan
    with pytest.raises(ValueError, match="NaN at row 42, column 0"):
        model.fit(broken)
    with pytest.raises(ValueError, match="too few"):
        model.fit(WAVE[:30])
    with pytest.raises(ValueError, match="not been trained"):
        model.predict()
    with pytest.raises(ValueError, match="not both"):
        model.fit(WAVE, synthetic="noisy-sine")
    with pytest.raises(ValueError, match="give data"):
        model.fit()
    with pytest.raises(ValueError, match="no built-in series 'sine'"):
        model.fit(synthetic="sine")
    with pytest.raises(ValueError, match="targets= and columns= apply to data"):
        model.fit(synthetic="noisy-sine", targets=[0])
    with pytest.raises(ValueError, match="unknown loss 'huber'"):
        model.fit(WAVE, loss="huber")
    with pytest.raises(ValueError, match="--val-frac"):
        model.fit(WAVE, val_frac=0.5, test_frac=0.5)
    with pytest.raises(ValueError, match="unknown cell"):
        recur.Forecaster(model="transformer")
    with pytest.raises(ValueError, match="--lookback"):
        recur.Forecaster(lookback=0)
    with pytest.raises(ValueError, match="--bidirectional"):
        recur.Forecaster(every_step=True, bidirectional=True)
    model.fit(WAVE[:300], iters=5)
    with pytest.raises(TypeError, match=r"shape \(T,\) or \(T, F\)"):
        model.predict(data=np.arange(50))
    with pytest.raises(ValueError, match="--steps"):
        model.predict(steps=0)


def test_repr_and_config():
    model = recur.Forecaster(model="rnn", hidden=6, layers=2, lookback=9, horizon=3)
    assert "not trained" in repr(model) and "rnn" in repr(model)
    c = model.config
    assert (c["model"], c["hidden"], c["layers"], c["lookback"], c["horizon"]) == \
        ("rnn", 6, 2, 9, 3)
    assert model.report is None


def test_a_dataframe_keeps_its_column_names(tmp_path, cli):
    pd = pytest.importorskip("pandas")
    index = pd.date_range("2024-01-01", periods=500, freq="h")
    frame = pd.DataFrame({"load": 10 + WAVE[:500], "temp": np.cos(0.3 * STEPS[:500])},
                         index=index)
    model = recur.Forecaster(hidden=12, lookback=12, seed=2)
    model.fit(frame, targets="load", iters=100)
    assert (model.features, model.targets) == (["load", "temp"], ["load"])
    forecast = model.predict()
    # Columns are found by name, in any order.
    np.testing.assert_array_equal(model.predict(data=frame[["temp", "load"]]), forecast)
    with pytest.raises(ValueError, match="no column 'temp'"):
        model.predict(data=frame[["load"]])
    # The CLI reads a CSV file's columns by the same names.
    path = tmp_path / "model.safetensors"
    model.save(path)
    table = tmp_path / "frame.csv"
    frame.to_csv(table, index_label="time", float_format="%.17g")
    _, printed = clis_forecast(cli, "--checkpoint", path, "--csv", table, "--time", "time")
    np.testing.assert_allclose(printed, forecast, atol=1e-6)
    # A Series is one named column; text columns are refused.
    single = recur.Forecaster(hidden=8, lookback=8)
    single.fit(frame["load"], iters=5)
    assert single.features == ["load"]
    with pytest.raises(TypeError, match="hold numbers"):
        single.fit(frame.assign(note="x"), iters=5)
    with pytest.raises(ValueError, match="a DataFrame's are its own"):
        single.fit(frame, columns=["a", "b"], iters=5)
