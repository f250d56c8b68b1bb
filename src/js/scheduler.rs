//! Who runs next: a bounded queue of script jobs per site, served in turn (round-robin over
//! the sites that have work), so one site's backlog delays another site's run by at most one
//! run. Pure bookkeeping — no threads, no processes, no clocks of its own — so every decision
//! is unit-tested here; `pool` owns the threads that act on it.

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
}

struct SiteQueue<J> {
    waiting: VecDeque<Waiting<J>>,
    running: usize,
    /// A serial job (a WebSocket message) is running: the site's next serial job waits, so
    /// a client's messages are handled in the order they were sent.
    serial_running: bool,
}

struct Waiting<J> {
    job: J,
    serial: bool,
    since: Instant,
}

/// A job given a turn: run it, then call `Queues::finished` with the same site and `serial`.
pub struct Turn<J> {
    pub site: String,
    pub job: J,
    pub serial: bool,
    pub waited: Duration,
}

impl<J> Queues<J> {
    pub fn new(per_site_cap: usize, max_waiting: usize) -> Queues<J> {
        Queues {
            sites: HashMap::new(),
            turn: VecDeque::new(),
            per_site_cap: per_site_cap.max(1),
            max_waiting,
        }
    }

    /// Queues a job; gives it back when the site already has `max_waiting` jobs waiting.
    pub fn push(&mut self, site: &str, job: J, serial: bool, now: Instant) -> Result<(), J> {
        let queue = self
            .sites
            .entry(site.to_string())
            .or_insert_with(|| SiteQueue {
                waiting: VecDeque::new(),
                running: 0,
                serial_running: false,
            });
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

    /// The next job to run, taking sites in turn; `None` when every site with waiting jobs
    /// is at its cap (or has only a serial job behind a running one).
    pub fn next(&mut self, now: Instant) -> Option<Turn<J>> {
        for position in 0..self.turn.len() {
            let site = &self.turn[position];
            let queue = self
                .sites
                .get_mut(site)
                .expect("a site in turn has a queue");
            if queue.running >= self.per_site_cap {
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
            let site = self.turn.remove(position).expect("position in range");
            if !queue.waiting.is_empty() {
                // Its next job waits behind every other site's.
                self.turn.push_back(site.clone());
            }
            return Some(Turn {
                site,
                job: waiting.job,
                serial: waiting.serial,
                waited: now.saturating_duration_since(waiting.since),
            });
        }
        None
    }

    /// A run of `site` has ended.
    pub fn finished(&mut self, site: &str, serial: bool) {
        if let Some(queue) = self.sites.get_mut(site) {
            queue.running = queue.running.saturating_sub(1);
            if serial {
                queue.serial_running = false;
            }
            if queue.running == 0 && queue.waiting.is_empty() {
                self.sites.remove(site);
            }
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

    fn names(q: &mut Queues<&'static str>, now: Instant, n: usize) -> Vec<&'static str> {
        (0..n).filter_map(|_| q.next(now).map(|t| t.job)).collect()
    }

    #[test]
    fn sites_take_turns_whatever_their_backlog() {
        let now = Instant::now();
        let mut q = Queues::new(10, 100);
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
        let mut q = Queues::new(2, 100);
        for job in ["a1", "a2", "a3"] {
            q.push("a", job, false, now).unwrap();
        }
        assert_eq!(names(&mut q, now, 3), ["a1", "a2"]);
        q.push("b", "b1", false, now).unwrap();
        assert_eq!(names(&mut q, now, 2), ["b1"], "a is at its cap of 2");
        q.finished("a", false);
        assert_eq!(names(&mut q, now, 2), ["a3"]);
    }

    #[test]
    fn a_full_queue_gives_the_job_back() {
        let now = Instant::now();
        let mut q = Queues::new(1, 2);
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
        let mut q = Queues::new(3, 100);
        q.push("a", "m1", true, now).unwrap();
        q.push("a", "m2", true, now).unwrap();
        q.push("a", "get", false, now).unwrap();
        assert_eq!(names(&mut q, now, 3), ["m1", "get"]);
        q.finished("a", true);
        assert_eq!(names(&mut q, now, 1), ["m2"]);
    }

    #[test]
    fn jobs_that_waited_too_long_come_out() {
        let start = Instant::now();
        let mut q = Queues::new(1, 100);
        q.push("a", "old", false, start).unwrap();
        let later = start + Duration::from_secs(3);
        q.push("a", "new", false, later).unwrap();
        assert_eq!(q.expired(later, Duration::from_secs(2)), ["old"]);
        assert_eq!(q.waiting(), 1);
        let turn = q.next(later).unwrap();
        assert_eq!((turn.job, turn.waited), ("new", Duration::ZERO));
        q.finished("a", false);
        assert!(
            q.sites.is_empty() && q.turn.is_empty(),
            "nothing left behind"
        );
    }

    #[test]
    fn draining_a_site_leaves_the_others() {
        let now = Instant::now();
        let mut q = Queues::new(1, 100);
        q.push("a", "a1", false, now).unwrap();
        q.push("b", "b1", false, now).unwrap();
        assert_eq!(q.drain("a"), ["a1"]);
        assert_eq!(names(&mut q, now, 2), ["b1"]);
    }
}
