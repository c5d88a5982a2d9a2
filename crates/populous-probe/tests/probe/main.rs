//! Integration tests for populous-probe: a fake `/_ping` app on 127.0.0.1
//! is the probe's input; the probe, its files, reports, charts and the
//! InfluxDB output (against a real influxd) are under test.

mod common;
mod files;
mod influx;
mod phases;
mod sampling;
mod stats;
