//! Full feature phase tests.
