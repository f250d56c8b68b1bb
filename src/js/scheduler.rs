//! Who runs next: a bounded queue of script jobs per site, served in turn (round-robin over
//! the sites that have work), so one site's backlog delays another site's run by at most one
//! run; and a fair share of the CPU: a site whose runs have used more than its share of the
//! cores lately keeps a single run going while a lighter site is active. Pure bookkeeping —
//! no threads, no processes, no clocks of its own — so every decision is unit-tested here;
//! `pool` owns the threads that act on it.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// The queues of every site, and how many runs each site has going.
pub struct Queues<J> {
    sites: HashMap<String, SiteQueue<J>>,
    /// Sites with waiting jobs, in the order they get their next turn.
    turn: VecDeque<String>,
    /// Runs one site may have going at once: less than the number of workers, so another
    /// site always finds one.
    per_site_cap: usize,
    /// Jobs one site may have waiting; past it, new ones are refused at once.
    max_waiting: usize,
    /// The cores scripts share: each active site's fair share is `cores / active sites`.
    cores: f64,
    /// Each site's recent time inside a worker, decaying with `USAGE_WINDOW`.
    usage: HashMap<String, Usage>,
}

/// Seconds of work, decaying exponentially: `charge / USAGE_WINDOW` is the number of cores a
/// site has kept busy lately; and what one of its runs costs, on a moving average.
#[derive(Clone, Copy)]
struct Usage {
    charge: f64,
    at: Instant,
    per_run: f64,
}

/// Runs of one site handed to a worker at once, at most: their answers wait for the last.
pub const MAX_BATCH: usize = 32;
/// A batch is as many waiting runs as fit in this much work, by the site's recent cost per
/// run: a cheap script's queue goes in one exchange and one commit; a slow one's runs stay
/// single (and may go in parallel).
const BATCH_WORK: f64 = 0.002;

const USAGE_WINDOW: f64 = 1.0;
/// Cores used lately above which a site without jobs right now still counts as active.
const RECENT: f64 = 0.01;

impl Usage {
    fn cores_at(&self, now: Instant) -> f64 {
        let age = now.saturating_duration_since(self.at).as_secs_f64();
        self.charge * (-age / USAGE_WINDOW).exp() / USAGE_WINDOW
    }
}

struct SiteQueue<J> {
    waiting: VecDeque<Waiting<J>>,
    running: usize,
    /// A serial job (a WebSocket message) is running: the site's next serial job waits, so
    /// a client's messages are handled in the order they were sent.
    serial_running: bool,
    /// A batch of this site is running: its next turn waits for it (a second batch in
    /// parallel would read the same keys and one of the two would have to run again).
    batch_running: bool,
}

impl<J> SiteQueue<J> {
    fn new() -> SiteQueue<J> {
        SiteQueue {
            waiting: VecDeque::new(),
            running: 0,
            serial_running: false,
            batch_running: false,
        }
    }

    /// No run of this site may start now: it is at its cap, or a batch of it is running.
    fn full(&self, per_site_cap: usize) -> bool {
        self.running >= per_site_cap || self.batch_running
    }
}

struct Waiting<J> {
    job: J,
    serial: bool,
    since: Instant,
}

/// Jobs given a turn (one, or a batch of one site's): run them, then call
/// `Queues::finished` with the same site, `serial` and `batch`.
pub struct Turn<J> {
    pub site: String,
    pub jobs: Vec<J>,
    pub serial: bool,
    pub waited: Duration,
}

impl<J> Turn<J> {
    /// Whether this turn is a batch (`Queues::finished` needs to know).
    pub fn batch(&self) -> bool {
        self.jobs.len() > 1
    }
}

impl<J> Queues<J> {
    pub fn new(per_site_cap: usize, max_waiting: usize, cores: usize) -> Queues<J> {
        Queues {
            sites: HashMap::new(),
            turn: VecDeque::new(),
            per_site_cap: per_site_cap.max(1),
            max_waiting,
            cores: cores.max(1) as f64,
            usage: HashMap::new(),
        }
    }

    /// The cores `site` has kept busy lately.
    fn cores_used(&self, site: &str, now: Instant) -> f64 {
        self.usage.get(site).map_or(0.0, |u| u.cores_at(now))
    }

    /// Active sites (with jobs waiting or running, or busy within the last moments) that
    /// used more than their share of the cores lately — but only while another active site
    /// stays under its share (else nobody is hurt, and every free worker should be used).
    fn over_share(&self, now: Instant) -> Vec<&str> {
        // A site that sends one request at a time has no job between two of them: it still
        // counts, or the worker it just freed would always go to the heavy site.
        let recent = self
            .usage
            .iter()
            .filter(|(site, u)| !self.sites.contains_key(*site) && u.cores_at(now) > RECENT)
            .map(|(site, _)| site.as_str());
        let active: Vec<&str> = self
            .sites
            .keys()
            .map(String::as_str)
            .chain(recent)
            .collect();
        // A little below the share, so a site holding exactly its share cannot creep up.
        let share = 0.9 * self.cores / active.len().max(1) as f64;
        let (over, under): (Vec<&str>, Vec<&str>) = active
            .into_iter()
            .partition(|site| self.cores_used(site, now) > share);
        if under.is_empty() { Vec::new() } else { over }
    }

    /// Queues a job; gives it back when the site already has `max_waiting` jobs waiting.
    pub fn push(&mut self, site: &str, job: J, serial: bool, now: Instant) -> Result<(), J> {
        let queue = self
            .sites
            .entry(site.to_string())
            .or_insert_with(SiteQueue::new);
        if queue.waiting.len() >= self.max_waiting {
            return Err(job);
        }
        if queue.waiting.is_empty() {
            self.turn.push_back(site.to_string());
        }
        queue.waiting.push_back(Waiting {
            job,
            serial,
            since: now,
        });
        Ok(())
    }

    /// Whether `site` may start a run now (below its cap, no batch of it running); `next` may
    /// still pass it over for its CPU share.
    pub fn may_start(&self, site: &str) -> bool {
        self.sites
            .get(site)
            .is_some_and(|q| !q.full(self.per_site_cap))
    }

    /// The next job to run, taking sites in turn; `None` when every site with waiting jobs
    /// is at its cap (or has only a serial job behind a running one).
    pub fn next(&mut self, now: Instant) -> Option<Turn<J>> {
        let over_share: Vec<String> = self
            .over_share(now)
            .into_iter()
            .map(str::to_string)
            .collect();
        for position in 0..self.turn.len() {
            let site = &self.turn[position];
            let queue = self
                .sites
                .get_mut(site)
                .expect("a site in turn has a queue");
            if queue.full(self.per_site_cap) || (queue.running >= 1 && over_share.contains(site)) {
                continue;
            }
            let Some(index) = queue
                .waiting
                .iter()
                .position(|w| !(w.serial && queue.serial_running))
            else {
                continue;
            };
            let waiting = queue.waiting.remove(index).expect("index from position");
            queue.running += 1;
            queue.serial_running |= waiting.serial;
            let mut jobs = vec![waiting.job];
            if !waiting.serial {
                let per_run = self.usage.get(site).map_or(f64::INFINITY, |u| u.per_run);
                let fits = (BATCH_WORK / per_run).clamp(1.0, MAX_BATCH as f64) as usize;
                while jobs.len() < fits && queue.waiting.front().is_some_and(|w| !w.serial) {
                    jobs.push(queue.waiting.pop_front().expect("front exists").job);
                }
                queue.batch_running = jobs.len() > 1;
            }
            let site = self.turn.remove(position).expect("position in range");
            if !queue.waiting.is_empty() {
                // Its next job waits behind every other site's.
                self.turn.push_back(site.clone());
            }
            return Some(Turn {
                site,
                jobs,
                serial: waiting.serial,
                waited: now.saturating_duration_since(waiting.since),
            });
        }
        None
    }

    /// A turn of `site` has ended: `runs` runs (a batch if `batch`) after `worked` inside a
    /// worker.
    pub fn finished(
        &mut self,
        site: &str,
        serial: bool,
        batch: bool,
        runs: usize,
        worked: Duration,
        now: Instant,
    ) {
        let used = self.cores_used(site, now) * USAGE_WINDOW;
        let this_run = worked.as_secs_f64() / runs.max(1) as f64;
        let per_run = match self.usage.get(site) {
            // Nothing ran (a batch handed every run back): nothing learnt about a run's cost.
            Some(u) if runs == 0 => u.per_run,
            None if runs == 0 => f64::INFINITY,
            Some(u) if u.per_run.is_finite() => 0.8 * u.per_run + 0.2 * this_run,
            _ => this_run,
        };
        self.usage.insert(
            site.to_string(),
            Usage {
                charge: used + worked.as_secs_f64(),
                at: now,
                per_run,
            },
        );
        // Sites quiet for long enough are forgotten.
        if self.usage.len() > 64 {
            self.usage.retain(|_, u| u.cores_at(now) > 0.001);
        }
        if let Some(queue) = self.sites.get_mut(site) {
            queue.running = queue.running.saturating_sub(1);
            if serial {
                queue.serial_running = false;
            }
            if batch {
                queue.batch_running = false;
            }
            if queue.running == 0 && queue.waiting.is_empty() {
                self.sites.remove(site);
            }
        }
    }

    /// Puts jobs of a turn that did not run back at the head of the site's queue, in order
    /// (they are not counted against its `max_waiting`: they were already let in).
    pub fn requeue(&mut self, site: &str, jobs: Vec<J>, now: Instant) {
        if jobs.is_empty() {
            return;
        }
        let queue = self
            .sites
            .entry(site.to_string())
            .or_insert_with(SiteQueue::new);
        if queue.waiting.is_empty() {
            self.turn.push_front(site.to_string());
        }
        for job in jobs.into_iter().rev() {
            queue.waiting.push_front(Waiting {
                job,
                serial: false,
                since: now,
            });
        }
    }

    /// Takes out every job that has waited longer than `max_wait` (to be answered "busy").
    pub fn expired(&mut self, now: Instant, max_wait: Duration) -> Vec<J> {
        let mut out = Vec::new();
        for queue in self.sites.values_mut() {
            while queue
                .waiting
                .front()
                .is_some_and(|w| now.saturating_duration_since(w.since) > max_wait)
            {
                out.push(queue.waiting.pop_front().expect("front exists").job);
            }
        }
        if !out.is_empty() {
            self.forget_idle();
        }
        out
    }

    /// Takes out every waiting job of one site (e.g. when it is cooling down).
    pub fn drain(&mut self, site: &str) -> Vec<J> {
        let out = self
            .sites
            .get_mut(site)
            .map(|q| q.waiting.drain(..).map(|w| w.job).collect())
            .unwrap_or_default();
        self.forget_idle();
        out
    }

    /// Jobs waiting, over all sites.
    pub fn waiting(&self) -> usize {
        self.sites.values().map(|q| q.waiting.len()).sum()
    }

    fn forget_idle(&mut self) {
        let sites = &mut self.sites;
        self.turn
            .retain(|s| sites.get(s).is_some_and(|q| !q.waiting.is_empty()));
        sites.retain(|_, q| q.running > 0 || !q.waiting.is_empty());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names<J>(q: &mut Queues<J>, now: Instant, n: usize) -> Vec<J> {
        (0..n)
            .filter_map(|_| q.next(now))
            .flat_map(|t| t.jobs)
            .collect()
    }

    #[test]
    fn sites_take_turns_whatever_their_backlog() {
        let now = Instant::now();
        let mut q = Queues::new(10, 100, 2);
        for job in ["a1", "a2", "a3", "a4"] {
            q.push("a", job, false, now).unwrap();
        }
        q.push("b", "b1", false, now).unwrap();
        q.push("c", "c1", false, now).unwrap();
        q.push("b", "b2", false, now).unwrap();
        assert_eq!(
            names(&mut q, now, 7),
            ["a1", "b1", "c1", "a2", "b2", "a3", "a4"]
        );
    }

    #[test]
    fn a_site_at_its_cap_lets_the_others_pass() {
        let now = Instant::now();
        let mut q = Queues::new(2, 100, 2);
        for job in ["a1", "a2", "a3"] {
            q.push("a", job, false, now).unwrap();
        }
        assert_eq!(names(&mut q, now, 3), ["a1", "a2"]);
        q.push("b", "b1", false, now).unwrap();
        assert_eq!(names(&mut q, now, 2), ["b1"], "a is at its cap of 2");
        q.finished("a", false, false, 1, Duration::ZERO, now);
        assert_eq!(names(&mut q, now, 2), ["a3"]);
    }

    #[test]
    fn a_full_queue_gives_the_job_back() {
        let now = Instant::now();
        let mut q = Queues::new(1, 2, 2);
        q.push("a", 1, false, now).unwrap();
        q.push("a", 2, false, now).unwrap();
        assert_eq!(q.push("a", 3, false, now), Err(3));
        assert_eq!(
            q.push("b", 4, false, now),
            Ok(()),
            "other sites are not affected"
        );
    }

    #[test]
    fn serial_jobs_of_a_site_run_one_at_a_time_in_order() {
        let now = Instant::now();
        let mut q = Queues::new(3, 100, 2);
        q.push("a", "m1", true, now).unwrap();
        q.push("a", "m2", true, now).unwrap();
        q.push("a", "get", false, now).unwrap();
        assert_eq!(names(&mut q, now, 3), ["m1", "get"]);
        q.finished("a", true, false, 1, Duration::ZERO, now);
        assert_eq!(names(&mut q, now, 1), ["m2"]);
    }

    #[test]
    fn jobs_that_waited_too_long_come_out() {
        let start = Instant::now();
        let mut q = Queues::new(1, 100, 2);
        q.push("a", "old", false, start).unwrap();
        let later = start + Duration::from_secs(3);
        q.push("a", "new", false, later).unwrap();
        assert_eq!(q.expired(later, Duration::from_secs(2)), ["old"]);
        assert_eq!(q.waiting(), 1);
        let turn = q.next(later).unwrap();
        assert_eq!((turn.jobs, turn.waited), (vec!["new"], Duration::ZERO));
        q.finished("a", false, false, 1, Duration::ZERO, later);
        assert!(
            q.sites.is_empty() && q.turn.is_empty(),
            "nothing left behind"
        );
    }

    #[test]
    fn draining_a_site_leaves_the_others() {
        let now = Instant::now();
        let mut q = Queues::new(1, 100, 2);
        q.push("a", "a1", false, now).unwrap();
        q.push("b", "b1", false, now).unwrap();
        assert_eq!(q.drain("a"), ["a1"]);
        assert_eq!(names(&mut q, now, 2), ["b1"]);
    }

    /// "heavy" alone uses all three workers for three seconds, 90 ms of CPU per run — nobody
    /// else is hurt, so it may — and ends with three runs going.
    fn heavy_alone(q: &mut Queues<i32>, now: &mut Instant) {
        for i in 0..200 {
            q.push("heavy", i, false, *now).unwrap();
        }
        assert_eq!(names(q, *now, 3).len(), 3);
        for _ in 0..30 {
            *now += Duration::from_millis(90);
            for _ in 0..3 {
                q.finished("heavy", false, false, 1, Duration::from_millis(90), *now);
            }
            assert_eq!(names(q, *now, 3).len(), 3, "alone, it may use them all");
        }
    }

    #[test]
    fn a_site_over_its_cpu_share_keeps_one_run_while_a_lighter_site_is_active() {
        let mut now = Instant::now();
        let mut q = Queues::new(3, 1000, 2);
        let ms = Duration::from_millis;
        heavy_alone(&mut q, &mut now);
        // Along comes "light": heavy has used ~3 cores lately, more than its share of one.
        q.push("light", 100, false, now).unwrap();
        q.push("light", 101, false, now).unwrap();
        for _ in 0..2 {
            now += ms(90);
            q.finished("heavy", false, false, 1, ms(90), now);
        }
        assert_eq!(names(&mut q, now, 3), [100, 101], "heavy keeps its one run");
        q.finished("light", false, false, 1, ms(1), now);
        q.finished("light", false, false, 1, ms(1), now);
        // Once light is gone, heavy takes the free workers again.
        assert_eq!(names(&mut q, now, 3).len(), 2);
    }

    #[test]
    fn two_heavy_sites_share_every_worker() {
        let now = Instant::now();
        let mut q = Queues::new(4, 100, 2);
        for i in 0..10 {
            q.push("a", i, false, now).unwrap();
            q.push("b", 100 + i, false, now).unwrap();
        }
        q.finished("a", false, false, 1, Duration::from_secs(3), now);
        q.finished("b", false, false, 1, Duration::from_secs(3), now);
        assert_eq!(
            names(&mut q, now, 4).len(),
            4,
            "both over share: nobody is held back"
        );
    }

    #[test]
    fn a_site_between_two_requests_still_counts_as_active() {
        let mut now = Instant::now();
        let mut q = Queues::new(3, 1000, 2);
        let ms = Duration::from_millis;
        heavy_alone(&mut q, &mut now);
        now += ms(90);
        for _ in 0..3 {
            q.finished("heavy", false, false, 1, ms(90), now);
        }
        // "light" sends one request at a time: between two of them it has no job at all.
        q.push("light", 1000, false, now).unwrap();
        let started = names(&mut q, now, 3);
        assert_eq!(
            started.len(),
            2,
            "heavy keeps one run, light gets one: {started:?}"
        );
        assert!(started.contains(&1000));
        now += ms(30);
        q.finished("light", false, false, 1, ms(30), now);
        assert!(
            names(&mut q, now, 3).is_empty(),
            "the worker light just freed is not given to heavy's second run"
        );
    }

    #[test]
    fn a_cheap_sites_queue_goes_as_one_batch_and_its_next_turn_waits_for_it() {
        let now = Instant::now();
        let mut q = Queues::new(3, 100, 2);
        q.push("a", 0, false, now).unwrap();
        assert_eq!(q.next(now).unwrap().jobs, [0], "its cost is not known yet");
        q.finished("a", false, false, 1, Duration::from_micros(100), now);
        for i in 1..=50 {
            q.push("a", i, false, now).unwrap();
        }
        let turn = q.next(now).unwrap();
        assert!(turn.batch());
        // 2 ms of work at 100 µs a run.
        assert_eq!(turn.jobs, (1..=20).collect::<Vec<_>>());
        assert!(q.next(now).is_none(), "one batch of a site at a time");
        q.push("b", 100, false, now).unwrap();
        assert_eq!(
            names(&mut q, now, 2),
            [100],
            "other sites still get workers"
        );
        // The batch ran out of time after 5 runs: the rest go back to the front, in order.
        q.requeue("a", (6..=20).collect(), now);
        q.finished("a", false, true, 5, Duration::from_micros(500), now);
        assert_eq!(q.next(now).unwrap().jobs, (6..=25).collect::<Vec<_>>());
    }

    #[test]
    fn slow_runs_and_serial_jobs_are_never_batched() {
        let now = Instant::now();
        let mut q = Queues::new(3, 100, 2);
        q.finished("slow", false, false, 1, Duration::from_millis(90), now);
        for i in 0..3 {
            q.push("slow", i, false, now).unwrap();
        }
        q.finished("ws", true, false, 1, Duration::from_micros(10), now);
        q.push("ws", 10, true, now).unwrap();
        q.push("ws", 11, false, now).unwrap();
        q.push("ws", 12, false, now).unwrap();
        let turns: Vec<Vec<i32>> = (0..4).filter_map(|_| q.next(now)).map(|t| t.jobs).collect();
        assert_eq!(turns, [vec![0], vec![10], vec![1], vec![11, 12]]);
    }
}
