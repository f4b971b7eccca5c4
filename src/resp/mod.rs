//! The Redis protocol (RESP2 and RESP3): frames, their encoding, and the
//! incremental parser of client requests, and a strict parser of replies for
//! the tests and fuzz targets. Only the server uses this module.

pub mod frame;
pub mod parse;
pub mod reply;
