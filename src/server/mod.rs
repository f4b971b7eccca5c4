//! The server: RESP2/RESP3 over tokio in front of the engine. Only this
//! layer uses [`crate::resp`].

pub mod blocking;
pub mod client;
pub mod cmd;
pub mod config;
pub mod connection;
pub mod events;
pub mod listener;
pub mod shared;
