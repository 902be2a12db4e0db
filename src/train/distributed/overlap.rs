//! The exchange of a language model's step run beside its backward pass
//! (`--overlap on`, or `auto` for a large model: see [`super::Overlap`]).
//! The backward finishes the output layer's gradients first, then each
//! recurrent layer's from the top down ([`Net::grad_segments`]); as soon
//! as every shard of this rank has finished a segment, this rank starts
//! exchanging it (`MPI_Iallgatherv` of every shard's values, or the rank's
//! weighted sum by `MPI_Iallreduce`) while its threads go on with the
//! layers below. What is left when the backward ends is the bottom
//! layer's segment, the carried states and losses, and the wait for the
//! slowest rank.
//!
//! The shards run on the rayon pool's threads and report to this thread
//! (the one that started MPI, which alone calls it) over a channel; this
//! thread starts each segment's exchange in segment order, the same on
//! every rank, and drives the exchanges already started (`MPI_Test`)
//! whenever it waits. The sums are the ones [`Group::share`] makes, in
//! the same order: the gather's results are bit for bit one process's;
//! the allreduce's, bit for bit those of the exchange after the backward
//! with two ranks (one addition a value) and within rounding with more
//! (MPI may associate a sum over more ranks differently by message size).

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use mpi::Count;
use mpi::collective::SystemOperation;
use mpi::datatype::PartitionMut;
use mpi::request::{Request, Scope, StaticScope};
use mpi::topology::SimpleCommunicator;
use mpi::traits::CommunicatorCollectives;

use super::exchange::{CARRY, LOSS, accumulate, host, set_summed, unpack};
use super::{Exchange, Group};
use crate::backend::{Backend, View};
use crate::error::{Error, Result};
use crate::model::{Net, Progress};
use crate::train::shard::{RunShard, Shard};

/// How long this thread first waits for a shard's report before it drives
/// the exchanges in flight again (MPI moves a nonblocking collective on
/// only inside an MPI call); each wait that ends with no report doubles
/// it, up to [`POLL_MAX`]. Waking every 100 µs throughout cost a small
/// model 5-10% of its speed on 2 cores, whose threads all compute.
const POLL: Duration = Duration::from_micros(50);
/// The longest wait between two drives of the exchanges in flight.
const POLL_MAX: Duration = Duration::from_millis(1);

/// What a shard's thread tells this one (`local`: its place among this
/// rank's shards).
enum Event {
    /// Its loss is known, over `count` targets.
    Counted { local: usize, count: usize },
    /// The next of its segments is final: its values.
    Final { local: usize, values: Vec<f32> },
}

/// The reports received so far: each shard's count, and each segment's
/// values from each shard, until the segment's exchange starts.
struct Reports {
    counts: Vec<Option<u64>>,
    /// `[segment][local shard]`.
    segments: Vec<Vec<Option<Vec<f32>>>>,
    /// The segment each shard reports next.
    next: Vec<usize>,
}

impl Reports {
    fn new(shards: usize, segments: usize) -> Self {
        Reports {
            counts: vec![None; shards],
            segments: vec![vec![None; shards]; segments],
            next: vec![0; shards],
        }
    }

    fn take(&mut self, e: Event) {
        match e {
            Event::Counted { local, count } => self.counts[local] = Some(count as u64),
            Event::Final { local, values } => {
                let j = self.next[local];
                self.segments[j][local] = Some(values);
                self.next[local] += 1;
            }
        }
    }

    fn counted(&self) -> bool {
        self.counts.iter().all(Option::is_some)
    }

    fn finished(&self, j: usize) -> bool {
        self.segments[j].iter().all(Option::is_some)
    }
}

/// The exchanges in flight, oldest first.
struct InFlight<'a, D: ?Sized, S: Scope<'a>>(VecDeque<Request<'a, D, S>>);

impl<'a, D: ?Sized, S: Scope<'a>> InFlight<'a, D, S> {
    fn new() -> Self {
        InFlight(VecDeque::new())
    }

    /// Let MPI move them on; drop the ones done.
    fn drive(&mut self) {
        while let Some(r) = self.0.pop_front() {
            if let Err(r) = r.test() {
                self.0.push_front(r);
                return;
            }
        }
    }

    /// Wait for every one to finish.
    fn finish(&mut self) {
        while let Some(r) = self.0.pop_front() {
            r.wait_without_status();
        }
    }

    /// Take reports into `reports` until `ready(reports)`, driving these
    /// exchanges while none comes. An error when every shard has ended
    /// first (one failed; it says why), once these exchanges are done.
    fn wait_for(
        &mut self,
        rx: &Receiver<Event>,
        reports: &mut Reports,
        ready: impl Fn(&Reports) -> bool,
    ) -> Result<()> {
        let mut delay = POLL;
        while !ready(reports) {
            self.drive();
            // Nothing to drive: sleep until a report comes.
            let next = match self.0.is_empty() {
                true => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
                false => rx.recv_timeout(delay),
            };
            match next {
                Ok(e) => reports.take(e),
                Err(RecvTimeoutError::Timeout) => delay = (delay * 2).min(POLL_MAX),
                Err(RecvTimeoutError::Disconnected) => {
                    self.finish();
                    return Err(Error::Config(
                        "a shard's step ended before its backward pass did".into(),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Wait for every one to finish, taking reports meanwhile.
    fn drain(&mut self, rx: &Receiver<Event>, reports: &mut Reports) {
        let mut delay = POLL;
        loop {
            self.drive();
            if self.0.is_empty() {
                return;
            }
            match rx.recv_timeout(delay) {
                Ok(e) => reports.take(e),
                Err(RecvTimeoutError::Timeout) => delay = (delay * 2).min(POLL_MAX),
                Err(RecvTimeoutError::Disconnected) => return self.finish(),
            }
        }
    }
}

/// [`Group::run_and_share`] with the exchange beside the backward (see the
/// module docs): this rank's shards (`mine`) run `run` on the pool's
/// threads while this thread exchanges their segments as they finish.
pub(super) fn run_and_share<K: Backend<f32>>(
    group: &Group,
    comm: &SimpleCommunicator,
    net: &Net<f32, K>,
    shards: &mut [Shard<K>],
    mine: Range<usize>,
    run: impl RunShard<K>,
) -> Result<bool> {
    let segments = net.grad_segments();
    let k = net.backend();
    let plan = Plan::new(group, comm, mine.len(), &segments, shards.len())?;
    let failed = Mutex::new(None);
    let (tx, rx) = channel();
    let mut outcome = Err(Error::Config("no exchange ran".into()));
    let (mut exposed, mut window) = (Instant::now(), Duration::ZERO);
    let alone = mine.len() == 1;
    rayon::in_place_scope(|scope| {
        for (local, s) in shards[mine.clone()].iter_mut().enumerate() {
            let (tx, run, failed) = (tx.clone(), &run, &failed);
            scope.spawn(move |_| {
                let mut report = |p: Progress<K::Ref<'_>>| {
                    let e = match p {
                        Progress::Counted(count) => Event::Counted { local, count },
                        Progress::Final(_, g) => {
                            let mut values = vec![0.0; g.len()];
                            k.download(g, &mut values);
                            Event::Final { local, values }
                        }
                    };
                    // The receiver gone means the exchange failed, and says so.
                    let _ = tx.send(e);
                };
                // A rank's one shard may split its products over the pool,
                // as it would on the calling thread.
                let result = match alone {
                    true => crate::tensor::as_sole_task(|| run(s, &mut report)),
                    false => run(s, &mut report),
                };
                if let Err(e) = result {
                    let mut first = failed.lock().unwrap_or_else(|p| p.into_inner());
                    first.get_or_insert(e);
                }
            });
        }
        drop(tx);
        outcome = plan.exchange(&rx, (&mut exposed, &mut window));
    });
    if let Some(e) = failed.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    let (counts, results) = outcome?;
    let summed = plan.finish(k, shards, mine, &segments, &counts, &results);
    group.add_exchange_time(exposed.elapsed());
    group.add_beside_time(window);
    summed
}

/// The exchanges of one step, as this rank sees them.
struct Plan<'g> {
    group: &'g Group,
    comm: &'g SimpleCommunicator,
    /// This rank's shards.
    own: usize,
    /// Where they start among all the shards.
    first: usize,
    /// The shards every rank owns, in rank order.
    per_rank: Vec<usize>,
    /// Every segment's length.
    lens: Vec<usize>,
}

impl<'g> Plan<'g> {
    fn new(
        group: &'g Group,
        comm: &'g SimpleCommunicator,
        own: usize,
        segments: &[Range<usize>],
        shards: usize,
    ) -> Result<Self> {
        let plan = Plan {
            group,
            comm,
            own,
            first: group.owned_by(group.rank, shards).start,
            per_rank: (0..group.size)
                .map(|r| group.owned_by(r, shards).len())
                .collect(),
            lens: segments.iter().map(|r| r.len()).collect(),
        };
        // Every message's size is a valid MPI count.
        plan.blocks(plan.lens.iter().sum())?;
        Ok(plan)
    }

    /// The counts and displacements of a gather of `n` values a shard.
    fn blocks(&self, n: usize) -> Result<(Vec<Count>, Vec<Count>)> {
        let counts: Vec<usize> = self.per_rank.iter().map(|&s| s * n).collect();
        let displs = counts.iter().scan(0, |at, &c| {
            let d = *at;
            *at += c;
            Some(d)
        });
        let count = |n: usize| Count::try_from(n).map_err(|_| too_large(n));
        Ok((
            counts.iter().map(|&c| count(c)).collect::<Result<_>>()?,
            displs.map(count).collect::<Result<_>>()?,
        ))
    }

    /// Exchange the shards' counts, then every segment in order as this
    /// rank's shards finish it. Returns every shard's target count and
    /// every segment's result: with the gather, every shard's values of
    /// it one after another; with the allreduce, the batch's weighted sum.
    /// `exposed` is set when the last segment's exchange starts, `window`
    /// to the time since the one before it started.
    fn exchange(
        &self,
        rx: &Receiver<Event>,
        (exposed, window): (&mut Instant, &mut Duration),
    ) -> Result<(Vec<u64>, Vec<Vec<f32>>)> {
        let mut reports = Reports::new(self.own, self.lens.len());
        let counts = self.counts(rx, &mut reports)?;
        let gather = self.group.exchange == Exchange::Gather;
        let shards: usize = self.per_rank.iter().sum();
        let (mut sends, mut results): (Vec<Vec<f32>>, Vec<Vec<f32>>) = self
            .lens
            .iter()
            .map(|&n| match gather {
                true => (vec![0.0; self.own * n], vec![0.0; shards * n]),
                false => (vec![0.0; n], vec![0.0; n]),
            })
            .unzip();
        let fill = |j: usize, reports: &mut Reports, send: &mut [f32]| {
            let total = counts.iter().sum::<u64>().max(1) as f32;
            for (local, values) in reports.segments[j].iter_mut().enumerate() {
                let values = values.take().unwrap_or_default();
                if gather {
                    send[local * values.len()..][..values.len()].copy_from_slice(&values);
                } else {
                    let w = counts[self.first + local] as f32 / total;
                    accumulate(send, &values, w, local == 0);
                }
            }
        };
        let segments = Segments {
            rx,
            reports: &mut reports,
            exposed,
            window,
            fill: &fill,
        };
        if gather {
            let mut blocks = Vec::new();
            for (result, &n) in results.iter_mut().zip(&self.lens) {
                let (c, d) = self.blocks(n)?;
                blocks.push(PartitionMut::new(&mut result[..], c, d));
            }
            mpi::request::scope(|scope| {
                segments.run(&mut sends, blocks.iter_mut(), |send, into| {
                    self.comm
                        .immediate_all_gather_varcount_into(scope, send, into)
                })
            })?;
        } else {
            mpi::request::scope(|scope| {
                segments.run(&mut sends, results.iter_mut(), |send, into| {
                    let sum = SystemOperation::sum();
                    self.comm.immediate_all_reduce_into(scope, send, into, sum)
                })
            })?;
        }
        Ok((counts, results))
    }

    /// Every shard's target count, once this rank's shards have all
    /// computed their losses (`MPI_Iallgatherv`).
    fn counts(&self, rx: &Receiver<Event>, reports: &mut Reports) -> Result<Vec<u64>> {
        InFlight::<[u64], StaticScope>::new().wait_for(rx, reports, Reports::counted)?;
        let own: Vec<u64> = reports.counts.iter().map(|c| c.unwrap_or(0)).collect();
        let mut all = vec![0u64; self.per_rank.iter().sum()];
        let (c, d) = self.blocks(1)?;
        let mut blocks = PartitionMut::new(&mut all[..], c, d);
        mpi::request::scope(|scope| {
            let mut flight = InFlight::new();
            let req = self
                .comm
                .immediate_all_gather_varcount_into(scope, &own[..], &mut blocks);
            flight.0.push_back(req);
            flight.drain(rx, reports);
        });
        drop(blocks);
        Ok(all)
    }

    /// Set the step's results into the shards as [`Group::share`] leaves
    /// them, with the carried states and losses, exchanged now (after the
    /// backward). Returns whether the gradients are summed.
    fn finish<K: Backend<f32>>(
        &self,
        k: &K,
        shards: &mut [Shard<K>],
        mine: Range<usize>,
        segments: &[Range<usize>],
        counts: &[u64],
        results: &[Vec<f32>],
    ) -> Result<bool> {
        let (group, comm) = (self.group, self.comm);
        match group.exchange {
            Exchange::Gather => {
                for (i, s) in shards.iter_mut().enumerate() {
                    if mine.contains(&i) {
                        continue;
                    }
                    let g = host::<K>(K::view_mut(&mut s.grads))?;
                    for (r, all) in segments.iter().zip(results) {
                        g[r.clone()].copy_from_slice(&all[i * r.len()..][..r.len()]);
                    }
                }
                let rest = group.gather_parts(comm, k, shards, mine.clone(), LOSS)?;
                unpack(shards, mine, &rest, counts, LOSS)?;
                Ok(false)
            }
            Exchange::Allreduce => {
                let carries = group.gather_parts(comm, k, shards, mine.clone(), CARRY)?;
                let mut total = vec![0.0f32; K::buf_len(&shards[0].grads) + 1];
                for (r, sum) in segments.iter().zip(results) {
                    total[r.clone()].copy_from_slice(sum);
                }
                // This rank's losses summed in shard order, then over the
                // ranks, as `Group::share` sums them.
                let mut loss = [0.0f32];
                let partial = shards[mine.clone()]
                    .iter()
                    .map(|s| {
                        k.download(K::view(&s.scalars).sub(0..1), &mut loss);
                        loss[0]
                    })
                    .reduce(|a, b| a + b)
                    .unwrap_or(0.0);
                let at = total.len() - 1;
                super::transport::all_reduce_sum(comm, &[partial], &mut total[at..])?;
                set_summed(shards, mine, &total, &carries, counts)?;
                Ok(true)
            }
        }
    }
}

/// The segments' exchanges of one step, in one request scope.
struct Segments<'r, F> {
    rx: &'r Receiver<Event>,
    reports: &'r mut Reports,
    /// When the last segment's exchange started.
    exposed: &'r mut Instant,
    /// From the start of the one before it to then: the bottom layer's
    /// backward, beside which the layers above were exchanged.
    window: &'r mut Duration,
    /// Segment `j`'s values to send, from the reports.
    fill: &'r F,
}

impl<F: Fn(usize, &mut Reports, &mut [f32])> Segments<'_, F> {
    /// Start each segment's exchange (`start(values to send, results)`),
    /// in order, as soon as this rank's shards have all finished it; then
    /// wait for them all.
    fn run<'a, D: ?Sized + 'a, S: Scope<'a>>(
        self,
        sends: &'a mut [Vec<f32>],
        into: impl Iterator<Item = &'a mut D>,
        start: impl Fn(&'a [f32], &'a mut D) -> Request<'a, D, S>,
    ) -> Result<()> {
        let mut flight = InFlight::new();
        let last = sends.len();
        for (j, (send, into)) in sends.iter_mut().zip(into).enumerate() {
            flight.wait_for(self.rx, self.reports, |r| r.finished(j))?;
            (self.fill)(j, self.reports, send);
            let now = Instant::now();
            if j + 1 == last {
                *self.window = now.saturating_duration_since(*self.exposed);
            }
            *self.exposed = now;
            flight.0.push_back(start(send, into));
        }
        flight.drain(self.rx, self.reports);
        Ok(())
    }
}

/// The error for a message past what one MPI message carries.
fn too_large(n: usize) -> Error {
    Error::Config(format!(
        "a gradient exchange of {n} values is more than one MPI message carries ({}): train a smaller model or use fewer shards per rank",
        Count::MAX
    ))
}
