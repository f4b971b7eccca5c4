//! The command table and the dispatcher: name lookup, arity, auth, MULTI
//! queueing, statistics and WATCH versions, then the command's own file.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::sync::atomic::Ordering;
use std::time::Instant;

use bytes::Bytes;

use super::args::{Args, CmdError, CmdResult, Ctx, Outcome, simple};
use super::*;
use crate::resp::frame::Frame;
use crate::server::client::Queued;

/// Runs one command.
pub type Run = fn(&mut Ctx, Args) -> CmdResult;

/// The command changes data.
pub const WRITE: u32 = 1;
/// The command only reads data.
pub const READONLY: u32 = 2;
/// Allowed before AUTH.
pub const NO_AUTH: u32 = 4;
/// Runs at once inside MULTI instead of being queued.
pub const NO_QUEUE: u32 = 8;
/// May block.
pub const BLOCKING: u32 = 16;
/// O(1) or O(log N).
pub const FAST: u32 = 32;
/// Administrative.
pub const ADMIN: u32 = 64;
/// Not allowed in MULTI.
pub const NO_MULTI: u32 = 128;
/// Allowed while CLIENT PAUSE holds.
pub const LOADING: u32 = 256;
/// A write that does not count as modifying its key for WATCH (Redis's
/// group-state commands).
pub const NO_TOUCH: u32 = 512;
/// Allowed to a RESP2 client in subscribed mode.
pub const PUBSUB_OK: u32 = 1024;

/// Commands whose first argument names a subcommand (`client|list`).
const CONTAINERS: &[&str] = &[
    "CLIENT", "COMMAND", "CONFIG", "DEBUG", "FUNCTION", "OBJECT", "PUBSUB", "SCRIPT", "XGROUP",
    "XINFO",
];

/// One row of the command table.
pub struct Command {
    /// Upper-case name.
    pub name: &'static str,
    /// Redis's arity: N exactly, or -N for at least N (the name counts).
    pub arity: i32,
    /// Flag bits.
    pub flags: u32,
    /// First key, last key (-1: the last argument), step; 0 0 0 when the
    /// command has no key at a fixed position.
    pub keys: (i32, i32, i32),
    /// COMMAND DOCS group.
    pub group: &'static str,
    /// COMMAND DOCS summary.
    pub summary: &'static str,
    /// Redis version that introduced it.
    pub since: &'static str,
    /// The command's file.
    pub run: Run,
}

#[allow(clippy::too_many_arguments)]
const fn c(
    name: &'static str,
    arity: i32,
    flags: u32,
    keys: (i32, i32, i32),
    group: &'static str,
    since: &'static str,
    summary: &'static str,
    run: Run,
) -> Command {
    Command {
        name,
        arity,
        flags,
        keys,
        group,
        summary,
        since,
        run,
    }
}

const K1: (i32, i32, i32) = (1, 1, 1);
const KALL: (i32, i32, i32) = (1, -1, 1);
const K12: (i32, i32, i32) = (1, 2, 1);
const NOKEY: (i32, i32, i32) = (0, 0, 0);
const KPAIRS: (i32, i32, i32) = (1, -1, 2);
/// Every argument but the last (BLPOP's timeout).
const KBLOCK: (i32, i32, i32) = (1, -2, 1);

/// Every command, in COMMAND's order.
pub static COMMANDS: &[Command] = &[
    // Connection.
    c(
        "PING",
        -1,
        FAST | PUBSUB_OK,
        NOKEY,
        "connection",
        "1.0.0",
        "Returns the server's liveliness response.",
        ping::run,
    ),
    c(
        "ECHO",
        2,
        FAST,
        NOKEY,
        "connection",
        "1.0.0",
        "Returns the given string.",
        echo::run,
    ),
    c(
        "HELLO",
        -1,
        FAST | NO_AUTH,
        NOKEY,
        "connection",
        "6.0.0",
        "Handshakes with the server.",
        hello::run,
    ),
    c(
        "AUTH",
        -2,
        FAST | NO_AUTH,
        NOKEY,
        "connection",
        "1.0.0",
        "Authenticates the connection.",
        auth::run,
    ),
    c(
        "SELECT",
        2,
        FAST,
        NOKEY,
        "connection",
        "1.0.0",
        "Changes the selected database.",
        select::run,
    ),
    c(
        "QUIT",
        -1,
        FAST | NO_AUTH | NO_QUEUE | PUBSUB_OK,
        NOKEY,
        "connection",
        "1.0.0",
        "Closes the connection.",
        quit::run,
    ),
    c(
        "RESET",
        1,
        FAST | NO_AUTH | NO_QUEUE | PUBSUB_OK,
        NOKEY,
        "connection",
        "6.2.0",
        "Resets the connection.",
        reset::run,
    ),
    c(
        "CLIENT",
        -2,
        0,
        NOKEY,
        "connection",
        "2.4.0",
        "A container for client connection commands.",
        client::run,
    ),
    // Server.
    c(
        "TIME",
        1,
        FAST,
        NOKEY,
        "server",
        "2.6.0",
        "Returns the server time.",
        time::run,
    ),
    c(
        "COMMAND",
        -1,
        0,
        NOKEY,
        "server",
        "2.8.13",
        "Returns detailed information about all commands.",
        command::run,
    ),
    c(
        "INFO",
        -1,
        0,
        NOKEY,
        "server",
        "1.0.0",
        "Returns information and statistics about the server.",
        info::run,
    ),
    c(
        "CONFIG",
        -2,
        ADMIN,
        NOKEY,
        "server",
        "2.0.0",
        "A container for server configuration commands.",
        config::run,
    ),
    c(
        "DBSIZE",
        1,
        READONLY | FAST,
        NOKEY,
        "server",
        "1.0.0",
        "Returns the number of keys in the database.",
        dbsize::run,
    ),
    c(
        "FLUSHALL",
        -1,
        WRITE,
        NOKEY,
        "server",
        "1.0.0",
        "Removes all keys from all databases.",
        flushall::run,
    ),
    c(
        "FLUSHDB",
        -1,
        WRITE,
        NOKEY,
        "server",
        "1.0.0",
        "Removes all keys from the current database.",
        flushdb::run,
    ),
    c(
        "SWAPDB",
        3,
        WRITE | FAST,
        NOKEY,
        "server",
        "4.0.0",
        "Swaps two Redis databases.",
        swapdb::run,
    ),
    c(
        "DEBUG",
        -2,
        ADMIN,
        NOKEY,
        "server",
        "1.0.0",
        "A container for debugging commands.",
        debug::run,
    ),
    c(
        "SAVE",
        1,
        ADMIN | NO_MULTI,
        NOKEY,
        "server",
        "1.0.0",
        "Synchronously saves the database(s) to disk.",
        save::run,
    ),
    c(
        "BGSAVE",
        -1,
        ADMIN,
        NOKEY,
        "server",
        "1.0.0",
        "Asynchronously saves the database(s) to disk.",
        save::run_bgsave,
    ),
    c(
        "BGREWRITEAOF",
        1,
        ADMIN,
        NOKEY,
        "server",
        "1.0.0",
        "Asynchronously rewrites the append-only file to disk.",
        save::run_bgrewriteaof,
    ),
    c(
        "LASTSAVE",
        1,
        FAST,
        NOKEY,
        "server",
        "1.0.0",
        "Returns the Unix timestamp of the last successful save to disk.",
        save::run_lastsave,
    ),
    c(
        "SHUTDOWN",
        -1,
        ADMIN | NO_MULTI | LOADING,
        NOKEY,
        "server",
        "1.0.0",
        "Synchronously saves the database(s) to disk and shuts down the Redis server.",
        shutdown::run,
    ),
    // Generic.
    c(
        "DEL",
        -2,
        WRITE,
        KALL,
        "generic",
        "1.0.0",
        "Deletes one or more keys.",
        del::run,
    ),
    c(
        "UNLINK",
        -2,
        WRITE | FAST,
        KALL,
        "generic",
        "4.0.0",
        "Asynchronously deletes one or more keys.",
        del::run,
    ),
    c(
        "EXISTS",
        -2,
        READONLY | FAST,
        KALL,
        "generic",
        "1.0.0",
        "Determines whether one or more keys exist.",
        exists::run,
    ),
    c(
        "TYPE",
        2,
        READONLY | FAST,
        K1,
        "generic",
        "1.0.0",
        "Determines the type of value stored at a key.",
        type_::run,
    ),
    c(
        "KEYS",
        2,
        READONLY,
        NOKEY,
        "generic",
        "1.0.0",
        "Returns all key names that match a pattern.",
        keys::run,
    ),
    c(
        "SCAN",
        -2,
        READONLY,
        NOKEY,
        "generic",
        "2.8.0",
        "Iterates over the key names in the database.",
        scan::run,
    ),
    c(
        "RANDOMKEY",
        1,
        READONLY,
        NOKEY,
        "generic",
        "1.0.0",
        "Returns a random key name from the database.",
        randomkey::run,
    ),
    c(
        "MOVE",
        3,
        WRITE | FAST,
        K1,
        "generic",
        "1.0.0",
        "Moves a key to another database.",
        move_::run,
    ),
    c(
        "RENAME",
        3,
        WRITE,
        K12,
        "generic",
        "1.0.0",
        "Renames a key and overwrites the destination.",
        rename::run,
    ),
    c(
        "RENAMENX",
        3,
        WRITE | FAST,
        K12,
        "generic",
        "1.0.0",
        "Renames a key only when the target key name doesn't exist.",
        rename::run_nx,
    ),
    c(
        "COPY",
        -3,
        WRITE,
        K12,
        "generic",
        "6.2.0",
        "Copies the value of a key to a new key.",
        copy::run,
    ),
    c(
        "EXPIRE",
        -3,
        WRITE | FAST,
        K1,
        "generic",
        "1.0.0",
        "Sets the expiration time of a key in seconds.",
        expire::run_expire,
    ),
    c(
        "PEXPIRE",
        -3,
        WRITE | FAST,
        K1,
        "generic",
        "2.6.0",
        "Sets the expiration time of a key in milliseconds.",
        expire::run_pexpire,
    ),
    c(
        "EXPIREAT",
        -3,
        WRITE | FAST,
        K1,
        "generic",
        "1.2.0",
        "Sets the expiration time of a key to a Unix timestamp.",
        expire::run_expireat,
    ),
    c(
        "PEXPIREAT",
        -3,
        WRITE | FAST,
        K1,
        "generic",
        "2.6.0",
        "Sets the expiration time of a key to a Unix milliseconds timestamp.",
        expire::run_pexpireat,
    ),
    c(
        "PERSIST",
        2,
        WRITE | FAST,
        K1,
        "generic",
        "2.2.0",
        "Removes the expiration time of a key.",
        expire::run_persist,
    ),
    c(
        "TTL",
        2,
        READONLY | FAST,
        K1,
        "generic",
        "1.0.0",
        "Returns the expiration time in seconds of a key.",
        ttl::run_ttl,
    ),
    c(
        "PTTL",
        2,
        READONLY | FAST,
        K1,
        "generic",
        "2.6.0",
        "Returns the expiration time in milliseconds of a key.",
        ttl::run_pttl,
    ),
    c(
        "EXPIRETIME",
        2,
        READONLY | FAST,
        K1,
        "generic",
        "7.0.0",
        "Returns the expiration time of a key as a Unix timestamp.",
        ttl::run_expiretime,
    ),
    c(
        "PEXPIRETIME",
        2,
        READONLY | FAST,
        K1,
        "generic",
        "7.0.0",
        "Returns the expiration time of a key as a Unix milliseconds timestamp.",
        ttl::run_pexpiretime,
    ),
    c(
        "OBJECT",
        -2,
        READONLY,
        NOKEY,
        "generic",
        "2.2.3",
        "A container for object introspection commands.",
        object::run,
    ),
    // Transactions.
    c(
        "MULTI",
        1,
        FAST | NO_QUEUE,
        NOKEY,
        "transactions",
        "1.2.0",
        "Starts a transaction.",
        multi::run_multi,
    ),
    c(
        "EXEC",
        1,
        NO_QUEUE,
        NOKEY,
        "transactions",
        "1.2.0",
        "Executes all commands in a transaction.",
        multi::run_exec,
    ),
    c(
        "DISCARD",
        1,
        FAST | NO_QUEUE,
        NOKEY,
        "transactions",
        "2.0.0",
        "Discards a transaction.",
        multi::run_discard,
    ),
    c(
        "WATCH",
        -2,
        FAST | NO_QUEUE,
        KALL,
        "transactions",
        "2.2.0",
        "Monitors changes to keys to determine the execution of a transaction.",
        multi::run_watch,
    ),
    c(
        "UNWATCH",
        1,
        FAST | NO_QUEUE,
        NOKEY,
        "transactions",
        "2.2.0",
        "Forgets about watched keys of a transaction.",
        multi::run_unwatch,
    ),
    // Scripting: out of scope, answered truthfully.
    c(
        "EVAL",
        -3,
        0,
        NOKEY,
        "scripting",
        "2.6.0",
        "Executes a server-side Lua script.",
        scripting::run_eval,
    ),
    c(
        "EVALSHA",
        -3,
        0,
        NOKEY,
        "scripting",
        "2.6.0",
        "Executes a server-side Lua script by SHA1 digest.",
        scripting::run_eval,
    ),
    c(
        "FCALL",
        -3,
        0,
        NOKEY,
        "scripting",
        "7.0.0",
        "Invokes a function.",
        scripting::run_eval,
    ),
    c(
        "SCRIPT",
        -2,
        0,
        NOKEY,
        "scripting",
        "2.6.0",
        "A container for Lua scripts management commands.",
        scripting::run_script,
    ),
    c(
        "FUNCTION",
        -2,
        0,
        NOKEY,
        "scripting",
        "7.0.0",
        "A container for function commands.",
        scripting::run_function,
    ),
    // Strings and lists (in memory, journaled).
    c(
        "SET",
        -3,
        WRITE,
        K1,
        "string",
        "1.0.0",
        "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.",
        set::run,
    ),
    c(
        "SETNX",
        3,
        WRITE | FAST,
        K1,
        "string",
        "1.0.0",
        "Set the string value of a key only when the key doesn't exist.",
        set::run_setnx,
    ),
    c(
        "SETEX",
        4,
        WRITE,
        K1,
        "string",
        "2.0.0",
        "Sets the string value and expiration time of a key. Creates the key if it doesn't exist.",
        set::run_setex,
    ),
    c(
        "PSETEX",
        4,
        WRITE,
        K1,
        "string",
        "2.6.0",
        "Sets both string value and expiration time in milliseconds of a key. The key is created if it doesn't exist.",
        set::run_psetex,
    ),
    c(
        "GETSET",
        3,
        WRITE | FAST,
        K1,
        "string",
        "1.0.0",
        "Returns the previous string value of a key after setting it to a new value.",
        set::run_getset,
    ),
    c(
        "GET",
        2,
        READONLY | FAST,
        K1,
        "string",
        "1.0.0",
        "Returns the string value of a key.",
        get::run,
    ),
    c(
        "GETDEL",
        2,
        WRITE | FAST,
        K1,
        "string",
        "6.2.0",
        "Returns the string value of a key after deleting the key.",
        get::run_getdel,
    ),
    c(
        "GETEX",
        -2,
        WRITE | FAST,
        K1,
        "string",
        "6.2.0",
        "Returns the string value of a key after setting its expiration time.",
        get::run_getex,
    ),
    c(
        "MGET",
        -2,
        READONLY | FAST,
        KALL,
        "string",
        "1.0.0",
        "Atomically returns the string values of one or more keys.",
        get::run_mget,
    ),
    c(
        "MSET",
        -3,
        WRITE,
        KPAIRS,
        "string",
        "1.0.1",
        "Atomically creates or modifies the string values of one or more keys.",
        mset::run,
    ),
    c(
        "MSETNX",
        -3,
        WRITE,
        KPAIRS,
        "string",
        "1.0.1",
        "Atomically modifies the string values of one or more keys only when all keys don't exist.",
        mset::run_msetnx,
    ),
    c(
        "INCR",
        2,
        WRITE | FAST,
        K1,
        "string",
        "1.0.0",
        "Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.",
        incr::run_incr,
    ),
    c(
        "DECR",
        2,
        WRITE | FAST,
        K1,
        "string",
        "1.0.0",
        "Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.",
        incr::run_decr,
    ),
    c(
        "INCRBY",
        3,
        WRITE | FAST,
        K1,
        "string",
        "1.0.0",
        "Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn't exist.",
        incr::run_incrby,
    ),
    c(
        "DECRBY",
        3,
        WRITE | FAST,
        K1,
        "string",
        "1.0.0",
        "Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn't exist.",
        incr::run_decrby,
    ),
    c(
        "INCRBYFLOAT",
        3,
        WRITE | FAST,
        K1,
        "string",
        "2.6.0",
        "Increment the floating point value of a key by a number. Uses 0 as initial value if the key doesn't exist.",
        incr::run_incrbyfloat,
    ),
    c(
        "APPEND",
        3,
        WRITE | FAST,
        K1,
        "string",
        "2.0.0",
        "Appends a string to the value of a key. Creates the key if it doesn't exist.",
        append::run,
    ),
    c(
        "STRLEN",
        2,
        READONLY | FAST,
        K1,
        "string",
        "2.2.0",
        "Returns the length of a string value.",
        append::run_strlen,
    ),
    c(
        "GETRANGE",
        4,
        READONLY,
        K1,
        "string",
        "2.4.0",
        "Returns a substring of the string stored at a key.",
        append::run_getrange,
    ),
    c(
        "SETRANGE",
        4,
        WRITE,
        K1,
        "string",
        "2.2.0",
        "Overwrites a part of a string value with another by an offset. Creates the key if it doesn't exist.",
        append::run_setrange,
    ),
    c(
        "LPUSH",
        -3,
        WRITE | FAST,
        K1,
        "list",
        "1.0.0",
        "Prepends one or more elements to a list. Creates the key if it doesn't exist.",
        lpush::run_lpush,
    ),
    c(
        "RPUSH",
        -3,
        WRITE | FAST,
        K1,
        "list",
        "1.0.0",
        "Appends one or more elements to a list. Creates the key if it doesn't exist.",
        lpush::run_rpush,
    ),
    c(
        "LPUSHX",
        -3,
        WRITE | FAST,
        K1,
        "list",
        "2.2.0",
        "Prepends one or more elements to a list only when the list exists.",
        lpush::run_lpushx,
    ),
    c(
        "RPUSHX",
        -3,
        WRITE | FAST,
        K1,
        "list",
        "2.2.0",
        "Appends an element to a list only when the list exists.",
        lpush::run_rpushx,
    ),
    c(
        "LPOP",
        -2,
        WRITE | FAST,
        K1,
        "list",
        "1.0.0",
        "Returns the first elements in a list after removing it. Deletes the list if the last element was popped.",
        lpop::run_lpop,
    ),
    c(
        "RPOP",
        -2,
        WRITE | FAST,
        K1,
        "list",
        "1.0.0",
        "Returns and removes the last elements of a list. Deletes the list if the last element was popped.",
        lpop::run_rpop,
    ),
    c(
        "LLEN",
        2,
        READONLY | FAST,
        K1,
        "list",
        "1.0.0",
        "Returns the length of a list.",
        lrange::run_llen,
    ),
    c(
        "LRANGE",
        4,
        READONLY,
        K1,
        "list",
        "1.0.0",
        "Returns a range of elements from a list.",
        lrange::run_lrange,
    ),
    c(
        "LINDEX",
        3,
        READONLY,
        K1,
        "list",
        "1.0.0",
        "Returns an element from a list by its index.",
        lrange::run_lindex,
    ),
    c(
        "LMOVE",
        5,
        WRITE,
        K12,
        "list",
        "6.2.0",
        "Returns an element after popping it from one list and pushing it to another. Deletes the list if the last element was moved.",
        lmove::run,
    ),
    c(
        "RPOPLPUSH",
        3,
        WRITE,
        K12,
        "list",
        "1.2.0",
        "Returns the last element of a list after removing and pushing it to another list. Deletes the list if the last element was popped.",
        lmove::run_rpoplpush,
    ),
    c(
        "LSET",
        4,
        WRITE,
        K1,
        "list",
        "1.0.0",
        "Sets the value of an element in a list by its index.",
        lset::run,
    ),
    c(
        "LINSERT",
        5,
        WRITE,
        K1,
        "list",
        "2.2.0",
        "Inserts an element before or after another element in a list.",
        linsert::run,
    ),
    c(
        "LREM",
        4,
        WRITE,
        K1,
        "list",
        "1.0.0",
        "Removes elements from a list. Deletes the list if the last element was removed.",
        lrem::run,
    ),
    c(
        "LTRIM",
        4,
        WRITE,
        K1,
        "list",
        "1.0.0",
        "Removes elements from both ends a list. Deletes the list if all elements were trimmed.",
        ltrim::run,
    ),
    c(
        "LPOS",
        -3,
        READONLY,
        K1,
        "list",
        "6.0.6",
        "Returns the index of matching elements in a list.",
        lpos::run,
    ),
    c(
        "LMPOP",
        -4,
        WRITE,
        NOKEY,
        "list",
        "7.0.0",
        "Returns multiple elements from a list after removing them. Deletes the list if the last element was popped.",
        blpop::run_lmpop,
    ),
    c(
        "BLPOP",
        -3,
        WRITE | BLOCKING,
        KBLOCK,
        "list",
        "2.0.0",
        "Removes and returns the first element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.",
        blpop::run_blpop,
    ),
    c(
        "BRPOP",
        -3,
        WRITE | BLOCKING,
        KBLOCK,
        "list",
        "2.0.0",
        "Removes and returns the last element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.",
        blpop::run_brpop,
    ),
    c(
        "BLMPOP",
        -5,
        WRITE | BLOCKING,
        NOKEY,
        "list",
        "7.0.0",
        "Pops the first element from one of multiple lists. Blocks until an element is available otherwise. Deletes the list if the last element was popped.",
        blpop::run_blmpop,
    ),
    c(
        "BLMOVE",
        6,
        WRITE | BLOCKING,
        K12,
        "list",
        "6.2.0",
        "Pops an element from a list, pushes it to another list and returns it. Blocks until an element is available otherwise. Deletes the list if the last element was moved.",
        lmove::run_blmove,
    ),
    c(
        "BRPOPLPUSH",
        4,
        WRITE | BLOCKING,
        K12,
        "list",
        "2.2.0",
        "Pops an element from a list, pushes it to another list and returns it. Block until an element is available otherwise. Deletes the list if the last element was popped.",
        lmove::run_brpoplpush,
    ),
    // Pub/Sub.
    c(
        "SUBSCRIBE",
        -2,
        PUBSUB_OK,
        NOKEY,
        "pubsub",
        "2.0.0",
        "Listens for messages published to channels.",
        subscribe::run_subscribe,
    ),
    c(
        "UNSUBSCRIBE",
        -1,
        PUBSUB_OK,
        NOKEY,
        "pubsub",
        "2.0.0",
        "Stops listening to messages posted to channels.",
        subscribe::run_unsubscribe,
    ),
    c(
        "PSUBSCRIBE",
        -2,
        PUBSUB_OK,
        NOKEY,
        "pubsub",
        "2.0.0",
        "Listens for messages published to channels that match one or more patterns.",
        subscribe::run_psubscribe,
    ),
    c(
        "PUNSUBSCRIBE",
        -1,
        PUBSUB_OK,
        NOKEY,
        "pubsub",
        "2.0.0",
        "Stops listening to messages published to channels that match one or more patterns.",
        subscribe::run_punsubscribe,
    ),
    c(
        "SSUBSCRIBE",
        -2,
        PUBSUB_OK,
        KALL,
        "pubsub",
        "7.0.0",
        "Listens for messages published to shard channels.",
        subscribe::run_ssubscribe,
    ),
    c(
        "SUNSUBSCRIBE",
        -1,
        PUBSUB_OK,
        KALL,
        "pubsub",
        "7.0.0",
        "Stops listening to messages posted to shard channels.",
        subscribe::run_sunsubscribe,
    ),
    c(
        "PUBLISH",
        3,
        FAST,
        NOKEY,
        "pubsub",
        "2.0.0",
        "Posts a message to a channel.",
        publish::run,
    ),
    c(
        "SPUBLISH",
        3,
        FAST,
        K1,
        "pubsub",
        "7.0.0",
        "Post a message to a shard channel",
        publish::run_spublish,
    ),
    c(
        "PUBSUB",
        -2,
        0,
        NOKEY,
        "pubsub",
        "2.8.0",
        "A container for Pub/Sub commands.",
        pubsub::run,
    ),
    // Streams.
    c(
        "XADD",
        -5,
        WRITE | FAST,
        K1,
        "stream",
        "5.0.0",
        "Appends a new message to a stream. Creates the key if it doesn't exist.",
        xadd::run,
    ),
    c(
        "XLEN",
        2,
        READONLY | FAST,
        K1,
        "stream",
        "5.0.0",
        "Return the number of messages in a stream.",
        xlen::run,
    ),
    c(
        "XRANGE",
        -4,
        READONLY,
        K1,
        "stream",
        "5.0.0",
        "Returns the messages from a stream within a range of IDs.",
        xrange::run,
    ),
    c(
        "XREVRANGE",
        -4,
        READONLY,
        K1,
        "stream",
        "5.0.0",
        "Returns the messages from a stream within a range of IDs in reverse order.",
        xrange::run_rev,
    ),
    c(
        "XDEL",
        -3,
        WRITE | FAST,
        K1,
        "stream",
        "5.0.0",
        "Returns the number of messages after removing them from a stream.",
        xdel::run,
    ),
    c(
        "XTRIM",
        -4,
        WRITE,
        K1,
        "stream",
        "5.0.0",
        "Deletes messages from the beginning of a stream.",
        xtrim::run,
    ),
    c(
        "XSETID",
        -3,
        WRITE | FAST,
        K1,
        "stream",
        "5.0.0",
        "An internal command for replicating stream values.",
        xsetid::run,
    ),
    c(
        "XREAD",
        -4,
        READONLY | BLOCKING,
        NOKEY,
        "stream",
        "5.0.0",
        "Returns messages from multiple streams with IDs greater than the ones requested. Blocks until a message is available otherwise.",
        xread::run,
    ),
    c(
        "XREADGROUP",
        -7,
        WRITE | BLOCKING,
        NOKEY,
        "stream",
        "5.0.0",
        "Returns new or historical messages from a stream for a consumer in a group. Blocks until a message is available otherwise.",
        xreadgroup::run,
    ),
    c(
        "XGROUP",
        -2,
        0,
        NOKEY,
        "stream",
        "5.0.0",
        "A container for consumer groups commands.",
        xgroup::run,
    ),
    c(
        "XACK",
        -4,
        WRITE | FAST | NO_TOUCH,
        K1,
        "stream",
        "5.0.0",
        "Returns the number of messages that were successfully acknowledged by the consumer group member of a stream.",
        xack::run,
    ),
    c(
        "XPENDING",
        -3,
        READONLY,
        K1,
        "stream",
        "5.0.0",
        "Returns the information and entries from a stream consumer group's pending entries list.",
        xpending::run,
    ),
    c(
        "XCLAIM",
        -6,
        WRITE | FAST | NO_TOUCH,
        K1,
        "stream",
        "5.0.0",
        "Changes, or acquires, ownership of a message in a consumer group, as if the message was delivered a consumer group member.",
        xclaim::run,
    ),
    c(
        "XAUTOCLAIM",
        -6,
        WRITE | FAST | NO_TOUCH,
        K1,
        "stream",
        "6.2.0",
        "Changes, or acquires, ownership of messages in a consumer group, as if the messages were delivered to as consumer group member.",
        xautoclaim::run,
    ),
    c(
        "XINFO",
        -2,
        READONLY,
        NOKEY,
        "stream",
        "5.0.0",
        "A container for stream introspection commands.",
        xinfo::run,
    ),
    c(
        "XCFGSET",
        -2,
        WRITE | FAST,
        K1,
        "stream",
        "8.6.0",
        "Sets a stream's settings: Redis's IDMP parameters, and Brook's FSYNC, MAXAGE, MAXBYTES, SEGMENT-BYTES.",
        xcfg::run_set,
    ),
    c(
        "XCFGGET",
        2,
        READONLY | FAST,
        K1,
        "stream",
        "brook",
        "Returns a stream's settings (Brook).",
        xcfg::run_get,
    ),
    c(
        "XMADD",
        -4,
        WRITE,
        NOKEY,
        "stream",
        "brook",
        "Appends entries to several streams at once, all or none (Brook).",
        xmadd::run,
    ),
];

/// FNV-1a: the table is fixed, so a keyed hash (against floods of
/// colliding keys) buys nothing here, and this one is several times
/// cheaper on a command name.
#[derive(Default)]
struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type Index = HashMap<&'static [u8], usize, std::hash::BuildHasherDefault<Fnv>>;

fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| {
        COMMANDS
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name.as_bytes(), i))
            .collect()
    })
}

/// The table index of a command name, any case.
pub fn lookup(name: &[u8]) -> Option<usize> {
    thread_local! {
        /// The last name found: a pipeline repeats its command.
        static LAST: std::cell::Cell<usize> = const { std::cell::Cell::new(usize::MAX) };
    }
    let last = LAST.with(std::cell::Cell::get);
    if COMMANDS
        .get(last)
        .is_some_and(|c| c.name.as_bytes().eq_ignore_ascii_case(name))
    {
        return Some(last);
    }
    let found = lookup_indexed(name)?;
    LAST.with(|l| l.set(found));
    Some(found)
}

fn lookup_indexed(name: &[u8]) -> Option<usize> {
    let mut buf = [0u8; 32];
    if name.len() > buf.len() {
        return None;
    }
    for (d, s) in buf.iter_mut().zip(name) {
        *d = s.to_ascii_uppercase();
    }
    index().get(&buf[..name.len()]).copied()
}

/// Redis's reply to an unknown command.
pub fn unknown_command(args: &[Bytes]) -> CmdError {
    let mut rest = String::new();
    for a in args.iter().skip(1) {
        if rest.len() >= 128 {
            break;
        }
        let room = 128 - rest.len();
        let text = String::from_utf8_lossy(a);
        let cut: String = text.chars().take(room).collect();
        rest.push_str(&format!("'{cut}' "));
    }
    let name: String = String::from_utf8_lossy(&args[0])
        .chars()
        .take(128)
        .collect();
    CmdError(format!(
        "ERR unknown command '{name}', with args beginning with: {rest}"
    ))
}

/// Redis's reply to a wrong number of arguments.
pub fn wrong_arity(name: &str) -> CmdError {
    CmdError(format!(
        "ERR wrong number of arguments for '{}' command",
        name.to_ascii_lowercase()
    ))
}

/// Redis's reply to an unknown subcommand.
pub fn unknown_subcommand(cmd: &str, sub: &[u8]) -> CmdError {
    CmdError(format!(
        "ERR unknown subcommand '{}'. Try {} HELP.",
        String::from_utf8_lossy(sub)
            .chars()
            .take(128)
            .collect::<String>(),
        cmd
    ))
}

fn arity_ok(arity: i32, n: usize) -> bool {
    if arity >= 0 {
        n == arity as usize
    } else {
        n >= arity.unsigned_abs() as usize
    }
}

/// The keys at a command's fixed positions.
pub fn keys_of<'a>(cmd: &Command, args: &'a [Bytes]) -> impl Iterator<Item = &'a Bytes> {
    let (first, last, step) = cmd.keys;
    let n = args.len() as i32;
    let last = if last < 0 { n + last } else { last.min(n - 1) };
    let step = step.max(1);
    (first..=last)
        .step_by(step as usize)
        .filter(|&i| i > 0)
        .filter_map(move |i| args.get(i as usize))
}

/// Runs one request: checks, MULTI queueing, the command, statistics.
pub fn execute(ctx: &mut Ctx, args: Vec<Bytes>) -> Outcome {
    match dispatch(ctx, args) {
        Ok(o) => o,
        Err(e) => {
            ctx.shared
                .stats
                .error_replies
                .fetch_add(1, Ordering::Relaxed);
            Outcome::Reply(Frame::Error(Bytes::from(e.0)))
        }
    }
}

fn dispatch(ctx: &mut Ctx, args: Vec<Bytes>) -> CmdResult {
    let Some(first) = args.first() else {
        return Ok(Outcome::Reply(Frame::NullArray));
    };
    let Some(i) = lookup(first) else {
        ctx.client.multi_dirty |= ctx.client.multi.is_some();
        return Err(unknown_command(&args));
    };
    let cmd = &COMMANDS[i];
    let stats = &ctx.shared.stats.per_command[i];
    if !arity_ok(cmd.arity, args.len()) {
        stats.rejected.fetch_add(1, Ordering::Relaxed);
        ctx.client.multi_dirty |= ctx.client.multi.is_some();
        return Err(wrong_arity(cmd.name));
    }
    if !ctx.client.authenticated && cmd.flags & NO_AUTH == 0 {
        stats.rejected.fetch_add(1, Ordering::Relaxed);
        return Err(CmdError("NOAUTH Authentication required.".into()));
    }
    if cmd.flags & PUBSUB_OK == 0
        && ctx.client.protocol == crate::resp::frame::Protocol::Resp2
        && ctx.client.subs.active()
    {
        let mut name = cmd.name.to_ascii_lowercase();
        if let Some(sub) = args.get(1).filter(|_| CONTAINERS.contains(&cmd.name)) {
            name = format!(
                "{name}|{}",
                String::from_utf8_lossy(sub).to_ascii_lowercase()
            );
        }
        stats.rejected.fetch_add(1, Ordering::Relaxed);
        return Err(CmdError::err(format!(
            "Can't execute '{name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
        )));
    }
    ctx.client.info.last_cmd.store(i, Ordering::Relaxed);
    if ctx.client.multi.is_some() && cmd.flags & NO_QUEUE == 0 {
        if cmd.flags & NO_MULTI != 0 {
            ctx.client.multi_dirty = true;
            return Err(CmdError(
                "ERR Command not allowed inside a transaction".into(),
            ));
        }
        if let Some(q) = &mut ctx.client.multi {
            q.push(Queued { cmd: i, args });
        }
        return Ok(simple("QUEUED").into());
    }
    Ok(run_counted(ctx, i, args))
}

/// Runs a checked command and counts it (EXEC runs its queue through this).
pub fn run_counted(ctx: &mut Ctx, i: usize, args: Vec<Bytes>) -> Outcome {
    let cmd = &COMMANDS[i];
    let stats = &ctx.shared.stats.per_command[i];
    let start = ctx.clock;
    if cmd.flags & WRITE != 0 && cmd.flags & NO_TOUCH == 0 {
        for k in keys_of(cmd, &args) {
            ctx.shared.watched.touch(ctx.client.db, k);
        }
    }
    let out = (cmd.run)(ctx, Args::new(args));
    let end = Instant::now();
    ctx.clock = end;
    stats.calls.fetch_add(1, Ordering::Relaxed);
    stats.usec.fetch_add(
        end.saturating_duration_since(start).as_micros() as u64,
        Ordering::Relaxed,
    );
    ctx.shared.stats.commands.fetch_add(1, Ordering::Relaxed);
    match out {
        Ok(o) => o,
        Err(e) => {
            stats.failed.fetch_add(1, Ordering::Relaxed);
            ctx.shared
                .stats
                .error_replies
                .fetch_add(1, Ordering::Relaxed);
            Outcome::Reply(Frame::Error(Bytes::from(e.0)))
        }
    }
}

/// Counts `n` calls of a command that ran together (a pipeline of XADDs).
pub fn count_many(
    shared: &crate::server::shared::Shared,
    name: &str,
    n: usize,
    failed: usize,
    took: std::time::Duration,
) {
    let Some(i) = lookup(name.as_bytes()) else {
        return;
    };
    let stats = &shared.stats.per_command[i];
    stats.calls.fetch_add(n as u64, Ordering::Relaxed);
    stats.failed.fetch_add(failed as u64, Ordering::Relaxed);
    stats
        .usec
        .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    shared.stats.commands.fetch_add(n as u64, Ordering::Relaxed);
    shared
        .stats
        .error_replies
        .fetch_add(failed as u64, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_found_in_any_case() {
        assert_eq!(index().len(), COMMANDS.len());
        assert_eq!(lookup(b"xAdD").map(|i| COMMANDS[i].name), Some("XADD"));
        assert!(lookup(b"nope").is_none());
        assert!(lookup(&[b'a'; 100]).is_none());
    }

    #[test]
    fn error_texts_are_redis_texts() {
        let args = vec![
            Bytes::from_static(b"foo"),
            Bytes::from_static(b"a"),
            Bytes::from_static(b"b"),
        ];
        assert_eq!(
            unknown_command(&args).0,
            "ERR unknown command 'foo', with args beginning with: 'a' 'b' "
        );
        assert_eq!(
            wrong_arity("XADD").0,
            "ERR wrong number of arguments for 'xadd' command"
        );
    }

    #[test]
    fn key_positions() {
        let args: Vec<Bytes> = ["DEL", "a", "b"]
            .iter()
            .map(|s| Bytes::from(s.to_string()))
            .collect();
        let del = &COMMANDS[lookup(b"DEL").unwrap()];
        assert_eq!(keys_of(del, &args).count(), 2);
    }
}
