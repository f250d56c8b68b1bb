//! The watchdog: a thread that kills a script worker whose run is past its hard deadline and
//! used that time (one that only waited for a core gets more), with the watch the pool arms
//! on each worker slot for the length of a run, moved while `fetch` waits on the network.
//! Decides when to kill and kills; never starts a worker, reads a reply or answers a client.

use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// The watchdog's patience while a `fetch` is in flight (its own timeout, plus a margin).
const FETCH_ALLOWANCE: Duration = Duration::from_secs(11);
/// How many more limits a worker that waited for a core (rather than ran) may take.
const STARVED_GRACE: u32 = 10;

/// One watch per worker slot, and the hard deadline every run gets.
pub(super) struct Watchdog {
    watches: Vec<Mutex<Option<Watch>>>,
    limit: Duration,
}

/// A run being watched: when it must end, and whether the watchdog has killed it.
struct Watch {
    deadline: Instant,
    /// Set when the deadline first passes: since when, and the worker's CPU time at the
    /// last look. A worker that was only waiting for a core (a busy machine, its nice value)
    /// gets more time, up to `STARVED_GRACE` limits; one that burnt its CPU is killed.
    overdue: Option<(Instant, Duration)>,
    /// While a `fetch` waits on the network: the deadline to return to, moved by the wait.
    paused: Option<(Instant, Instant)>,
    pid: u32,
    fired: bool,
}

impl Watchdog {
    /// Watches for `slots` workers, each run ending `limit` after it starts.
    pub(super) fn new(slots: usize, limit: Duration) -> Arc<Watchdog> {
        Arc::new(Watchdog {
            watches: (0..slots).map(|_| Mutex::new(None)).collect(),
            limit,
        })
    }

    /// Starts the thread, which ends once the pool has dropped this watchdog.
    pub(super) fn spawn(this: &Arc<Watchdog>) -> std::io::Result<()> {
        let weak = Arc::downgrade(this);
        std::thread::Builder::new()
            .name("js-watchdog".into())
            .spawn(move || watchdog(weak))?;
        Ok(())
    }

    /// A run starts on `slot`, in the worker process `pid`, with `extra` time beyond the
    /// limit (a batch).
    pub(super) fn arm(&self, slot: usize, pid: u32, extra: Duration) {
        if let Ok(mut w) = self.watches[slot].lock() {
            *w = Some(Watch {
                deadline: Instant::now() + self.limit + extra,
                pid,
                fired: false,
                paused: None,
                overdue: None,
            });
        }
    }

    /// The run on `slot` says its `fetch` is waiting on the network ("start") or is back
    /// ("end"): the deadline then moves by exactly the time waited.
    pub(super) fn fetch(&self, slot: usize, phase: Option<&str>) {
        if let Ok(mut w) = self.watches[slot].lock()
            && let Some(watch) = w.as_mut()
        {
            watch.fetch(phase, Instant::now());
        }
    }

    /// The run on `slot` is over: whether the watchdog killed its worker meanwhile.
    pub(super) fn disarm(&self, slot: usize) -> bool {
        self.watches[slot]
            .lock()
            .ok()
            .and_then(|mut w| w.take())
            .is_some_and(|w| w.fired)
    }
}

impl Watch {
    fn fetch(&mut self, phase: Option<&str>, now: Instant) {
        match (phase, self.paused.take()) {
            (Some("start"), None) => {
                self.paused = Some((self.deadline, now));
                self.deadline = now + FETCH_ALLOWANCE;
            }
            (Some("end"), Some((before, since))) => {
                self.deadline = before + (now - since);
            }
            (_, kept) => self.paused = kept,
        }
    }

    /// Whether to kill the run, looking at it `now`: not before its deadline, nor while it
    /// is only waiting for a core (then it gets another `limit`, up to `STARVED_GRACE` in
    /// all). `cpu_of` reads a process's CPU time, and is asked only once the deadline has
    /// passed. Marks the watch fired when the answer is yes.
    fn should_kill(
        &mut self,
        now: Instant,
        limit: Duration,
        cpu_of: impl FnOnce(u32) -> Option<Duration>,
    ) -> bool {
        if self.fired || now <= self.deadline {
            return false;
        }
        let cpu = cpu_of(self.pid);
        let (since, starved) = match (self.overdue, cpu) {
            // First time past the deadline: look again one limit later.
            (None, Some(_)) => (now, true),
            // It used under half of the time since the last look: it waited for a core.
            (Some((since, mark)), Some(cpu)) => (since, cpu.saturating_sub(mark) < limit / 2),
            _ => (now, false),
        };
        if let Some(cpu) = cpu
            && starved
            && now < since + limit * STARVED_GRACE
        {
            self.overdue = Some((since, cpu));
            self.deadline = now + limit;
            return false;
        }
        self.fired = true;
        true
    }
}

/// The CPU time a process has used (user + system), from /proc/<pid>/stat.
fn process_cpu(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // The kernel's USER_HZ is 100 on every Linux architecture.
    Some(Duration::from_millis(ticks * 10))
}

/// Kills workers whose run is past its hard deadline (and that used the time, rather than
/// waited for a core).
fn watchdog(this: Weak<Watchdog>) {
    while let Some(dog) = this.upgrade() {
        let now = Instant::now();
        for watch in &dog.watches {
            if let Ok(mut w) = watch.lock()
                && let Some(watch) = w.as_mut()
                && watch.should_kill(now, dog.limit, process_cpu)
                && let Some(pid) = rustix::process::Pid::from_raw(watch.pid as i32)
            {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
        }
        drop(dog);
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: Duration = Duration::from_millis(500);
    const MS: Duration = Duration::from_millis(1);

    fn watch(deadline: Instant) -> Watch {
        Watch {
            deadline,
            overdue: None,
            paused: None,
            pid: 42,
            fired: false,
        }
    }

    fn unread(_: u32) -> Option<Duration> {
        panic!("the CPU time is read only past the deadline")
    }

    #[test]
    fn nothing_happens_before_the_deadline() {
        let t0 = Instant::now();
        let mut w = watch(t0 + LIMIT);
        assert!(!w.should_kill(t0, LIMIT, unread));
        assert!(!w.should_kill(t0 + LIMIT, LIMIT, unread));
        assert!(!w.fired);
    }

    #[test]
    fn a_run_that_used_its_time_is_killed_one_limit_later() {
        let t0 = Instant::now();
        let mut w = watch(t0);
        // First look past the deadline: one more limit to tell running from waiting.
        let now = t0 + MS;
        assert!(!w.should_kill(now, LIMIT, |_| Some(LIMIT)));
        assert_eq!(w.deadline, now + LIMIT);
        // It ran for most of that limit: killed, once.
        let later = now + LIMIT + MS;
        assert!(w.should_kill(later, LIMIT, |pid| {
            assert_eq!(pid, 42);
            Some(LIMIT + LIMIT * 3 / 4)
        }));
        assert!(w.fired);
        assert!(!w.should_kill(later + LIMIT, LIMIT, unread));
    }

    #[test]
    fn a_run_waiting_for_a_core_gets_more_time_up_to_the_grace() {
        let t0 = Instant::now();
        let mut w = watch(t0);
        let mut now = t0 + MS;
        let mut cpu = LIMIT;
        let mut looks = 0;
        while !w.should_kill(now, LIMIT, |_| Some(cpu)) {
            looks += 1;
            assert!(looks <= STARVED_GRACE, "never killed");
            // Under half a limit of CPU per limit: it mostly waited.
            cpu += LIMIT / 4;
            now = w.deadline + MS;
        }
        assert_eq!(looks, STARVED_GRACE);
        assert!(now >= t0 + MS + LIMIT * STARVED_GRACE);
    }

    #[test]
    fn a_worker_whose_cpu_time_cannot_be_read_is_killed() {
        let t0 = Instant::now();
        let mut w = watch(t0);
        assert!(w.should_kill(t0 + MS, LIMIT, |_| None));
    }

    #[test]
    fn a_fetch_moves_the_deadline_by_the_time_waited() {
        let t0 = Instant::now();
        let mut w = watch(t0 + LIMIT);
        w.fetch(Some("start"), t0 + 100 * MS);
        assert_eq!(w.deadline, t0 + 100 * MS + FETCH_ALLOWANCE);
        // A second "start" keeps the first wait.
        w.fetch(Some("start"), t0 + 200 * MS);
        assert_eq!(w.deadline, t0 + 100 * MS + FETCH_ALLOWANCE);
        w.fetch(Some("end"), t0 + 3_100 * MS);
        assert_eq!(w.deadline, t0 + LIMIT + 3_000 * MS);
        assert!(w.paused.is_none());
        // An "end" without a "start", or anything else, changes nothing.
        w.fetch(Some("end"), t0 + 4_000 * MS);
        w.fetch(None, t0 + 4_000 * MS);
        assert_eq!(w.deadline, t0 + LIMIT + 3_000 * MS);
    }
}
