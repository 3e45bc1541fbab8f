//! Server health as a decision without I/O: feed check results and live-traffic
//! outcomes, read back state changes and the delay before the next check.
//!
//! HAProxy's semantics: a counter `health` runs from 0 to `rise + fall - 1`; the server
//! is up while `health >= rise`. A server starts up "going down" (`health = rise`), so a
//! single failed check marks it down, and it then needs `rise` passed checks to come
//! back. Once up, `fall` consecutive failures mark it down.

use crate::config::{CheckParams, OnError};
use std::time::Duration;

/// What happened to a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    CheckPassed,
    CheckFailed,
    /// A live connection or response failed (`observe`).
    LiveError,
    /// A live connection or response succeeded (`observe`).
    LiveSuccess,
    /// The cluster declared the server's host lost (halo's cluster-aware checks): down at
    /// once, back only after `rise` passed checks.
    HostLost,
}

/// A change of the up/down verdict caused by an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    None,
    WentDown,
    WentUp,
}

/// The rise/fall state machine of one server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    rise: u32,
    fall: u32,
    health: u32,
    error_limit: u32,
    on_error: OnError,
    consecutive_errors: u32,
    /// Next check at `fastinter` (set by `on-error fastinter`).
    hurry: bool,
}

impl Health {
    /// A server starting up (HAProxy's default), with its passive-check settings.
    pub fn new(rise: u32, fall: u32, error_limit: u32, on_error: OnError) -> Health {
        let rise = rise.max(1);
        let fall = fall.max(1);
        Health {
            rise,
            fall,
            health: rise,
            error_limit: error_limit.max(1),
            on_error,
            consecutive_errors: 0,
            hurry: false,
        }
    }

    pub fn is_up(&self) -> bool {
        self.health >= self.rise
    }

    /// Up and not on the way down, or down and not on the way up.
    pub fn is_stable(&self) -> bool {
        self.health == 0 || self.health == self.rise + self.fall - 1
    }

    pub fn rise(&self) -> u32 {
        self.rise
    }

    pub fn fall(&self) -> u32 {
        self.fall
    }

    /// `(health, rise + fall - 1)`, for display as HAProxy's "UP 2/3".
    pub fn counter(&self) -> (u32, u32) {
        (self.health, self.rise + self.fall - 1)
    }

    /// The same state with new thresholds (after a reload).
    pub fn reconfigure(&mut self, rise: u32, fall: u32, error_limit: u32, on_error: OnError) {
        let up = self.is_up();
        self.rise = rise.max(1);
        self.fall = fall.max(1);
        self.error_limit = error_limit.max(1);
        self.on_error = on_error;
        self.health = if up { self.rise + self.fall - 1 } else { 0 };
    }

    pub fn on(&mut self, ev: Event) -> Change {
        let was_up = self.is_up();
        match ev {
            Event::CheckPassed => {
                self.hurry = false;
                if self.health < self.rise + self.fall - 1 {
                    self.health += 1;
                }
                if self.health >= self.rise {
                    self.health = self.rise + self.fall - 1;
                }
            }
            Event::CheckFailed => {
                self.hurry = false;
                self.fail_once();
            }
            Event::LiveSuccess => self.consecutive_errors = 0,
            Event::HostLost => {
                self.hurry = false;
                self.health = 0;
            }
            Event::LiveError => {
                self.consecutive_errors += 1;
                if self.consecutive_errors >= self.error_limit {
                    self.consecutive_errors = 0;
                    match self.on_error {
                        OnError::Fastinter => self.hurry = true,
                        OnError::FailCheck => {
                            self.hurry = true;
                            self.fail_once();
                        }
                        OnError::SuddenDeath => {
                            // One more failed check will mark it down.
                            self.hurry = true;
                            if self.health > self.rise {
                                self.health = self.rise;
                            }
                        }
                        OnError::MarkDown => {
                            self.hurry = true;
                            self.health = 0;
                        }
                    }
                }
            }
        }
        match (was_up, self.is_up()) {
            (true, false) => Change::WentDown,
            (false, true) => Change::WentUp,
            _ => Change::None,
        }
    }

    fn fail_once(&mut self) {
        if self.health > self.rise {
            self.health -= 1;
        } else {
            self.health = 0;
        }
    }

    /// Delay before the next check: `inter` when stable and up, `downinter` when stable
    /// and down, `fastinter` while changing state or after live errors.
    pub fn next_interval(&self, p: &CheckParams) -> Duration {
        let inter = p.inter.0;
        if self.hurry || !self.is_stable() {
            return p.fastinter.map(|d| d.0).unwrap_or(inter);
        }
        if self.health == 0 {
            return p.downinter.map(|d| d.0).unwrap_or(inter);
        }
        inter
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Dur;

    fn h(rise: u32, fall: u32) -> Health {
        Health::new(rise, fall, 10, OnError::Fastinter)
    }

    #[test]
    fn starts_up_and_one_failure_marks_it_down() {
        let mut s = h(2, 5);
        assert!(s.is_up());
        assert_eq!(s.on(Event::CheckFailed), Change::WentDown);
        assert_eq!(s.on(Event::CheckPassed), Change::None);
        assert_eq!(s.on(Event::CheckPassed), Change::WentUp);
    }

    /// A host the cluster declared lost: down at once however healthy the server was,
    /// back after `rise` passed checks.
    #[test]
    fn host_lost_marks_down_at_once() {
        let mut s = h(2, 5);
        s.on(Event::CheckPassed);
        assert_eq!(s.on(Event::HostLost), Change::WentDown);
        assert_eq!(s.on(Event::HostLost), Change::None);
        assert_eq!(s.on(Event::CheckPassed), Change::None);
        assert_eq!(s.on(Event::CheckPassed), Change::WentUp);
    }

    #[test]
    fn fall_consecutive_failures_once_fully_up() {
        let mut s = h(2, 5);
        s.on(Event::CheckPassed);
        for i in 0..4 {
            assert_eq!(s.on(Event::CheckFailed), Change::None, "failure {i}");
        }
        assert_eq!(s.on(Event::CheckFailed), Change::WentDown);
        // A success in the middle resets the count.
        let mut s = h(2, 3);
        s.on(Event::CheckPassed);
        s.on(Event::CheckFailed);
        s.on(Event::CheckFailed);
        s.on(Event::CheckPassed);
        assert_eq!(s.on(Event::CheckFailed), Change::None);
        assert_eq!(s.on(Event::CheckFailed), Change::None);
        assert_eq!(s.on(Event::CheckFailed), Change::WentDown);
    }

    #[test]
    fn rise_passes_bring_it_back() {
        let mut s = h(3, 2);
        s.on(Event::CheckFailed);
        assert!(!s.is_up());
        assert_eq!(s.on(Event::CheckPassed), Change::None);
        assert_eq!(s.on(Event::CheckFailed), Change::None);
        assert_eq!(s.on(Event::CheckPassed), Change::None);
        assert_eq!(s.on(Event::CheckPassed), Change::None);
        assert_eq!(s.on(Event::CheckPassed), Change::WentUp);
    }

    #[test]
    fn passive_mark_down_after_error_limit() {
        let mut s = Health::new(2, 5, 2, OnError::MarkDown);
        s.on(Event::CheckPassed);
        assert_eq!(s.on(Event::LiveError), Change::None);
        assert_eq!(s.on(Event::LiveSuccess), Change::None);
        assert_eq!(s.on(Event::LiveError), Change::None);
        assert_eq!(s.on(Event::LiveError), Change::WentDown);
    }

    #[test]
    fn passive_sudden_death_and_fail_check() {
        let mut s = Health::new(2, 5, 1, OnError::SuddenDeath);
        s.on(Event::CheckPassed);
        assert_eq!(s.on(Event::LiveError), Change::None);
        assert_eq!(s.on(Event::CheckFailed), Change::WentDown);
        let mut s = Health::new(2, 2, 1, OnError::FailCheck);
        s.on(Event::CheckPassed);
        assert_eq!(s.on(Event::LiveError), Change::None);
        assert_eq!(s.on(Event::LiveError), Change::WentDown);
    }

    #[test]
    fn intervals_follow_the_state() {
        let p = CheckParams {
            inter: Dur::ms(2000),
            fastinter: Some(Dur::ms(500)),
            downinter: Some(Dur::ms(5000)),
            ..Default::default()
        };
        let mut s = h(2, 3);
        // Starting state is "up, going down": transitional.
        assert_eq!(s.next_interval(&p), Duration::from_millis(500));
        s.on(Event::CheckPassed);
        assert_eq!(s.next_interval(&p), Duration::from_millis(2000));
        s.on(Event::CheckFailed);
        assert_eq!(s.next_interval(&p), Duration::from_millis(500));
        s.on(Event::CheckFailed);
        s.on(Event::CheckFailed);
        assert!(!s.is_up());
        assert_eq!(s.next_interval(&p), Duration::from_millis(5000));
        let mut s = Health::new(2, 3, 1, OnError::Fastinter);
        s.on(Event::CheckPassed);
        s.on(Event::LiveError);
        assert_eq!(s.next_interval(&p), Duration::from_millis(500));
        assert!(s.is_up());
    }
}
