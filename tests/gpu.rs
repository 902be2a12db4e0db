//! The GPU backend against the CPU: every kernel; whole networks (forward
//! outputs, final states, every gradient) within 1e-4 of the CPU's;
//! optimizer steps within 1e-5; then, with the harness of tests/backend.rs
//! (tests/common/trials.rs) compared within 1e-4 instead of bit for bit,
//! a few training steps (losses, each step's gradients, trained weights)
//! of its networks and of its sequence-to-sequence models (each cell, each
//! attention), greedy decoding (logits, states, attention weights,
//! tokens), the forecaster (forecasts, training steps of its networks, its
//! own trainer's losses, a run saved on one device and resumed on the
//! other), a 200-step training run (its loss curve within 1e-3), a
//! trainer's run reading its losses back only where it logs, and a
//! checkpoint taken to the GPU, trained and brought back.
//!
//! Runs on whatever adapter wgpu finds; in CI that is Mesa's software
//! Vulkan driver (lavapipe). Without an adapter the tests skip with a
//! message, except where `CI` is set: there they fail.
//!
//! "Within ε" means per tensor: the largest difference is at most ε times
//! the largest magnitude of the CPU's values (f32 sums taken in another
//! order differ by rounding relative to the tensor's scale, not each value's).
//! In the harness's comparisons of a model's gradients and weights, a
//! tensor whose values are all below 1e-3 of the buffer's largest is held
//! to that larger scale (`trials::Tolerance::check_tensors` says why).

#![cfg(feature = "gpu")]

#[path = "common/gpu.rs"]
mod common_gpu;
#[path = "common/trials.rs"]
mod trials;
use common_gpu::gpu;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use recur::backend::{Activation, Backend, Gpu, IGNORE, MlstmBlock, Update, View};
use recur::cell::CellKind;
use recur::checkpoint::{Loaded, load_forecaster, load_model, save_model};
use recur::data::series::Synthetic;
use recur::model::{
    Batch, ForecastConfig, Forecaster, Init, Net, NetConfig, Readout, RegressionLoss,
};
use recur::optim::Clip;
use recur::tensor::Trans;
use recur::train::forecast::ForecastTrainer;
use recur::train::{Event, RunDir, RunMode, model_path};
use recur::{CharVocab, Cpu, SeqInput, Target};
use trials::{
    ADAM, Case, DECODE_STEPS, Data, Goal, Greedy, SEED, Tolerance, Trial, assert_close,
    assert_same, cases, clip_and_step, optimizer, padded_targets, pair_cases, to_host, tokens,
    train_side_by_side, values,
};

// ---- kernels ----

#[test]
fn matmul_in_every_transpose_matches_the_cpu() {
    let Some(k) = gpu() else { return };
    for (m, n, kk) in [
        (1, 7, 5),
        (70, 65, 33),
        (3, 130, 17),
        (64, 64, 64),
        (5, 3, 0),
    ] {
        for ta in [Trans::No, Trans::Yes] {
            for tb in [Trans::No, Trans::Yes] {
                for acc in [false, true] {
                    let a = values(m * kk, 1);
                    let b = values(kk * n, 2);
                    let c0 = values(m * n, 3);
                    let mut c = c0.clone();
                    Cpu.matmul(m, n, kk, &a, ta, &b, tb, &mut c, acc);
                    let (ga, gb) = (k.upload(&a), k.upload(&b));
                    let mut gc = k.upload(&c0);
                    let (va, vb) = (Gpu::view(&ga), Gpu::view(&gb));
                    k.matmul(m, n, kk, va, ta, vb, tb, Gpu::view_mut(&mut gc), acc);
                    let what = format!("matmul {m}x{n}x{kk} {ta:?} {tb:?} acc {acc}");
                    assert_close(&to_host(&k, Gpu::view(&gc)), &c, 1e-5, &what);
                }
            }
        }
    }
}

/// `c = d + a·bᵀ` in one kernel (a step's input part plus its recurrent
/// product) gives the CPU's copy-then-accumulate.
#[test]
fn matmul_onto_an_addend_matches_the_cpu() {
    let Some(k) = gpu() else { return };
    let (m, n, kk) = (3, 70, 9);
    let (a, b, d) = (values(m * kk, 40), values(n * kk, 41), values(m * n, 42));
    let mut c = vec![7.0f32; m * n];
    Cpu.matmul_onto((m, n, kk), &a, Trans::No, &b, Trans::Yes, &d, &mut c);
    let (ga, gb, gd) = (k.upload(&a), k.upload(&b), k.upload(&d));
    let mut gc = k.upload(&vec![7.0; m * n]);
    let (va, vb, vd) = (Gpu::view(&ga), Gpu::view(&gb), Gpu::view(&gd));
    k.matmul_onto(
        (m, n, kk),
        va,
        Trans::No,
        vb,
        Trans::Yes,
        vd,
        Gpu::view_mut(&mut gc),
    );
    assert_close(&to_host(&k, Gpu::view(&gc)), &c, 1e-6, "matmul_onto");
}

/// A buffer larger than the adapter can hold is a clear error from
/// `check`, not a panic: the kernels and transfers after it are skipped.
#[test]
fn a_buffer_too_large_for_the_gpu_is_an_error_not_a_panic() {
    let Some(k) = gpu() else { return };
    assert!(Backend::<f32>::check(&k).is_ok());
    let mut big = <Gpu as Backend<f32>>::Buf::default();
    k.resize(&mut big, k.max_buffer_len() + 1);
    let small = k.upload(&[1.0, 2.0]);
    k.fill(
        recur::backend::ViewMut::sub(Gpu::view_mut(&mut big), 0..4),
        1.0,
    );
    let mut host = [5.0f32; 2];
    k.download(Gpu::view(&small), &mut host);
    let e = Backend::<f32>::check(&k).expect_err("an oversized buffer passes");
    let message = e.to_string();
    assert!(
        message.contains("holds at most") && message.contains("--device cpu"),
        "{message}"
    );
}

#[test]
fn views_offset_into_buffers() {
    let Some(k) = gpu() else { return };
    // A product of views cut from the middle of buffers.
    let (m, n, kk) = (4, 5, 6);
    let a = values(3 + m * kk + 2, 4);
    let b = values(7 + kk * n, 5);
    let mut c = vec![0.0; 1 + m * n + 3];
    Cpu.matmul(
        m,
        n,
        kk,
        &a[3..3 + m * kk],
        Trans::No,
        &b[7..],
        Trans::No,
        &mut c[1..1 + m * n],
        false,
    );
    let (ga, gb) = (k.upload(&a), k.upload(&b));
    let mut gc = k.upload(&vec![0.0; c.len()]);
    let va = Gpu::view(&ga).sub(3..3 + m * kk);
    let vb = Gpu::view(&gb).sub(7..7 + kk * n);
    let vc = recur::backend::ViewMut::sub(Gpu::view_mut(&mut gc), 1..1 + m * n);
    k.matmul(m, n, kk, va, Trans::No, vb, Trans::No, vc, false);
    assert_close(&to_host(&k, Gpu::view(&gc)), &c, 1e-5, "matmul of views");
}

/// A `(V, D)` table gathered and scattered by repeated tokens, as columns
/// and as rows.
#[test]
fn gathers_and_scatters_match_the_cpu() {
    let Some(k) = gpu() else { return };
    let (v, d, r) = (6, 5, 40);
    let toks = tokens(r, v, 6);
    let table = values(v * d, 7);
    let grad = values(r * d, 8);
    let gt = k.upload(&table);
    let gg = k.upload(&grad);
    // Rows.
    let mut out = vec![0.0; r * d];
    Cpu.gather_rows(&table, &toks, &mut out);
    let mut gout = k.upload(&vec![0.0; r * d]);
    k.gather_rows(Gpu::view(&gt), &toks, Gpu::view_mut(&mut gout));
    assert_close(&to_host(&k, Gpu::view(&gout)), &out, 0.0, "gather_rows");
    let mut dt = table.clone();
    Cpu.scatter_add_rows(&grad, &toks, &mut dt);
    let mut gdt = k.upload(&table);
    k.scatter_add_rows(Gpu::view(&gg), &toks, Gpu::view_mut(&mut gdt));
    assert_close(&to_host(&k, Gpu::view(&gdt)), &dt, 0.0, "scatter_add_rows");
    // Columns: w (D, V).
    let mut out = vec![0.0; r * d];
    Cpu.gather_columns(&table, v, &toks, &mut out);
    k.gather_columns(Gpu::view(&gt), v, &toks, Gpu::view_mut(&mut gout));
    assert_close(&to_host(&k, Gpu::view(&gout)), &out, 0.0, "gather_columns");
    let mut dw = table.clone();
    Cpu.scatter_add_columns(&grad, &toks, &mut dw, v);
    let mut gdw = k.upload(&table);
    k.scatter_add_columns(Gpu::view(&gg), &toks, Gpu::view_mut(&mut gdw), v);
    assert_close(
        &to_host(&k, Gpu::view(&gdw)),
        &dw,
        0.0,
        "scatter_add_columns",
    );
}

/// Dropout masks are drawn on the device, the CPU's bits exactly, for every
/// key and probability; a view's mask starts at its own value 0.
#[test]
fn dropout_masks_are_the_cpus_bit_for_bit() {
    let Some(k) = gpu() else { return };
    let n = 5000;
    for (p, key) in [(0.3, 42u64), (0.5, u64::MAX), (0.1, 1 << 40), (0.0, 7)] {
        let mut mask = vec![0.0f32; n];
        Cpu.dropout_mask(&mut mask, p, key);
        let mut gm = k.upload(&vec![9.0; n + 3]);
        let view = recur::backend::ViewMut::sub(Gpu::view_mut(&mut gm), 3..n + 3);
        k.dropout_mask(view, p, key);
        let on_gpu = to_host(&k, Gpu::view(&gm));
        assert_eq!(&on_gpu[..3], &[9.0; 3], "values before the view");
        assert_close(&on_gpu[3..], &mask, 0.0, &format!("mask p {p} key {key}"));
        let dropped = mask.iter().filter(|&&m| m == 0.0).count() as f64 / n as f64;
        assert!((dropped - p).abs() < 0.03, "p {p}: {dropped} dropped");
    }
}

#[test]
fn losses_and_reductions_match_the_cpu() {
    let Some(k) = gpu() else { return };
    let (r, v) = (37, 300);
    let logits: Vec<f32> = values::<f32>(r * v, 9).iter().map(|x| 8.0 * x).collect();
    let mut targets = tokens(r, v, 10);
    targets[3] = IGNORE;
    targets[20] = IGNORE;
    let mut d = vec![0.0; r * v];
    let (loss, count) = Cpu.softmax_cross_entropy(&logits, v, &targets, 0.5, &mut d);
    let gl = k.upload(&logits);
    let mut gd = k.upload(&vec![1.0; r * v]);
    let (gloss, gcount) =
        k.softmax_cross_entropy(Gpu::view(&gl), v, &targets, 0.5, Gpu::view_mut(&mut gd));
    assert_eq!(gcount, count);
    assert!(
        (gloss - loss).abs() <= 1e-5 * loss,
        "loss {gloss} vs {loss}"
    );
    assert_close(&to_host(&k, Gpu::view(&gd)), &d, 1e-5, "dlogits");
    // MSE and MAE, with their gradients.
    let (y, t) = (values(1000, 11), values(1000, 12));
    let (gy, gt) = (k.upload(&y), k.upload(&t));
    for mae in [false, true] {
        let mut d = vec![0.0; y.len()];
        let mut gd = k.upload(&d);
        let (c, g) = if mae {
            (
                Cpu.mae(&y, &t, &mut d),
                k.mae(Gpu::view(&gy), Gpu::view(&gt), Gpu::view_mut(&mut gd)),
            )
        } else {
            (
                Cpu.mse(&y, &t, &mut d),
                k.mse(Gpu::view(&gy), Gpu::view(&gt), Gpu::view_mut(&mut gd)),
            )
        };
        assert!((g - c).abs() <= 1e-5 * c, "mae {mae}: {g} vs {c}");
        assert_close(&to_host(&k, Gpu::view(&gd)), &d, 1e-6, "error gradient");
    }
    // A sum of squares over more values than one pass's workgroups cover.
    let x = values(300_000, 13);
    let s = Cpu.sum_squares(&x);
    let g = k.sum_squares(Gpu::view(&k.upload(&x)));
    assert!((g - s).abs() <= 1e-5 * s, "sum of squares {g} vs {s}");
}

#[test]
fn attention_kernels_match_the_cpu() {
    let Some(k) = gpu() else { return };
    let (t, s, a) = (4, 6, 5);
    let (q, u, v) = (values(t * a, 14), values(s * a, 15), values(a, 16));
    let mut z = vec![0.0; t * s * a];
    let mut e = vec![0.0; t * s];
    Cpu.additive_scores(&q, &u, &v, &mut z, &mut e);
    let (gq, gu, gv) = (k.upload(&q), k.upload(&u), k.upload(&v));
    let mut gz = k.upload(&z);
    let mut ge = k.upload(&e);
    k.additive_scores(
        Gpu::view(&gq),
        Gpu::view(&gu),
        Gpu::view(&gv),
        Gpu::view_mut(&mut gz),
        Gpu::view_mut(&mut ge),
    );
    assert_close(&to_host(&k, Gpu::view(&gz)), &z, 1e-5, "z");
    assert_close(&to_host(&k, Gpu::view(&ge)), &e, 1e-5, "scores");
    // Masked softmax over the first 4 of 6 columns, and its backward.
    let mut sm = e.clone();
    Cpu.softmax_rows(&mut sm, s, 4);
    k.softmax_rows(Gpu::view_mut(&mut ge), s, 4);
    assert_close(&to_host(&k, Gpu::view(&ge)), &sm, 1e-6, "softmax");
    let mut de = values(t * s, 17);
    de[5] = 0.0;
    let mut gde = k.upload(&de);
    Cpu.softmax_rows_backward(&sm, &mut de, s);
    k.softmax_rows_backward(Gpu::view(&ge), Gpu::view_mut(&mut gde), s);
    assert_close(&to_host(&k, Gpu::view(&gde)), &de, 1e-6, "softmax backward");
    let dv0 = values(a, 18);
    let (mut dv, mut dq, mut du) = (dv0.clone(), vec![0.0; t * a], vec![0.0; s * a]);
    Cpu.additive_scores_backward(&z, &v, &de, &mut dv, &mut dq, &mut du);
    let mut gdv = k.upload(&dv0);
    let mut gdq = k.upload(&values(t * a, 19));
    let mut gdu = k.upload(&values(s * a, 20));
    k.additive_scores_backward(
        Gpu::view(&gz),
        Gpu::view(&gv),
        Gpu::view(&gde),
        Gpu::view_mut(&mut gdv),
        Gpu::view_mut(&mut gdq),
        Gpu::view_mut(&mut gdu),
    );
    assert_close(&to_host(&k, Gpu::view(&gdv)), &dv, 1e-5, "dv");
    assert_close(&to_host(&k, Gpu::view(&gdq)), &dq, 1e-5, "dq");
    assert_close(&to_host(&k, Gpu::view(&gdu)), &du, 1e-5, "du");
}

#[test]
fn optimizer_updates_match_the_cpu_to_1e_5() {
    let Some(k) = gpu() else { return };
    let n = 5000;
    let rules = [
        Update::Sgd { lr: 0.1 },
        Update::Momentum { lr: 0.1, mu: 0.9 },
        Update::Adagrad { lr: 0.1 },
        Update::Rmsprop { lr: 0.01, a: 0.99 },
        Update::Adam {
            step: 0.002 / (1.0 - 0.9),
            b1: 0.9,
            b2: 0.999,
            corr2: (1.0f32 - 0.999).sqrt(),
        },
    ];
    for rule in rules {
        let (mut p, mut m0, mut m1) = (values(n, 21), vec![0.0; n], vec![0.0; n]);
        let (mut gp, mut gm0, mut gm1) = (k.upload(&p), k.upload(&m0), k.upload(&m1));
        for step in 0..3 {
            let g = values(n, 22 + step);
            Cpu.update(rule, &mut p, &g, &mut m0, &mut m1);
            let gg = k.upload(&g);
            k.update(
                rule,
                Gpu::view_mut(&mut gp),
                Gpu::view(&gg),
                Gpu::view_mut(&mut gm0),
                Gpu::view_mut(&mut gm1),
            );
        }
        assert_close(
            &to_host(&k, Gpu::view(&gp)),
            &p,
            1e-5,
            &format!("{rule:?}: parameters"),
        );
        assert_close(
            &to_host(&k, Gpu::view(&gm0)),
            &m0,
            1e-5,
            &format!("{rule:?}: first moment"),
        );
        assert_close(
            &to_host(&k, Gpu::view(&gm1)),
            &m1,
            1e-5,
            &format!("{rule:?}: second moment"),
        );
    }
}

/// One clipped Adam step as a trainer takes it on a device: the clip's
/// verdict left in a backend scalar, the update guarded by it. Returns the
/// parameters, the first moment and the verdict, on the host.
fn deferred_step<K: Backend<f32>>(k: &K, clip: Clip, p0: &[f32], g: &[f32]) -> [Vec<f32>; 3] {
    let n = p0.len();
    let mut opt = recur::optim::Optimizer::new_on(k.clone(), ADAM, 0.01, n).unwrap();
    let (mut p, mut g) = (k.upload(p0), k.upload(g));
    let mut verdict = k.upload(&[5.0]);
    clip.apply_to(k, K::view_mut(&mut g), K::view_mut(&mut verdict));
    opt.step_guarded(K::view_mut(&mut p), K::view(&g), K::view(&verdict));
    [
        to_host(k, K::view(&p)),
        to_host(k, K::view(&opt.moments()[0])),
        to_host(k, K::view(&verdict)),
    ]
}

/// The deferred clip and the guarded update (what keeps a training
/// iteration to one round trip) give the CPU's update for finite
/// gradients; with a NaN or an infinity the verdict is not finite and the
/// parameters and moments are left exactly as they were, on both.
#[test]
fn a_guarded_update_matches_the_cpu_and_skips_non_finite_gradients() {
    let Some(k) = gpu() else { return };
    let n = 3000;
    let p0: Vec<f32> = values(n, 30);
    for clip in [Clip::GlobalNorm(0.5), Clip::Elementwise(0.05), Clip::None] {
        for bad in [None, Some(f32::NAN), Some(f32::INFINITY)] {
            let mut g: Vec<f32> = values(n, 31);
            if let Some(b) = bad {
                g[1717] = b;
            }
            let what = format!("{clip:?} with {bad:?}");
            let on_cpu = deferred_step(&Cpu, clip, &p0, &g);
            let on_gpu = deferred_step(&k, clip, &p0, &g);
            for (name, [p, m, v]) in [("CPU", &on_cpu), ("GPU", &on_gpu)] {
                assert_eq!(
                    v[0].is_finite(),
                    bad.is_none(),
                    "{what}: {name}'s verdict {}",
                    v[0]
                );
                if bad.is_some() {
                    assert_same(p, &p0, &format!("{what}: {name}'s parameters"));
                    assert!(m.iter().all(|&x| x == 0.0), "{what}: {name}'s moment moved");
                } else {
                    assert!(*p != p0, "{what}: {name} did not update");
                }
            }
            assert_close(&on_gpu[0], &on_cpu[0], 1e-5, &format!("{what}: parameters"));
            assert_close(&on_gpu[1], &on_cpu[1], 1e-5, &format!("{what}: moment"));
        }
    }
}

/// A language model trained a little on a short text, on the CPU.
fn small_language_model() -> (Net<f32>, CharVocab) {
    let text = "the cat sat on the mat; the rat ate the cat's hat. ".repeat(20);
    let vocab = CharVocab::from_text(&text).unwrap();
    let config = NetConfig {
        layers: 2,
        embed: Some(6),
        ..NetConfig::char_lm(CellKind::Lstm, vocab.len(), 16)
    };
    let mut net = Net::new(config, Init::Uniform, 5).unwrap();
    let tokens = vocab.encode(&text).unwrap();
    let mut opt = recur::optim::Optimizer::new(ADAM, 0.02, net.layout().len()).unwrap();
    let (mut ws, t) = (net.workspace(), 40);
    for w in 0..30 {
        let at = (w * t) % (tokens.len() - t - 1);
        let (x, y) = (&tokens[at..at + t], &tokens[at + 1..at + t + 1]);
        let mut grads = net.zero_grads();
        let target = Target::Classes(y);
        net.loss_and_grad(SeqInput::Tokens(x), None, t, 1, target, &mut ws, &mut grads)
            .unwrap();
        opt.step(&mut net.params, &grads);
    }
    (net, vocab)
}

/// Sampling on the device: every draw made there, the text read back in
/// one round trip; the same seed gives the host's text (the same rule and
/// random bits), greedy decoding gives the CPU's `generate`.
#[test]
fn sampling_draws_on_the_device_and_reads_the_text_back_once() {
    let Some(k) = gpu() else { return };
    use recur::sample::{SampleOptions, generate, generate_on};
    let (net, vocab) = small_language_model();
    let on_gpu =
        Net::from_params_on(k.clone(), net.config().clone(), net.params_to_host()).unwrap();
    let tempered = SampleOptions {
        temperature: 0.9,
        top_k: Some(4),
        greedy: false,
    };
    k.take_counters();
    let text = generate_on(&on_gpu, &vocab, "the ", 200, &tempered, 7).unwrap();
    let counted = k.take_counters();
    assert_eq!(counted.round_trips, 1, "{counted:?}");
    assert_eq!(text.chars().count(), 200);
    assert_eq!(
        text,
        generate_on(&net, &vocab, "the ", 200, &tempered, 7).unwrap()
    );
    assert_ne!(
        text,
        generate_on(&on_gpu, &vocab, "the ", 200, &tempered, 8).unwrap()
    );
    let greedy = SampleOptions {
        greedy: true,
        ..SampleOptions::default()
    };
    let g = generate_on(&on_gpu, &vocab, "the ", 40, &greedy, 1).unwrap();
    assert_eq!(g, generate(&net, &vocab, "the ", 40, &greedy, 1).unwrap());
}

#[test]
fn clipping_matches_the_cpu_and_reports_non_finite_values() {
    let Some(k) = gpu() else { return };
    use recur::optim::Clip;
    for clip in [Clip::GlobalNorm(0.5), Clip::Elementwise(0.05), Clip::None] {
        let g = values(3000, 23);
        let mut c = g.clone();
        assert!(clip.apply_on(&Cpu, &mut c[..]));
        let mut gg = k.upload(&g);
        assert!(clip.apply_on(&k, Gpu::view_mut(&mut gg)));
        assert_close(&to_host(&k, Gpu::view(&gg)), &c, 1e-5, &format!("{clip:?}"));
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let mut g = g.clone();
            g[1234] = bad;
            let mut gg = k.upload(&g);
            assert!(
                !clip.apply_on(&k, Gpu::view_mut(&mut gg)),
                "{clip:?} with {bad}"
            );
        }
    }
}

/// One mLSTM block of `m` on the GPU's kernels and on the CPU's host path
/// (`block_forward_on_host`), from the same random inputs, initial state
/// and incoming gradients, and random values in every output buffer (so
/// that a value the kernels leave unwritten shows): `hs`, the final
/// state, `dg`, `dc` and `dh0` within 1e-4, with no value read back and at
/// most the lengths sent up.
fn mlstm_block_parity(k: &Gpu, m: &MlstmBlock<'_>) {
    use recur::cell::mlstm::{block_backward_on_host, block_forward_on_host};
    let name = format!(
        "T={} B={} H={} reverse {} lengths {:?}",
        m.t, m.b, m.h, m.reverse, m.lengths
    );
    let (g, d, w) = (m.g(), m.d(), m.state_row());
    let (t, b, h) = (m.t, m.b, m.h);
    // Gate pre-activations over (-3, 3), so that stabilizers come from the
    // initial state, from the current step and from earlier ones.
    let mut xg: Vec<f32> = values(t * b * g, 40);
    for (i, x) in xg.iter_mut().enumerate() {
        if i % g >= 4 * h {
            *x *= 3.0;
        }
    }
    // Each sequence's m in its heads' columns (the first is read).
    let mut c0: Vec<f32> = values(b * w, 41);
    for r in 0..b {
        for hd in 0..m.heads {
            let cols = &mut c0[r * w + (d + 1) * h + hd * d..][..d];
            let m0 = cols[0] * 2.0;
            cols.fill(m0);
        }
    }
    let (hs0, c_out): (Vec<f32>, Vec<f32>) = (values((t + 1) * b * h, 42), values(b * w, 43));
    let (dh, dc0): (Vec<f32>, Vec<f32>) = (values(t * b * h, 44), values(b * w, 45));
    let (dg0, dh00): (Vec<f32>, Vec<f32>) = (values(t * b * g, 46), values(b * h, 47));
    let (mut hs, mut c) = (hs0.clone(), c_out.clone());
    block_forward_on_host(m, &xg, &c0, &mut hs, &mut c);
    let (mut dc, mut dg, mut dh0) = (dc0.clone(), dg0.clone(), dh00.clone());
    block_backward_on_host(m, &xg, &c0, &dh, &mut dc, &mut dg, &mut dh0);
    let [gxg, gc0, gdh] = [&xg, &c0, &dh].map(|x| k.upload(x));
    let [mut ghs, mut gc, mut gdc, mut gdg, mut gdh0] =
        [&hs0, &c_out, &dc0, &dg0, &dh00].map(|x| k.upload(x));
    k.take_counters();
    let ran = k.mlstm_block_forward(
        m,
        Gpu::view(&gxg),
        Gpu::view(&gc0),
        Gpu::view_mut(&mut ghs),
        Gpu::view_mut(&mut gc),
    ) && k.mlstm_block_backward(
        m,
        Gpu::view(&gxg),
        Gpu::view(&gc0),
        Gpu::view(&gdh),
        Gpu::view_mut(&mut gdc),
        Gpu::view_mut(&mut gdg),
        Gpu::view_mut(&mut gdh0),
    );
    assert!(ran, "{name}: the GPU has mLSTM kernels");
    let counted = k.take_counters();
    assert_eq!(counted.round_trips, 0, "{name}: {counted:?}");
    let uploads = if m.lengths.is_some() { 2 } else { 0 };
    assert_eq!(counted.uploads, uploads, "{name}: {counted:?}");
    for (what, got, want) in [
        ("hs", &ghs, &hs),
        ("final state", &gc, &c),
        ("dg", &gdg, &dg),
        ("dc", &gdc, &dc),
        ("dh0", &gdh0, &dh0),
    ] {
        let got = to_host(k, Gpu::view(got));
        assert_close(&got, want, 1e-4, &format!("{name}: {what}"));
    }
}

/// The mLSTM's block kernels against the CPU's host path on awkward
/// shapes: sequences of no steps and of all of them, both reading
/// directions, one step, heads of one unit (H = 4), and H = 64 over 50
/// steps.
#[test]
fn mlstm_block_kernels_match_the_cpus_host_path_within_1e_4() {
    let Some(k) = gpu() else { return };
    let block = |t, b, h, reverse, lengths| MlstmBlock {
        t,
        b,
        h,
        heads: 4,
        reverse,
        lengths,
    };
    for reverse in [false, true] {
        mlstm_block_parity(&k, &block(5, 4, 8, reverse, Some(&[5, 0, 3, 1])));
        mlstm_block_parity(&k, &block(1, 2, 4, reverse, None));
        mlstm_block_parity(&k, &block(1, 3, 8, reverse, Some(&[0, 1, 4])));
        mlstm_block_parity(&k, &block(6, 3, 4, reverse, Some(&[0, 6, 2])));
        mlstm_block_parity(&k, &block(7, 2, 12, reverse, None));
        mlstm_block_parity(&k, &block(50, 2, 64, reverse, Some(&[50, 37])));
    }
}

// ---- networks ----

/// How a test network reads its input.
#[derive(Clone, Copy, Debug)]
enum Input {
    OneHot,
    Embedding,
    Dense,
}

/// Forward, loss and backward of one network on the CPU and the GPU from
/// the same weights; outputs, final states and every gradient compared.
fn net_parity(
    k: &Gpu,
    cell: CellKind,
    layers: usize,
    bidirectional: bool,
    padded: bool,
    input: Input,
) {
    let (t, b, v, i) = (5, 3, 7, 4);
    let h = 6usize.next_multiple_of(cell.heads());
    let name = format!("{cell} x{layers} bidirectional {bidirectional} padded {padded} {input:?}");
    let config = NetConfig {
        embed: matches!(input, Input::Embedding).then_some(5),
        input_size: if matches!(input, Input::Dense) { i } else { v },
        layers,
        bidirectional,
        dropout: if layers > 1 { 0.25 } else { 0.0 },
        ..NetConfig::char_lm(cell, v, h)
    };
    let cpu = Net::<f32>::new(config.clone(), Init::Uniform, 1).unwrap();
    let on_gpu = Net::from_params_on(k.clone(), config.clone(), cpu.params_to_host()).unwrap();
    let toks = tokens(t * b, v, 2);
    let dense = values(t * b * i, 3);
    let x = match input {
        Input::Dense => SeqInput::Dense(&dense),
        _ => SeqInput::Tokens(&toks),
    };
    let lengths = padded.then(|| vec![5, 2, 4]);
    let mut state: Vec<f32> = values(config.state_len(b), 4);
    config.stack().make_reachable(b, &mut state);
    let targets = match &lengths {
        Some(lengths) => padded_targets(lengths, t, v, 5),
        None => tokens(t * b, v, 5),
    };
    let batch = Batch {
        lengths: lengths.as_deref(),
        state: Some(&state),
        ..Batch::new(x, t, b)
    };
    // CPU.
    let mut ws = cpu.workspace();
    let mut grads = cpu.zero_grads();
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    let loss = cpu
        .loss_and_grad_batch(
            &batch,
            Target::Classes(&targets),
            &mut ws,
            &mut grads[..],
            Some(&mut rng),
        )
        .unwrap();
    // GPU.
    let mut gws = on_gpu.workspace();
    let mut ggrads = on_gpu.zero_grads();
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    let gloss = on_gpu
        .loss_and_grad_batch(
            &batch,
            Target::Classes(&targets),
            &mut gws,
            Gpu::view_mut(&mut ggrads),
            Some(&mut rng),
        )
        .unwrap();
    assert!(
        (gloss - loss).abs() <= 1e-4 * loss.abs(),
        "{name}: loss {gloss} vs {loss}"
    );
    assert_close(
        &to_host(k, gws.outputs()),
        ws.outputs(),
        1e-4,
        &format!("{name}: outputs"),
    );
    assert_close(
        &to_host(k, gws.final_state()),
        ws.final_state(),
        1e-4,
        &format!("{name}: final state"),
    );
    let gg = to_host(k, Gpu::view(&ggrads));
    for spec in cpu.layout().specs() {
        let r = spec.range();
        assert_close(
            &gg[r.clone()],
            &grads[r],
            1e-4,
            &format!("{name}: gradient of {}", spec.name),
        );
    }
    assert_close(
        &to_host(k, gws.initial_state_grad()),
        ws.initial_state_grad(),
        1e-4,
        &format!("{name}: initial state gradient"),
    );
    if matches!(input, Input::Dense) {
        assert_close(
            &to_host(k, gws.input_grad()),
            ws.input_grad(),
            1e-4,
            &format!("{name}: input gradient"),
        );
    }
}

#[test]
fn every_network_matches_the_cpu_within_1e_4() {
    let Some(k) = gpu() else { return };
    let cells = [
        CellKind::Rnn(Activation::Tanh),
        CellKind::Rnn(Activation::Relu),
        CellKind::Lstm,
        CellKind::Gru,
        CellKind::MinGru,
        CellKind::MinLstm,
        CellKind::Slstm,
        CellKind::Mlstm,
    ];
    for cell in cells {
        for layers in [1, 2] {
            for bidirectional in [false, true] {
                for padded in [false, true] {
                    for input in [Input::OneHot, Input::Embedding, Input::Dense] {
                        net_parity(&k, cell, layers, bidirectional, padded, input);
                    }
                }
            }
        }
    }
}

// ---- training, decoding, forecasting, checkpoints ----

/// How closely whole models on the GPU give the CPU's numbers.
const MODEL: Tolerance = Tolerance::Within(1e-4);

/// The networks of tests/backend.rs (an LSTM language model with
/// embedding, dropout and Adam; a many-to-one GRU regression on padded
/// dense input with momentum and elementwise clipping; a vanilla RNN from an
/// initial state): a few training steps give the CPU's losses, gradients
/// and trained weights within 1e-4.
#[test]
fn network_training_matches_the_cpu_within_1e_4() {
    let Some(k) = gpu() else { return };
    for case in cases::<f32>() {
        train_side_by_side(&case, k.clone(), MODEL);
    }
}

/// Sequence-to-sequence models, each cell with each attention, on padded
/// pairs with ignored targets: a few training steps give the CPU's losses,
/// gradients and trained weights within 1e-4.
#[test]
fn seq2seq_training_matches_the_cpu_within_1e_4() {
    let Some(k) = gpu() else { return };
    for case in pair_cases() {
        train_side_by_side::<f32, _, _>(&case, k.clone(), MODEL);
    }
}

/// Greedy step-by-step decoding (`encode`, then `decode_step` from host
/// states) of each sequence-to-sequence model: the encoder's state, then
/// each step's logits, states and attention weights within 1e-4 of the
/// CPU's, and the same tokens.
#[test]
fn greedy_decoding_matches_the_cpu_within_1e_4() {
    let Some(k) = gpu() else { return };
    for case in pair_cases() {
        let mut cpu = Greedy::<f32, _>::new(Cpu, &case);
        let mut on_gpu = Greedy::new(k.clone(), &case);
        cpu.start();
        on_gpu.start();
        let what = format!("{}: encoder state", case.name());
        MODEL.check(&on_gpu.state, &cpu.state, &what);
        for step in 0..DECODE_STEPS {
            cpu.step();
            on_gpu.step();
            on_gpu.assert_matches(&cpu, &case, MODEL, &format!("step {step}"));
        }
    }
}

/// A forecaster's settings and the series it learns.
struct Forecast {
    name: &'static str,
    config: ForecastConfig,
    features: Vec<Vec<f64>>,
    targets: Vec<Vec<f64>>,
}

/// A many-to-one GRU with MSE and a bidirectional GRU with MAE on a
/// one-column series (their forecasts roll past the horizon on their own
/// predictions), a two-layer many-to-many LSTM with MAE on two features.
fn forecasts() -> [Forecast; 3] {
    let sine = Synthetic::NoisySine.generate(240, 1);
    let sines = Synthetic::SinesTrend.generate(240, 2);
    let config = ForecastConfig {
        cell: CellKind::Gru,
        hidden: 8,
        layers: 1,
        lookback: 12,
        horizon: 3,
        stride: 2,
        batch: 8,
        lr: 0.01,
        iters: 15,
        loss: RegressionLoss::Mse,
        val_frac: 0.1,
        test_frac: 0.1,
        season: 0,
        seed: 3,
        every_step: false,
        bidirectional: false,
    };
    [
        Forecast {
            name: "gru forecaster",
            config: config.clone(),
            features: vec![sine.clone()],
            targets: vec![sine.clone()],
        },
        Forecast {
            name: "lstm forecaster, every step",
            config: ForecastConfig {
                cell: CellKind::Lstm,
                layers: 2,
                loss: RegressionLoss::Mae,
                every_step: true,
                ..config.clone()
            },
            features: vec![sines.clone(), sine.clone()],
            targets: vec![sines],
        },
        Forecast {
            name: "bidirectional gru forecaster",
            config: ForecastConfig {
                bidirectional: true,
                loss: RegressionLoss::Mae,
                ..config
            },
            features: vec![sine.clone()],
            targets: vec![sine],
        },
    ]
}

impl Forecast {
    /// The forecaster trained on the CPU.
    fn train(&self) -> Forecaster {
        let (f, _) = Forecaster::train(self.config.clone(), &self.features, &self.targets).unwrap();
        f
    }

    /// `steps` forecasts of `f` after the series, flattened.
    fn predict<K: Backend<f32>>(&self, f: &Forecaster<K>, steps: usize) -> Vec<f64> {
        let rows = f.predict(&self.features, &self.targets, steps).unwrap();
        assert_eq!(rows.len(), steps, "{}: steps", self.name);
        rows.concat()
    }
}

/// Forecasters trained on the CPU, their networks taken to the GPU with
/// their normalization: the forecasts, in the series' units, within 1e-4
/// of the CPU's (the horizon's; for a one-column series, 8 steps: three
/// passes, the later ones reading the model's own predictions).
#[test]
fn forecasts_match_the_cpu_within_1e_4() {
    let Some(k) = gpu() else { return };
    for series in forecasts() {
        let cpu = series.train();
        let net = &cpu.net;
        let on_gpu = Forecaster {
            net: Net::from_params_on(k.clone(), net.config().clone(), net.params_to_host())
                .unwrap(),
            features: cpu.features.clone(),
            targets: cpu.targets.clone(),
            config: cpu.config.clone(),
        };
        let horizon = series.config.horizon;
        let rolls = series.features == series.targets;
        let steps = if rolls { 3 * horizon - 1 } else { horizon };
        let (want, got) = (series.predict(&cpu, steps), series.predict(&on_gpu, steps));
        assert_close(&got, &want, 1e-4, &format!("{}: forecasts", series.name));
    }
}

/// The forecasters' networks (their shapes, their losses, their Adam and
/// global-norm clipping) on a batch of random normalized windows: a few
/// training steps give the CPU's losses, gradients and trained weights
/// within 1e-4. (The tests below drive the forecaster's own trainer.)
#[test]
fn forecaster_training_steps_match_the_cpu_within_1e_4() {
    let Some(k) = gpu() else { return };
    for series in forecasts() {
        let (l, b) = (series.config.lookback, series.config.batch);
        let net = series.train().net.config().clone();
        let rows = match net.readout {
            Readout::ManyToOne => b,
            Readout::ManyToMany => l * b,
        };
        let y = values(rows * net.output_size, 41);
        let case = Case {
            name: series.name,
            x: Data::Dense(values(l * b * net.input_size, 40)),
            t: l,
            b,
            lengths: None,
            state: None,
            target: match series.config.loss {
                RegressionLoss::Mse => Goal::Values(y),
                RegressionLoss::Mae => Goal::AbsValues(y),
            },
            optimizer: ADAM,
            lr: series.config.lr,
            clip: Clip::GlobalNorm(5.0),
            config: net,
        };
        train_side_by_side(&case, k.clone(), MODEL);
    }
}

/// Iterations of the forecaster's trainer on each device (lavapipe is slow).
const FORECAST_ITERS: u64 = 10;

/// The forecaster's own trainer ([`ForecastTrainer`]: its windows, batches,
/// Adam and clipping) on each of [`forecasts`]' settings, on the CPU and on
/// the GPU: every iteration's loss within 1e-4 of the CPU's, and at the
/// end the validation and test MSE within 1e-3 and the trained forecasts
/// within 1e-3.
#[test]
fn the_forecast_trainer_on_the_gpu_follows_the_cpus_losses_within_1e_4() {
    let Some(k) = gpu() else { return };
    for series in forecasts() {
        let (f, y) = (&series.features, &series.targets);
        let config = ForecastConfig {
            iters: FORECAST_ITERS,
            ..series.config.clone()
        };
        let mut cpu = ForecastTrainer::new(config.clone(), f, y).unwrap();
        let mut on_gpu = ForecastTrainer::new_on(k.clone(), config, f, y).unwrap();
        for i in 1..=FORECAST_ITERS {
            let (want, got) = (cpu.step().unwrap(), on_gpu.step().unwrap());
            assert_close(&[got], &[want], 1e-4, &format!("{}: loss {i}", series.name));
        }
        let ((cpu, want), (on_gpu, got)) = (cpu.finish().unwrap(), on_gpu.finish().unwrap());
        let what = format!("{}: validation and test MSE", series.name);
        assert_close(
            &[got.val_mse, got.mse],
            &[want.val_mse, want.mse],
            1e-3,
            &what,
        );
        let steps = series.config.horizon;
        let what = format!("{}: trained forecasts", series.name);
        assert_close(
            &series.predict(&on_gpu, steps),
            &series.predict(&cpu, steps),
            1e-3,
            &what,
        );
    }
}

/// Train `t` to `total` iterations in the run folder `dir`, saving there at
/// the end; returns each iteration's loss (logged every iteration).
fn train_in<K: Backend<f32>>(t: &mut ForecastTrainer<K>, total: u64, dir: &RunDir) -> Vec<f64> {
    t.set_total_iters(total);
    t.set_cadence(0, 1).unwrap();
    let mut losses = Vec::new();
    t.run_in(dir, None, &mut |e| {
        if let Event::Logged(line) = e {
            losses.push(line.train_loss);
        }
    })
    .unwrap();
    losses
}

/// A forecasting run trained 5 iterations on the GPU, saved into its run
/// folder and resumed on the CPU for 5 more, and one trained on the CPU
/// and resumed on the GPU: both follow the CPU's uninterrupted run within
/// 1e-4 at every iteration. The GPU's save holds exactly its weights, in
/// a file otherwise the CPU's (the same settings, normalization, columns,
/// iteration and run id).
#[test]
fn a_forecasting_run_saved_on_one_device_resumes_on_the_other() {
    let Some(k) = gpu() else { return };
    let series = &forecasts()[1]; // two features, many-to-many, MAE
    let (f, y) = (&series.features, &series.targets);
    let config = ForecastConfig {
        iters: FORECAST_ITERS,
        ..series.config.clone()
    };
    let half = FORECAST_ITERS / 2;
    let mut whole = ForecastTrainer::new(config.clone(), f, y).unwrap();
    let want: Vec<f64> = (0..FORECAST_ITERS).map(|_| whole.step().unwrap()).collect();
    let meta_keys = ["config", "forecast", "features", "targets", "feature_norm"];
    let meta_keys = [&meta_keys[..], &["target_norm", "iter", "run"]].concat();
    let mut saved_meta = Vec::new();
    for gpu_first in [true, false] {
        let path = std::env::temp_dir().join(format!(
            "recur-gpu-forecast-resume-{gpu_first}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&path);
        let dir = RunDir::open(&path, RunMode::New, "--out").unwrap();
        let mut losses = if gpu_first {
            let mut t = ForecastTrainer::new_on(k.clone(), config.clone(), f, y).unwrap();
            let losses = train_in(&mut t, half, &dir);
            let (saved, _, _) = load_forecaster(&model_path(&path)).unwrap();
            let weights = t.model().params_to_host();
            assert_same(&saved.net.params, &weights, "the GPU's saved weights");
            losses
        } else {
            let mut t = ForecastTrainer::new(config.clone(), f, y).unwrap();
            train_in(&mut t, half, &dir)
        };
        let file = Loaded::open(&model_path(&path)).unwrap();
        let meta: Vec<String> = meta_keys
            .iter()
            .map(|key| file.meta(&format!("recur.{key}")).unwrap().to_string())
            .collect();
        saved_meta.push(meta);
        let rest = if gpu_first {
            let mut t = ForecastTrainer::resume(&path, f, y).unwrap();
            assert_eq!(t.iter(), half);
            train_in(&mut t, FORECAST_ITERS, &dir)
        } else {
            let mut t = ForecastTrainer::resume_on(k.clone(), &path, f, y).unwrap();
            assert_eq!(t.iter(), half);
            train_in(&mut t, FORECAST_ITERS, &dir)
        };
        losses.extend(rest);
        let first = if gpu_first { "GPU" } else { "CPU" };
        assert_eq!(losses.len(), want.len(), "iterations, {first} first");
        for (i, (got, want)) in losses.iter().zip(&want).enumerate() {
            let what = format!("loss {} of the run begun on the {first}", i + 1);
            assert_close(&[*got], &[*want], 1e-4, &what);
        }
        drop(dir);
        std::fs::remove_dir_all(&path).unwrap();
    }
    assert_eq!(saved_meta[0], saved_meta[1], "the saves' metadata");
}

/// Training iterations of the long run.
const LONG_RUN: usize = 200;

/// An LSTM language model (H = 32, V = 20) trained 200 steps with Adam
/// (learning rate 0.01) and global-norm clipping on one block (T = 16,
/// B = 8) of a noisy counter (each token the previous plus one, mod V; one
/// in five drawn at random), driven by `Net`, `Optimizer` and
/// `Clip::apply_on` on each backend: the GPU's loss at every step within
/// 1e-3 of the CPU's, and training that learns (the loss falls below a
/// tenth). (At learning rate 0.05 the run is chaotic: the CPU's own f32
/// and f64 curves part by 2e-3 within 20 steps.)
#[test]
fn a_200_step_training_run_follows_the_cpus_loss_curve_within_1e_3() {
    let Some(k) = gpu() else { return };
    let (t, b, v, h) = (16, 8, 20, 32);
    let jumps = values::<f64>((t + 1) * b, 50);
    let mut stream = tokens(b, v, 51);
    for q in b..(t + 1) * b {
        let next = (stream[q - b] + 1) % v as u32;
        let drawn = tokens(1, v, 52 + q as u64)[0];
        stream.push(if jumps[q] < -0.6 { drawn } else { next });
    }
    // (T, B) inputs and, one step on, their targets.
    let (x, y) = (stream[..t * b].to_vec(), stream[b..].to_vec());
    let case = Case {
        name: "language model",
        config: NetConfig::char_lm(CellKind::Lstm, v, h),
        x: Data::Tokens(x),
        t,
        b,
        lengths: None,
        state: None,
        target: Goal::Classes(y),
        optimizer: ADAM,
        lr: 0.01,
        clip: Clip::GlobalNorm(1.0),
    };
    let (mut cpu, mut on_gpu) = (case.on(Cpu), case.on(k));
    let curve = |run: &mut dyn trials::Run<f32>| -> Vec<f64> {
        (0..LONG_RUN).map(|_| run.step()).collect()
    };
    let (want, got) = (curve(&mut cpu), curve(&mut on_gpu));
    for (i, (g, c)) in got.iter().zip(&want).enumerate() {
        assert_close(&[*g], &[*c], 1e-3, &format!("loss at step {i}"));
    }
    let (first, last) = (want[0], want[LONG_RUN - 1]);
    assert!(last < first / 10.0, "the loss went from {first} to {last}");
}

/// Training without teacher forcing decodes its padded batch greedily on
/// the device (`Seq2Seq::greedy_batch`): the CPU's tokens, every step's
/// choice made there and the tokens read back once.
#[test]
fn greedy_decoding_of_a_padded_batch_reads_its_tokens_back_once() {
    use recur::model::seq2seq::{GreedyWorkspace, Seq2Seq};
    let Some(k) = gpu() else { return };
    for case in pair_cases() {
        let name = case.name();
        let cpu = Seq2Seq::<f32>::new(case.config.clone(), Init::Uniform, SEED).unwrap();
        let on_gpu =
            Seq2Seq::<f32, _>::new_on(k.clone(), case.config.clone(), Init::Uniform, SEED).unwrap();
        let batch = case.batch();
        let want = cpu
            .greedy_batch(&batch, &mut GreedyWorkspace::default())
            .unwrap();
        k.take_counters();
        let got = on_gpu
            .greedy_batch(&batch, &mut GreedyWorkspace::default())
            .unwrap();
        let counted = k.take_counters();
        assert_eq!(got, want, "{name}");
        assert_eq!(counted.round_trips, 1, "{name}: {counted:?}");
    }
}

/// A run of the language-model trainer reads its losses back only where
/// it logs (every 5 of 15 iterations: 3 round trips, not 15), and its log
/// lines (each the mean of the settled iterations' losses) and smoothed
/// loss follow the CPU's run within 1e-3, for an LSTM and for an mLSTM
/// (whose window runs in its own kernels). A run that blows up is stopped
/// at the same iteration on both, though the GPU notices it late.
#[test]
fn training_reads_its_losses_back_only_where_it_logs() {
    let Some(k) = gpu() else { return };
    use recur::train::{TrainConfig, TrainData, Trainer};
    let text = "the cat sat on the mat; the rat ate the cat's hat. ".repeat(8);
    let config = TrainConfig {
        cell: CellKind::Lstm,
        hidden: 12,
        seq_len: 10,
        batch: 4,
        lr: 0.01,
        val_frac: 0.0,
        eval_every: 0,
        log_every: 5,
        ..TrainConfig::default()
    };
    let data = || TrainData::Corpus(text.clone());
    // The training losses logged and the smoothed loss at the end.
    fn run<K: Backend<f32>>(t: &mut Trainer<K>) -> (Vec<f64>, f64) {
        let mut lines = Vec::new();
        let summary = t
            .run(None, None, &mut |e| {
                if let Event::Logged(line) = e {
                    lines.push(line.train_loss);
                }
            })
            .unwrap();
        (lines, summary.smooth_loss)
    }
    for cell in [CellKind::Lstm, CellKind::Mlstm] {
        let config = TrainConfig {
            cell,
            ..config.clone()
        };
        let mut cpu = Trainer::new(config.clone(), data(), 15).unwrap();
        let mut on_gpu = Trainer::new_on(k.clone(), config, data(), 15).unwrap();
        let want = run(&mut cpu);
        k.take_counters();
        let got = run(&mut on_gpu);
        let counted = k.take_counters();
        assert_eq!(counted.round_trips, 3, "{cell}: {counted:?}");
        assert_eq!(got.0.len(), 3);
        assert_close(&got.0, &want.0, 1e-3, &format!("{cell}: logged losses"));
        assert_close(&[got.1], &[want.1], 1e-3, &format!("{cell}: smoothed loss"));
    }

    // At this rate the loss blows up within a few iterations.
    let wild = TrainConfig {
        lr: 50.0,
        optimizer: recur::optim::OptimizerKind::Sgd { momentum: 0.0 },
        clip: Clip::None,
        log_every: 50,
        ..config
    };
    let diverged = |err: recur::Error| {
        let text = err.to_string();
        assert!(text.contains("training diverged at iteration"), "{text}");
        text.split("iteration ")
            .nth(1)
            .unwrap()
            .split(':')
            .next()
            .unwrap()
            .to_string()
    };
    let mut cpu = Trainer::new(wild.clone(), data(), 50).unwrap();
    let mut on_gpu = Trainer::new_on(k, wild, data(), 50).unwrap();
    let at_cpu = diverged(cpu.run(None, None, &mut |_| {}).unwrap_err());
    let at_gpu = diverged(on_gpu.run(None, None, &mut |_| {}).unwrap_err());
    assert_eq!(at_gpu, at_cpu);
}

/// A language model saved on the CPU, loaded (exactly its weights), taken
/// to the GPU, trained one step there and brought back: the CPU network
/// from the GPU's
/// weights gives the GPU network's outputs and final state within 1e-4,
/// and a checkpoint of it saved and loaded again holds exactly the bytes
/// of the weights the GPU gave.
#[test]
fn a_checkpoint_trained_on_the_gpu_comes_back_to_the_cpu() {
    let Some(k) = gpu() else { return };
    let dir = std::env::temp_dir().join(format!(
        "recur-gpu-checkpoint-{}-{:?}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let vocab = CharVocab::from_chars("abcdefghij".chars().collect()).unwrap();
    let (t, b, v) = (7, 3, vocab.len());
    let config = NetConfig {
        layers: 2,
        embed: Some(6),
        ..NetConfig::char_lm(CellKind::Lstm, v, 9)
    };
    // CPU → file → GPU.
    let start = Net::<f32>::new(config, Init::Uniform, SEED).unwrap();
    let (first, second) = (
        dir.join("start.safetensors"),
        dir.join("trained.safetensors"),
    );
    save_model(&first, &start, &vocab, &[]).unwrap();
    let loaded = load_model(&first).unwrap().net;
    assert_same(&loaded.params, &start.params, "loaded weights");
    let params = loaded.params_to_host();
    let mut on_gpu = Net::from_params_on(k.clone(), loaded.config().clone(), params).unwrap();
    // One training step on the GPU.
    let (x, y) = (tokens(t * b, v, 60), tokens(t * b, v, 61));
    let batch = Batch::new(SeqInput::Tokens(&x), t, b);
    let (mut ws, mut grads) = (on_gpu.workspace(), on_gpu.zero_grads());
    let mut opt = optimizer(&k, ADAM, on_gpu.layout().len());
    let target = Target::Classes(&y);
    let grad = Gpu::view_mut(&mut grads);
    on_gpu
        .loss_and_grad_batch(&batch, target, &mut ws, grad, None)
        .unwrap();
    clip_and_step(
        &k,
        Clip::GlobalNorm(1.0),
        &mut opt,
        &mut on_gpu.params,
        &mut grads,
    );
    on_gpu.forward_batch(&batch, &mut ws, None).unwrap();
    let (outputs, state) = (to_host(&k, ws.outputs()), to_host(&k, ws.final_state()));
    // GPU → CPU.
    let trained = on_gpu.params_to_host();
    assert!(trained != start.params, "the step changed nothing");
    let back = Net::<f32>::from_params(on_gpu.config().clone(), trained.clone()).unwrap();
    let mut cpu_ws = back.workspace();
    back.forward_batch(&batch, &mut cpu_ws, None).unwrap();
    assert_close(cpu_ws.outputs(), &outputs, 1e-4, "outputs");
    assert_close(cpu_ws.final_state(), &state, 1e-4, "final state");
    // CPU → file → CPU.
    save_model(&second, &back, &vocab, &[]).unwrap();
    let reloaded = load_model(&second).unwrap().net;
    assert_eq!(reloaded.config(), back.config());
    assert_same(&reloaded.params, &trained, "reloaded weights");
    std::fs::remove_dir_all(&dir).unwrap();
}
