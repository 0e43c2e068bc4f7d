//! Tests of the initiator connection.
