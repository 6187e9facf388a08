//! The oracle over the members' delivery logs.
