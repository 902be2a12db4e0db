//! The GPU backend against the CPU: every kernel, then whole models
//! (forward outputs, final states, every gradient) within 1e-4 of the
//! CPU's, and optimizer steps within 1e-5.
//!
//! Runs on whatever adapter wgpu finds; in CI that is Mesa's software
//! Vulkan driver (lavapipe). Without an adapter the tests skip with a
//! message, except where `CI` is set: there they fail.
//!
//! "Within ε" means per tensor: the largest difference is at most ε times
//! the largest magnitude of the CPU's values (f32 sums taken in another
//! order differ by rounding relative to the tensor's scale, not each value's).

#![cfg(feature = "gpu")]

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use recur::backend::{Activation, Backend, Gpu, IGNORE, Update, View};
use recur::cell::CellKind;
use recur::model::{Batch, Init, Net, NetConfig};
use recur::tensor::Trans;
use recur::{Cpu, SeqInput, Target};

/// The GPU, or `None` (with a message) where there is none and `CI` is unset.
fn gpu() -> Option<Gpu> {
    match Gpu::open(None) {
        Ok(gpu) => Some(gpu),
        Err(e) if std::env::var_os("CI").is_some() => {
            panic!("CI is set but there is no GPU adapter (install mesa-vulkan-drivers): {e}")
        }
        Err(e) => {
            eprintln!("skipped: {e}");
            None
        }
    }
}

/// `n` values in `[-1, 1)`.
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n).map(|_| rng.random_range(-1.0..1.0)).collect()
}

/// `n` tokens below `v`.
fn tokens(n: usize, v: usize, seed: u64) -> Vec<u32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n).map(|_| rng.random_range(0..v as u32)).collect()
}

/// Assert `gpu` within `eps` of `cpu`, relative to `cpu`'s largest magnitude.
#[track_caller]
fn assert_close(gpu: &[f32], cpu: &[f32], eps: f64, what: &str) {
    assert_eq!(gpu.len(), cpu.len(), "{what}: lengths");
    let scale = cpu
        .iter()
        .fold(0f64, |m, &x| m.max((x as f64).abs()))
        .max(1e-30);
    for (i, (&g, &c)) in gpu.iter().zip(cpu).enumerate() {
        let d = (g as f64 - c as f64).abs();
        assert!(
            d <= eps * scale,
            "{what}: value {i} is {g} on the GPU and {c} on the CPU (tensor scale {scale:.3e})"
        );
    }
}

fn host(k: &Gpu, view: <Gpu as Backend<f32>>::Ref<'_>) -> Vec<f32> {
    let mut out = vec![0.0; view.len()];
    k.download(view, &mut out);
    out
}

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
                    assert_close(&host(&k, Gpu::view(&gc)), &c, 1e-5, &what);
                }
            }
        }
    }
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
    assert_close(&host(&k, Gpu::view(&gc)), &c, 1e-5, "matmul of views");
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
    assert_close(&host(&k, Gpu::view(&gout)), &out, 0.0, "gather_rows");
    let mut dt = table.clone();
    Cpu.scatter_add_rows(&grad, &toks, &mut dt);
    let mut gdt = k.upload(&table);
    k.scatter_add_rows(Gpu::view(&gg), &toks, Gpu::view_mut(&mut gdt));
    assert_close(&host(&k, Gpu::view(&gdt)), &dt, 0.0, "scatter_add_rows");
    // Columns: w (D, V).
    let mut out = vec![0.0; r * d];
    Cpu.gather_columns(&table, v, &toks, &mut out);
    k.gather_columns(Gpu::view(&gt), v, &toks, Gpu::view_mut(&mut gout));
    assert_close(&host(&k, Gpu::view(&gout)), &out, 0.0, "gather_columns");
    let mut dw = table.clone();
    Cpu.scatter_add_columns(&grad, &toks, &mut dw, v);
    let mut gdw = k.upload(&table);
    k.scatter_add_columns(Gpu::view(&gg), &toks, Gpu::view_mut(&mut gdw), v);
    assert_close(&host(&k, Gpu::view(&gdw)), &dw, 0.0, "scatter_add_columns");
}

#[test]
fn losses_and_reductions_match_the_cpu() {
    let Some(k) = gpu() else { return };
    let (r, v) = (37, 300);
    let logits: Vec<f32> = values(r * v, 9).iter().map(|x| 8.0 * x).collect();
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
    assert_close(&host(&k, Gpu::view(&gd)), &d, 1e-5, "dlogits");
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
        assert_close(&host(&k, Gpu::view(&gd)), &d, 1e-6, "error gradient");
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
    assert_close(&host(&k, Gpu::view(&gz)), &z, 1e-5, "z");
    assert_close(&host(&k, Gpu::view(&ge)), &e, 1e-5, "scores");
    // Masked softmax over the first 4 of 6 columns, and its backward.
    let mut sm = e.clone();
    Cpu.softmax_rows(&mut sm, s, 4);
    k.softmax_rows(Gpu::view_mut(&mut ge), s, 4);
    assert_close(&host(&k, Gpu::view(&ge)), &sm, 1e-6, "softmax");
    let mut de = values(t * s, 17);
    de[5] = 0.0;
    let mut gde = k.upload(&de);
    Cpu.softmax_rows_backward(&sm, &mut de, s);
    k.softmax_rows_backward(Gpu::view(&ge), Gpu::view_mut(&mut gde), s);
    assert_close(&host(&k, Gpu::view(&gde)), &de, 1e-6, "softmax backward");
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
    assert_close(&host(&k, Gpu::view(&gdv)), &dv, 1e-5, "dv");
    assert_close(&host(&k, Gpu::view(&gdq)), &dq, 1e-5, "dq");
    assert_close(&host(&k, Gpu::view(&gdu)), &du, 1e-5, "du");
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
            &host(&k, Gpu::view(&gp)),
            &p,
            1e-5,
            &format!("{rule:?}: parameters"),
        );
        assert_close(
            &host(&k, Gpu::view(&gm0)),
            &m0,
            1e-5,
            &format!("{rule:?}: first moment"),
        );
        assert_close(
            &host(&k, Gpu::view(&gm1)),
            &m1,
            1e-5,
            &format!("{rule:?}: second moment"),
        );
    }
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
        assert_close(&host(&k, Gpu::view(&gg)), &c, 1e-5, &format!("{clip:?}"));
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
    let (t, b, v, h, i) = (5, 3, 7, 6, 4);
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
    let state = values(config.state_len(b), 4);
    let mut targets = tokens(t * b, v, 5);
    if let Some(lengths) = &lengths {
        for (q, x) in targets.iter_mut().enumerate() {
            if q / b >= lengths[q % b] {
                *x = IGNORE;
            }
        }
    }
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
        &host(k, gws.outputs()),
        ws.outputs(),
        1e-4,
        &format!("{name}: outputs"),
    );
    assert_close(
        &host(k, gws.final_state()),
        ws.final_state(),
        1e-4,
        &format!("{name}: final state"),
    );
    let gg = host(k, Gpu::view(&ggrads));
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
        &host(k, gws.initial_state_grad()),
        ws.initial_state_grad(),
        1e-4,
        &format!("{name}: initial state gradient"),
    );
    if matches!(input, Input::Dense) {
        assert_close(
            &host(k, gws.input_grad()),
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
