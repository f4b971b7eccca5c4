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

static MEM_ALLOCATOR: std::sync::OnceLock<&'static str> = std::sync::OnceLock::new();

/// Names the allocator the program runs on, for INFO's `mem_allocator`
/// (the `brook` binary sets mimalloc; a program that embeds the server
/// keeps its own, reported as libc unless it says otherwise).
pub fn set_mem_allocator(name: &'static str) {
    let _ = MEM_ALLOCATOR.set(name);
}

/// What [`set_mem_allocator`] was told, else `libc`.
pub fn mem_allocator() -> &'static str {
    MEM_ALLOCATOR.get().copied().unwrap_or("libc")
}
