//! `Net::loss_and_grad_reporting`: the count comes first, then the gradients of each of `Net::grad_segments`
//! are reported, in that order, once they are final (what lets the MPI
//! exchange send the upper layers' gradients while the lower layers'
//! backward still runs).

use recur::backend::Cpu;
use recur::cell::{CellKind, SeqInput};
use recur::layer::loss::Target;
use recur::model::{Batch, Init, Net, NetConfig, Progress, Readout};

/// Each reported segment's range and its values when reported.
type Reported = Vec<(std::ops::Range<usize>, Vec<f64>)>;

/// The reports of one forward and backward of `config` on a seeded batch
/// (each segment's range and its values when reported) and the final
/// gradients.
fn reports(config: NetConfig) -> (Net<f64>, Reported, Vec<f64>) {
    let net = Net::<f64>::new_on(Cpu, config.clone(), Init::Uniform, 7).expect("a net");
    let (t, b, v) = (5, 3, config.input_size);
    let tokens: Vec<u32> = (0..t * b).map(|i| ((i * 7 + 3) % v) as u32).collect();
    let targets: Vec<u32> = match config.readout {
        Readout::ManyToMany => (0..t * b).map(|i| ((i * 5 + 1) % v) as u32).collect(),
        Readout::ManyToOne => (0..b).map(|i| (i % v) as u32).collect(),
    };
    let mut ws = net.workspace();
    let batch = Batch::new(SeqInput::Tokens(&tokens), t, b);
    let target = Target::Classes(&targets);
    let mut loss = vec![0.0];
    let mut grads = net.zero_grads();
    let mut seen = Vec::new();
    let mut counted = None;
    let count = net
        .loss_and_grad_reporting(
            &batch,
            None,
            target,
            &mut ws,
            &mut grads[..],
            None,
            &mut loss[..],
            &mut |p| match p {
                Progress::Counted(n) => counted = Some(n),
                Progress::Final(r, g) => {
                    assert!(counted.is_some(), "a segment before the count");
                    seen.push((r, g.to_vec()))
                }
            },
        )
        .expect("a step");
    assert_eq!(counted, Some(count));
    assert_eq!(count, targets.len());
    // The same gradients and loss as the plain step.
    let (mut plain, mut plain_loss) = (net.zero_grads(), vec![0.0]);
    net.loss_and_grad_to(
        &batch,
        None,
        target,
        &mut ws,
        &mut plain[..],
        None,
        &mut plain_loss[..],
    )
    .expect("a step");
    assert_eq!(
        (plain, plain_loss),
        (grads.clone(), loss),
        "reporting changed the step"
    );
    (net, seen, grads)
}

fn config(cell: CellKind, embed: Option<usize>, layers: usize, bidirectional: bool) -> NetConfig {
    NetConfig {
        embed,
        layers,
        bidirectional,
        ..NetConfig::char_lm(cell, 6, 4)
    }
}

#[test]
fn every_segment_is_reported_in_order_once_final() {
    let cases = [
        config(CellKind::Lstm, Some(3), 3, true),
        config(CellKind::Gru, None, 2, false),
        config(CellKind::Rnn(recur::cell::Activation::Tanh), None, 1, false),
        config(CellKind::MinGru, Some(2), 2, false),
        config(CellKind::Mlstm, None, 2, false),
        NetConfig {
            readout: Readout::ManyToOne,
            ..config(CellKind::Lstm, None, 2, true)
        },
    ];
    for c in cases {
        let (net, seen, grads) = reports(c.clone());
        let ranges: Vec<_> = seen.iter().map(|(r, _)| r.clone()).collect();
        assert_eq!(ranges, net.grad_segments(), "{c:?}");
        assert_eq!(ranges.len(), c.layers + 1, "{c:?}");
        assert_eq!(ranges[0].end, grads.len());
        assert_eq!(ranges.last().map(|r| r.start), Some(0));
        assert!(ranges.windows(2).all(|w| w[1].end == w[0].start));
        for (r, values) in &seen {
            // What was reported is what the gradients end as: nothing in
            // a segment changes after its report.
            assert_eq!(values[..], grads[r.clone()], "{c:?}: {r:?}");
            assert!(values.iter().any(|&g| g != 0.0), "{c:?}: {r:?} all zero");
        }
    }
}
