//! How fast logins may be tried: per client address (its failures make it
//! wait longer and longer, one attempt at a time) and in all (a few checks
//! at once, a short queue); never per username, so that no one can lock
//! the admin out: the right password from another address always gets in.
//! A failed attempt is answered no sooner than the slowest password check
//! seen, so that how long it took tells nothing.

use std::{
    collections::{HashMap, VecDeque},
    net::IpAddr,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Mutex, MutexGuard, PoisonError,
    },
    time::{Duration, Instant},
};

use tokio::sync::{Semaphore, SemaphorePermit};

/// The limits.
#[derive(Debug, Clone)]
pub struct LoginLimits {
    /// Failures an address may have within `window` before it must wait.
    pub free_failures: usize,
    /// How long a failure counts.
    pub window: Duration,
    /// The wait after the first failure beyond the free ones; it doubles
    /// with each further failure.
    pub first_delay: Duration,
    /// The longest wait.
    pub max_delay: Duration,
    /// Password checks at once, in all.
    pub concurrent_checks: usize,
    /// Attempts waiting for a check; more are refused.
    pub max_waiting: usize,
    /// The least time a failed attempt takes.
    pub failure_floor: Duration,
}

impl Default for LoginLimits {
    fn default() -> Self {
        Self {
            free_failures: 5,
            window: Duration::from_secs(15 * 60),
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(5 * 60),
            concurrent_checks: 2,
            max_waiting: 16,
            failure_floor: Duration::from_secs(1),
        }
    }
}

/// The longest a failed attempt is held back, whatever checks took.
const MAX_FLOOR: Duration = Duration::from_secs(10);

/// What to tell an attempt that waits: try again after this long.
pub const BUSY_RETRY: Duration = Duration::from_secs(5);

/// The throttle's state.
pub struct Throttle {
    limits: LoginLimits,
    addresses: Mutex<HashMap<IpAddr, Address>>,
    checks: Semaphore,
    waiting: AtomicUsize,
    /// The slowest password check seen, plus a margin.
    floor: Mutex<Duration>,
}

#[derive(Default)]
struct Address {
    failures: VecDeque<Instant>,
    busy: bool,
}

/// Whether an attempt may go on.
pub enum Admission<'a> {
    /// It may: its address is busy until the ticket is dropped.
    Go(Ticket<'a>),
    /// Its address must wait this long first.
    Wait(Duration),
}

/// One attempt under way from one address.
pub struct Ticket<'a> {
    throttle: &'a Throttle,
    key: IpAddr,
}

impl Throttle {
    /// A throttle with `limits`.
    pub fn new(limits: LoginLimits) -> Self {
        Self {
            checks: Semaphore::new(limits.concurrent_checks.max(1)),
            floor: Mutex::new(limits.failure_floor),
            limits,
            addresses: Mutex::new(HashMap::new()),
            waiting: AtomicUsize::new(0),
        }
    }

    /// Lets an attempt from `client` go on, unless that address has an
    /// attempt under way or must wait after its failures.
    pub fn admit(&self, client: IpAddr) -> Admission<'_> {
        let key = address_key(client);
        let now = Instant::now();
        let mut addresses = self.addresses();
        let window = self.limits.window;
        addresses.retain(|_, a| {
            while a
                .failures
                .front()
                .is_some_and(|t| now.duration_since(*t) >= window)
            {
                a.failures.pop_front();
            }
            a.busy || !a.failures.is_empty()
        });
        let address = addresses.entry(key).or_default();
        if address.busy {
            return Admission::Wait(Duration::from_secs(1));
        }
        if let Some(wait) = self.wait(address, now) {
            return Admission::Wait(wait);
        }
        address.busy = true;
        Admission::Go(Ticket {
            throttle: self,
            key,
        })
    }

    /// How long `address` must still wait, if at all.
    fn wait(&self, address: &Address, now: Instant) -> Option<Duration> {
        let beyond = address
            .failures
            .len()
            .checked_sub(self.limits.free_failures)?;
        let last = *address.failures.back()?;
        let delay = self
            .limits
            .first_delay
            .saturating_mul(1 << beyond.min(20))
            .min(self.limits.max_delay);
        let ready = last + delay;
        (ready > now).then(|| ready - now)
    }

    /// A turn to check a password (a few at once); `None` when too many
    /// attempts wait already.
    pub async fn check_slot(&self) -> Option<SemaphorePermit<'_>> {
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.limits.max_waiting {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        let permit = self.checks.acquire().await.ok();
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        permit
    }

    /// Notes how long a password check took: failed attempts take at least that long.
    pub fn checked_in(&self, took: Duration) {
        let mut floor = self.floor.lock().unwrap_or_else(PoisonError::into_inner);
        *floor = (*floor).max(took.saturating_mul(5) / 4).min(MAX_FLOOR);
    }

    /// Waits until a failed attempt that started at `started` has taken the floor's time.
    pub async fn hold_failure(&self, started: Instant) {
        let floor = *self.floor.lock().unwrap_or_else(PoisonError::into_inner);
        tokio::time::sleep_until((started + floor).into()).await;
    }

    fn addresses(&self) -> MutexGuard<'_, HashMap<IpAddr, Address>> {
        self.addresses
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Ticket<'_> {
    /// The attempt failed: it counts against its address.
    pub fn failed(self) {
        if let Some(address) = self.throttle.addresses().get_mut(&self.key) {
            address.failures.push_back(Instant::now());
        }
    }

    /// The attempt logged in: its address's failures are forgotten.
    pub fn succeeded(self) {
        if let Some(address) = self.throttle.addresses().get_mut(&self.key) {
            address.failures.clear();
        }
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        if let Some(address) = self.throttle.addresses().get_mut(&self.key) {
            address.busy = false;
        }
    }
}

/// The key of an address: IPv4 as it is, IPv6 by its /64 (one host holds
/// a whole /64, and could rotate through it).
fn address_key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        },
    }
}
