//! Padding is invisible: a sequence run inside a padded batch gives the
//! same loss, gradients and final state as the same sequence run alone.

use recur::cell::CellKind;
use recur::model::{Batch, Init, Net, NetConfig, Readout};
use recur::{Activation, IGNORE, SeqInput, Target};

/// Sequence A (length 3) alone, and in a batch with B (length 5), padded.
fn check(cell: CellKind, bidirectional: bool, readout: Readout) {
    let config = NetConfig {
        layers: 2,
        bidirectional,
        readout,
        ..NetConfig::char_lm(cell, 5, 4)
    };
    let net = Net::<f64>::new(config.clone(), Init::Uniform, 3).unwrap();
    let (a, b) = ([1u32, 4, 2], [0u32, 3, 3, 1, 2]);
    let ya = [2u32, 0, 4];
    let many = readout == Readout::ManyToMany;

    let mut ws = net.workspace();
    let mut g_alone = net.zero_grads();
    let alone_targets: Vec<u32> = if many { ya.to_vec() } else { vec![ya[2]] };
    let alone = Batch::new(SeqInput::Tokens(&a), 3, 1);
    let loss_alone = net
        .loss_and_grad_batch(
            &alone,
            Target::Classes(&alone_targets),
            &mut ws,
            &mut g_alone,
            None,
        )
        .unwrap();
    let state_alone = ws.final_state().to_vec();

    // Batch of two, time-major; A padded after step 3. B's targets are
    // ignored, so the loss and gradients are A's alone.
    let tokens: Vec<u32> = (0..5)
        .flat_map(|s| [*a.get(s).unwrap_or(&0), b[s]])
        .collect();
    let targets: Vec<u32> = match many {
        true => (0..5)
            .flat_map(|s| [*ya.get(s).unwrap_or(&IGNORE), IGNORE])
            .collect(),
        false => vec![ya[2], IGNORE],
    };
    let lengths = [3, 5];
    let padded = Batch {
        lengths: Some(&lengths),
        ..Batch::new(SeqInput::Tokens(&tokens), 5, 2)
    };
    let mut g_padded = net.zero_grads();
    let loss_padded = net
        .loss_and_grad_batch(
            &padded,
            Target::Classes(&targets),
            &mut ws,
            &mut g_padded,
            None,
        )
        .unwrap();

    let what = format!("{} bidirectional={bidirectional} {readout:?}", cell.name());
    assert!(
        (loss_alone - loss_padded).abs() < 1e-12,
        "{what}: loss {loss_alone} vs {loss_padded}"
    );
    for (i, (x, y)) in g_alone.iter().zip(&g_padded).enumerate() {
        assert!((x - y).abs() < 1e-12, "{what}: gradient {i}: {x} vs {y}");
    }
    // A's final state is row 0 of every (layer, direction) block.
    let h = config.hidden_size;
    for (blk, alone_blk) in ws
        .final_state()
        .chunks_exact(2 * h)
        .zip(state_alone.chunks_exact(h))
    {
        for (x, y) in blk[..h].iter().zip(alone_blk) {
            assert!((x - y).abs() < 1e-12, "{what}: final state {x} vs {y}");
        }
    }
}

#[test]
fn padding_changes_nothing() {
    for cell in [
        CellKind::Rnn(Activation::Tanh),
        CellKind::Lstm,
        CellKind::Gru,
    ] {
        for bidirectional in [false, true] {
            for readout in [Readout::ManyToMany, Readout::ManyToOne] {
                check(cell, bidirectional, readout);
            }
        }
    }
}
