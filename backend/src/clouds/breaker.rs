//! Circuit breakers per (account, service, region): after repeated failures, calls to that
//! API stop for a cool-down instead of adding to an outage or a throttle — and one account's
//! trouble never slows another's.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nimbus_api_types::ids::CloudAccountId;

/// Consecutive failures that open a circuit.
const FAILURES_TO_OPEN: u32 = 5;
/// How long an open circuit refuses calls before one is let through to probe.
const COOL_DOWN: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Circuit {
    pub account: CloudAccountId,
    pub service: &'static str,
    pub region: String,
}

#[derive(Debug, Default)]
struct CircuitState {
    failures: u32,
    open_until: Option<Instant>,
}

#[derive(Debug, Default)]
pub struct Breakers {
    circuits: Mutex<HashMap<Circuit, CircuitState>>,
}

impl Breakers {
    /// Whether a call may go out now; when open, how long until it may.
    pub fn check(&self, circuit: &Circuit) -> Result<(), Duration> {
        let circuits = self
            .circuits
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match circuits.get(circuit).and_then(|state| state.open_until) {
            Some(until) if until > Instant::now() => Err(until - Instant::now()),
            _ => Ok(()),
        }
    }

    pub fn record(&self, circuit: &Circuit, succeeded: bool) {
        let mut circuits = self
            .circuits
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if succeeded {
            circuits.remove(circuit);
            return;
        }
        let state = circuits.entry(circuit.clone()).or_default();
        state.failures += 1;
        if state.failures >= FAILURES_TO_OPEN {
            // Half-open after the cool-down: the next failure re-opens it at once.
            state.failures = FAILURES_TO_OPEN - 1;
            state.open_until = Some(Instant::now() + COOL_DOWN);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn circuit(region: &str) -> Circuit {
        Circuit {
            account: CloudAccountId(uuid::Uuid::nil()),
            service: "eks",
            region: region.to_owned(),
        }
    }

    #[test]
    fn a_circuit_opens_after_repeated_failures_and_closes_on_success() {
        let breakers = Breakers::default();
        let here = circuit("eu-west-1");
        for _ in 0..FAILURES_TO_OPEN - 1 {
            breakers.record(&here, false);
            assert!(breakers.check(&here).is_ok());
        }
        breakers.record(&here, false);
        let wait = breakers.check(&here).unwrap_err();
        assert!(wait > Duration::from_secs(50));
        // Other regions of the same account are not affected.
        assert!(breakers.check(&circuit("us-east-1")).is_ok());
        breakers.record(&here, true);
        assert!(breakers.check(&here).is_ok());
    }
}
