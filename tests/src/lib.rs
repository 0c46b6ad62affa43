//! Support library of the suites.
