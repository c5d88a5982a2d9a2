//! `populous source …`: thin wrappers over `populous_ops::source`.

use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};
use populous_engine::{Engine, Name, SourceMode, VolRef};
use populous_ops::source::{self as ops, AddSource, SeedProgress};

use crate::cli::{SourceAdd, SourceCmd};
use crate::output::{self, table};

/// `populous source …`.
pub fn source(engine: &mut Engine, c: SourceCmd, json: bool) -> Result<()> {
    match c {
        SourceCmd::Add(a) => add(engine, a, json),
        SourceCmd::Ls => {
            let list = engine.source_list()?;
            if json {
                return output::json(&list);
            }
            let rows = list
                .iter()
                .map(|s| {
                    vec![
                        s.name.to_string(),
                        s.url.clone(),
                        s.volume.to_string(),
                        s.mode.as_str().to_owned(),
                        s.schedule.clone().unwrap_or_else(|| "-".into()),
                        s.keep.to_string(),
                        s.snapshots
                            .last()
                            .map_or_else(|| "-".into(), |x| format!("{} ({})", x.snapshot, x.gtid)),
                    ]
                })
                .collect::<Vec<_>>();
            table(
                &[
                    "SOURCE",
                    "FROM",
                    "VOLUME",
                    "MODE",
                    "SCHEDULE",
                    "KEEP",
                    "NEWEST SNAPSHOT (GTID)",
                ],
                &rows,
            );
            Ok(())
        }
        SourceCmd::Status { name } => {
            let st = ops::status(engine, &Name::new("source", &name)?)?;
            if json {
                return output::json(&st);
            }
            let s = &st.source;
            println!(
                "source:      {} from {} ({})",
                s.name,
                s.url,
                s.mode.as_str()
            );
            println!(
                "replica:     {} ({})",
                s.volume,
                if st.running {
                    "running"
                } else {
                    "stopped: `populous db start` it"
                }
            );
            if let Some(r) = &st.replica {
                println!(
                    "threads:     receiving {:?}, applying {:?}",
                    r.io_thread, r.sql_thread
                );
                println!(
                    "lag:         {} s, {} transactions (source at {}, replica at {})",
                    r.lag_seconds.map_or("?".into(), |l| l.to_string()),
                    st.gtid_distance.map_or("?".into(), |d| d.to_string()),
                    st.source_gtid.as_deref().unwrap_or("?"),
                    r.gtid_slave_pos
                );
                if let Some(e) = &r.last_error {
                    println!("last error:  {e}");
                }
            }
            if let Some(e) = &st.source_error {
                println!("source:      not reachable: {e}");
            }
            println!(
                "schedule:    {} (keep {})",
                s.schedule.as_deref().unwrap_or("none"),
                s.keep
            );
            for x in &s.snapshots {
                println!(
                    "snapshot:    {} at GTID {} -> clean base {}",
                    x.snapshot,
                    x.gtid,
                    x.base.as_deref().unwrap_or("-")
                );
            }
            Ok(())
        }
        SourceCmd::Snapshot { name, snapshot } => {
            let snap = snapshot.map(|s| Name::new("snapshot", &s)).transpose()?;
            let s = ops::snapshot(engine, &Name::new("source", &name)?, snap)?;
            if json {
                return output::json(&s);
            }
            println!(
                "snapshot {} holds GTID {}; clones come from {}@clean",
                s.snapshot,
                s.gtid,
                s.base.as_deref().unwrap_or("-")
            );
            Ok(())
        }
        SourceCmd::Clone {
            name,
            target,
            snapshot,
        } => {
            let dst: VolRef = target.parse()?;
            let snap = snapshot.map(|s| Name::new("snapshot", &s)).transpose()?;
            let v = ops::clone(engine, &Name::new("source", &name)?, snap.as_ref(), &dst)?;
            if json {
                return output::json(&v);
            }
            println!(
                "cloned {} to {dst}; start it with `populous db start {dst}`",
                v.origin.as_deref().unwrap_or("-")
            );
            Ok(())
        }
        SourceCmd::Schedule {
            name,
            schedule,
            keep,
        } => {
            let schedule = Some(schedule).filter(|s| !s.is_empty());
            if let Some(s) = &schedule {
                ops::check_schedule(s)?;
            }
            let s = engine.source_set_schedule(
                &Name::new("source", &name)?,
                schedule.as_deref(),
                keep,
            )?;
            if json {
                return output::json(&s);
            }
            println!(
                "source {}: schedule {}, keep {}",
                s.name,
                s.schedule.as_deref().unwrap_or("none"),
                s.keep
            );
            Ok(())
        }
        SourceCmd::Prune { name } => {
            let p = ops::prune(engine, &Name::new("source", &name)?)?;
            if json {
                return output::json(&p);
            }
            println!(
                "removed {} snapshot(s){}; kept {} that clones use",
                p.removed.len(),
                if p.removed.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", p.removed.join(", "))
                },
                p.kept_for_clones.len()
            );
            Ok(())
        }
        SourceCmd::Resync { name } => {
            let n = Name::new("source", &name)?;
            let pb = seed_bar(json, &format!("re-seeding source {n} beside its replica"));
            let done = ops::resync(engine, &n, &mut seed_progress(&pb))?;
            pb.finish_and_clear();
            if json {
                return output::json(&done);
            }
            println!(
                "source {n} resynced: {} seeded {} in {:.1} s, caught up and swapped in; first snapshot {} at GTID {}",
                done.source.volume,
                populous_engine::size::format_size(done.seed.bytes),
                done.seed.seconds,
                done.snapshot.snapshot,
                done.snapshot.gtid
            );
            Ok(())
        }
        SourceCmd::Rm { name } => {
            let n = Name::new("source", &name)?;
            ops::remove(engine, &n)?;
            if json {
                return output::json(&serde_json::json!({"removed": n}));
            }
            println!("source {n} removed; its volume and snapshots stay");
            Ok(())
        }
    }
}

fn add(engine: &mut Engine, a: SourceAdd, json: bool) -> Result<()> {
    let req = AddSource {
        name: Name::new("source", &a.name)?,
        url: a.from.parse()?,
        password_file: a.password_file,
        volume: a.volume.parse()?,
        mode: a
            .mode
            .as_deref()
            .map(str::parse::<SourceMode>)
            .transpose()?,
        datadir: a.datadir,
        server_id: a.server_id,
        schedule: a.schedule.filter(|s| !s.is_empty()),
        keep: a.keep,
    };
    let pb = seed_bar(json, &format!("seeding {} from {}", req.volume, req.url));
    let added = ops::add(engine, &req, &mut seed_progress(&pb))?;
    pb.finish_and_clear();
    if json {
        return output::json(&added);
    }
    println!(
        "source {} ({}, {}): {} seeded {} in {:.1} s ({:.0} MB/s) at GTID {}; replicating",
        added.source.name,
        added.source.url,
        added.source_version,
        added.source.volume,
        populous_engine::size::format_size(added.seed.bytes),
        added.seed.seconds,
        added.seed.mb_per_s(),
        if added.seed.gtid.is_empty() {
            "(none yet)"
        } else {
            &added.seed.gtid
        }
    );
    Ok(())
}

/// The seed's progress bar (hidden with --json): bytes, of the source's size, and MB/s.
fn seed_bar(json: bool, msg: &str) -> ProgressBar {
    let pb = if json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(0)
    };
    pb.set_style(
        ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} {elapsed}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    pb.set_message(msg.to_owned());
    pb
}

fn seed_progress(pb: &ProgressBar) -> impl FnMut(SeedProgress) + '_ {
    move |p| match p {
        SeedProgress::Copying { done, total } => {
            pb.set_length(total.max(done));
            pb.set_position(done);
        }
        SeedProgress::Finishing => pb.set_message("preparing and starting the replica"),
    }
}
