//! The daemon over real sockets: the REST API over TCP and the Docker plugin
//! protocol over a unix socket, spoken as raw HTTP/1.1 the way dockerd does.
//!
//! Every test body runs twice: under its plain name on a copy-backend pool
//! in a directory under `TMPDIR` (no root needed), and as `loopdev_…` on a
//! btrfs image pool the engine loop-mounts (root and loop devices). Bodies
//! that start MariaDB are named `mariadb_…` / `loopdev_mariadb_…`, so
//! `--skip loopdev` and `--skip mariadb` select them out.

// Helpers take `json!` literals by value: clearer call sites in tests.
#![allow(clippy::needless_pass_by_value)]

mod api;
mod bench;
mod common;
mod escape;
mod limits;
mod mariadb;
mod plugin;
mod usage;
mod webhooks;

/// Defines, for each `body: copy_name, loopdev_name;`, a test `copy_name`
/// running `body` on a copy pool and a test `loopdev_name` running it on btrfs.
macro_rules! on_each_pool {
    ($($body:path: $copy:ident, $btrfs:ident;)*) => {$(
        #[test]
        fn $copy() {
            $body(common::Pool::Copy);
        }

        #[test]
        fn $btrfs() {
            $body(common::Pool::Btrfs);
        }
    )*};
}

on_each_pool! {
    api::tokens_scope_folders: api_tokens_scope_folders, loopdev_api_tokens_scope_folders;
    api::bad_requests_are_4xx_with_json:
        api_bad_requests_are_4xx_with_json, loopdev_api_bad_requests_are_4xx_with_json;
    api::bearer_scheme_any_case: api_bearer_scheme_any_case, loopdev_api_bearer_scheme_any_case;
    limits::flood_of_half_open_connections:
        limits_flood_of_half_open_connections, loopdev_limits_flood_of_half_open_connections;
    limits::timeouts_close_slow_connections:
        limits_timeouts_close_slow_connections, loopdev_limits_timeouts_close_slow_connections;
    limits::cap_refuses_when_every_connection_is_busy:
        limits_cap_refuses_when_every_connection_is_busy,
        loopdev_limits_cap_refuses_when_every_connection_is_busy;
    mariadb::db_start_snapshot_stop:
        mariadb_api_db_start_snapshot_stop, loopdev_mariadb_api_db_start_snapshot_stop;
    escape::rest_escape_attempts: escape_rest, loopdev_escape_rest;
    escape::plugin_escape_attempts: escape_plugin, loopdev_escape_plugin;
    plugin::protocol_every_endpoint:
        plugin_protocol_every_endpoint, loopdev_plugin_protocol_every_endpoint;
    plugin::mounts_survive_a_restart:
        plugin_mounts_survive_a_restart, loopdev_plugin_mounts_survive_a_restart;
    plugin::reads_bodies_written_apart:
        plugin_reads_bodies_written_apart, loopdev_plugin_reads_bodies_written_apart;
    plugin::never_fails_on_garbage:
        plugin_never_fails_on_garbage, loopdev_plugin_never_fails_on_garbage;
    usage::inspect_answers_from_the_cache:
        usage_inspect_answers_from_the_cache, loopdev_usage_inspect_answers_from_the_cache;
    usage::refresh_and_removal: usage_refresh_and_removal, loopdev_usage_refresh_and_removal;
    webhooks::plugin_requests_are_events:
        webhooks_plugin_requests_are_events, loopdev_webhooks_plugin_requests_are_events;
}

/// Figures for docs and reviews, not a check: `cargo test -p populous-daemon --release -- --ignored --nocapture bench_`.
#[test]
#[ignore]
fn bench_no_tenant_starves_another() {
    bench::no_tenant_starves_another(common::Pool::Copy);
}
